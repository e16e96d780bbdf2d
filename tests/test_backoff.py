"""The one backoff formula, and that each retry uses it with its own parameters."""

from __future__ import annotations

import random

from infobip_inbound.contract.backoff import exponential
from infobip_inbound.infobip.retry import RetryPolicy


def test_doubles_from_base_up_to_the_cap() -> None:
    assert [exponential(n, 0.05, 1.0, jitter=0) for n in range(1, 7)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0]
    assert exponential(10_000, 1, 30, jitter=0) == 30  # no overflow for a very late try


def test_jitter_is_the_random_share_of_the_ceiling() -> None:
    full = {exponential(4, 1, 100, jitter=1.0) for _ in range(200)}
    half = {exponential(4, 1, 100, jitter=0.5) for _ in range(200)}
    assert all(0 <= d <= 8 for d in full) and len(full) > 1
    assert all(4 <= d <= 8 for d in half) and len(half) > 1


def test_same_seed_same_delays_as_the_infobip_client_draws_them() -> None:
    policy = RetryPolicy(base_seconds=0.5, max_seconds=15)
    drawn = [policy.backoff(n, random.Random(7)) for n in range(1, 8)]
    assert drawn == [exponential(n, 0.5, 15, 1.0, random.Random(7)) for n in range(1, 8)]
    assert all(d <= min(15, 0.5 * 2 ** (n - 1)) for n, d in enumerate(drawn, start=1))
