"""The one backoff formula behind every retry (Infobip calls, the poller, handler retries, Redis writes):
exponential from `base`, capped, with a share of it drawn at random so that clients failing together spread out."""

from __future__ import annotations

import random

_rng = random.SystemRandom()
_MAX_DOUBLINGS = 60  # beyond any cap in use; keeps 2**n a float of sane size


def exponential(attempt: int, base: float, cap: float, jitter: float = 1.0, rng: random.Random = _rng) -> float:
    """Seconds to wait before retry `attempt` (1 for the first): `base * 2**(attempt - 1)`, at most `cap`.

    `jitter` is the share of that ceiling drawn at random: 1 is full jitter (uniform in [0, ceiling]), 0.5 gives
    [ceiling / 2, ceiling], 0 the ceiling itself.
    """
    ceiling = min(cap, base * 2.0 ** min(max(attempt - 1, 0), _MAX_DOUBLINGS))
    return float(ceiling * (1 - jitter) + rng.uniform(0, ceiling * jitter))
