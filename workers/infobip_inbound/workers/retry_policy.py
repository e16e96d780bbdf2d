"""Backoff of handler retries: exponential, capped, with jitter so retries of many pairs spread out."""

from __future__ import annotations

import random

from infobip_inbound.contract.backoff import exponential
from infobip_inbound.contract.settings import HandlerRetry

_rng = random.SystemRandom()


def retry_delay(policy: HandlerRetry, failed_tries: int, rng: random.Random = _rng) -> float:
    """Seconds to wait after the `failed_tries`-th failed try (1 for the first)."""
    return exponential(failed_tries, policy.backoff_base_seconds, policy.backoff_max_seconds, policy.jitter, rng)


def exhausted(policy: HandlerRetry, tries: int) -> bool:
    return tries >= policy.max_tries
