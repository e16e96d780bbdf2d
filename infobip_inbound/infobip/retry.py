"""When to try an Infobip call again: exponential backoff with full jitter, or the server's Retry-After,
bounded both in tries and in total waiting time."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from infobip_inbound.contract.backoff import exponential


@dataclass(frozen=True)
class RetryPolicy:
    max_tries: int = 5
    budget_seconds: float = 60.0
    base_seconds: float = 0.5
    max_seconds: float = 15.0

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Delay before retry number `retry_number` (1 = the first retry), without a Retry-After.

        Full jitter spreads clients that failed together, so they do not hit the 10 req/s limit together again.
        """
        return exponential(retry_number, self.base_seconds, self.max_seconds, jitter=1.0, rng=rng)

    def next_delay(self, tries_done: int, waited: float, retry_after: float | None, rng: random.Random) -> float | None:
        """Seconds to wait before the next try, or None when the call must give up now."""
        if tries_done >= self.max_tries:
            return None
        delay = retry_after if retry_after is not None else self.backoff(tries_done, rng)
        if waited + delay > self.budget_seconds:
            return None
        return delay


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as delay-seconds or an HTTP date; None when absent or unreadable. The one reader of the
    header: Infobip's answers here, and the `http_relay` output's receivers."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
