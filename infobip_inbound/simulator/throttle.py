"""Infobip's per-key request limit on the /push/1 endpoints (10 per second), as a sliding one-second window."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class Throttle:
    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._recent: defaultdict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        recent = self._recent[key]
        while recent and now - recent[0] >= 1.0:
            recent.popleft()
        if self.per_second > 0 and len(recent) >= self.per_second:
            return False
        recent.append(now)
        return True
