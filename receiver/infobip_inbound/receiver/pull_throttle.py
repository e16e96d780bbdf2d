"""Pacing of pulls per API key, shared through Redis by every process that pulls with that key.

A GCRA with no burst: requests are spaced 1/rate apart by Redis' clock, so no one-second window
(Infobip's limit is 10 requests per second per key) ever holds more than `rate` of them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import redis

_GCRA_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat > now then
  return tat - now
end
redis.call('SET', KEYS[1], now + interval, 'PX', math.ceil(interval / 1000) + 1000)
return 0
"""


class PullThrottle:
    def __init__(self, connection: redis.Redis, api_key: str, per_second: float) -> None:
        digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]  # the key itself never goes to Redis
        self._key = f"inbound:throttle:{digest}"
        self._interval_us = int(1_000_000 / per_second)
        self._script = connection.register_script(_GCRA_LUA)

    def wait(self, sleep: Callable[[float], object] = time.sleep, deadline: float | None = None) -> bool:
        """Block until this process may send the next request. False if `deadline` (monotonic) comes first."""
        while True:
            wait_us = int(self._script(keys=[self._key], args=[self._interval_us]))
            if wait_us == 0:
                return True
            if deadline is not None and time.monotonic() + wait_us / 1e6 > deadline:
                return False
            sleep(wait_us / 1e6)
