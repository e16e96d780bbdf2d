"""A Redis lease that makes one poller the leader across replicas and restarts.

The holder renews it before every pull; it expires by itself when the holder dies. Each acquisition
takes a fencing token from a counter that only grows, so whatever a leader writes can say which
tenure wrote it. Renewal succeeds only for the current holder (compare-and-expire in one script).
"""

from __future__ import annotations

import time
import uuid

import redis

from infobip_inbound.contract.store import scripts


class Lease:
    def __init__(self, connection: redis.Redis, ttl_seconds: float, owner: str | None = None) -> None:
        self.owner = owner or f"poller-{uuid.uuid4().hex[:12]}"
        self._ttl_ms = int(ttl_seconds * 1000)
        self._connection = connection
        self.token = 0
        self._valid_until = 0.0

    def renew(self) -> bool:
        """Take or extend the lease. True while this poller is the leader."""
        started = time.monotonic()
        token = scripts.acquire_lease(owner=self.owner, ttl_ms=self._ttl_ms).run(self._connection)
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
            scripts.release_lease(owner=self.owner).run(self._connection)
        self.token = 0
        self._valid_until = 0.0
