"""A Redis lease that makes one poller the leader across replicas and restarts.

The holder renews it before every pull; it expires by itself when the holder dies. Each acquisition
takes a fencing token from a counter that only grows, so whatever a leader writes can say which
tenure wrote it. Renewal succeeds only for the current holder (compare-and-expire in one script).
"""

from __future__ import annotations

import time
import uuid

import redis

LEASE_KEY = "inbound:poller:lease"
FENCE_KEY = "inbound:poller:fence"

_ACQUIRE_LUA = """
local current = redis.call('GET', KEYS[1])
if current then
  local owner, token = string.match(current, '^(.*)|(%d+)$')
  if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(token)
  end
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
"""

_RELEASE_LUA = """
local current = redis.call('GET', KEYS[1])
if current and string.match(current, '^(.*)|%d+$') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    def __init__(self, connection: redis.Redis, ttl_seconds: float, owner: str | None = None) -> None:
        self.owner = owner or f"poller-{uuid.uuid4().hex[:12]}"
        self._ttl_ms = int(ttl_seconds * 1000)
        self._acquire = connection.register_script(_ACQUIRE_LUA)
        self._release = connection.register_script(_RELEASE_LUA)
        self.token = 0
        self._valid_until = 0.0

    def renew(self) -> bool:
        """Take or extend the lease. True while this poller is the leader."""
        started = time.monotonic()
        token = int(self._acquire(keys=[LEASE_KEY, FENCE_KEY], args=[self.owner, self._ttl_ms]))
        if token:
            self.token = token
            # Counted from before the call: the server's expiry is never later than this.
            self._valid_until = started + self._ttl_ms / 1000
        else:
            self.token = 0
            self._valid_until = 0.0
        return bool(token)

    def remaining(self) -> float:
        """Seconds this poller can still be sure it leads."""
        return max(0.0, self._valid_until - time.monotonic())

    def release(self) -> None:
        if self.token:
            self._release(keys=[LEASE_KEY], args=[self.owner])
        self.token = 0
        self._valid_until = 0.0
