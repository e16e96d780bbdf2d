"""Pacing of pulls per API key, shared through Redis by every process that pulls with that key.

A GCRA with no burst: requests are spaced 1/rate apart by Redis' clock, so no one-second window
(Infobip's limit is 10 requests per second per key) ever holds more than `rate` of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from infobip_inbound.contract.store import scripts


class PullThrottle:
    def __init__(self, connection: redis.Redis, api_key: str, per_second: float) -> None:
        self._connection = connection
        self._pace = scripts.pace_pull(api_key=api_key, interval_us=int(1_000_000 / per_second))

    def wait(self, sleep: Callable[[float], object] = time.sleep, deadline: float | None = None) -> bool:
        """Block until this process may send the next request. False if `deadline` (monotonic) comes first."""
        while True:
            wait_us = self._pace.run(self._connection)
            if wait_us == 0:
                return True
            if deadline is not None and time.monotonic() + wait_us / 1e6 > deadline:
                return False
            sleep(wait_us / 1e6)
