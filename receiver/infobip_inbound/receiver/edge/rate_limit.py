"""Rate limit of the forward endpoint per client address, in each receiver process (INBOUND_RATE_LIMIT_*):
over it, 429 with Retry-After. Processes and replicas do not share their buckets."""

from __future__ import annotations

import time
from collections import OrderedDict

from infobip_inbound.receiver.edge.errors import Answer, refusal


class RateLimiter:
    """Token bucket per client address, in this process. The table of buckets is bounded: the least
    recently seen clients are forgotten first (a forgotten client starts with a full bucket)."""

    def __init__(self, per_second: float, burst: int, max_clients: int = 65_536) -> None:
        self._rate = per_second
        self._burst = float(burst)
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()
        retry_after = str(max(1, int(1 / per_second + 0.999)))  # when the next token is in
        self._limited = refusal("too_many_requests", "rate limit exceeded; retry later", {"retry-after": retry_after})

    def check(self, client: str) -> Answer | None:
        return None if self.allow(client) else self._limited

    def allow(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self._max_clients:
                self._buckets.popitem(last=False)
            bucket = self._buckets[client] = [self._burst, now]
        else:
            self._buckets.move_to_end(client)
            bucket[0] = min(self._burst, bucket[0] + (now - bucket[1]) * self._rate)
            bucket[1] = now
        if bucket[0] < 1:
            return False
        bucket[0] -= 1
        return True
