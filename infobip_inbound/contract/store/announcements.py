"""What the running workers run: each worker (one `infobip-inbound worker` command, of one or more processes)
announces, with its heartbeat, the handlers it resolved
per queue, their flow settings and its release, so the commands and pages that judge handlers (`handlers list`,
`handlers pause`, `status`, the status page) judge from the workers' configuration, not from the shell's.

One hash field per worker, its JSON announcement (`at` included); an announcement older than LIVE_SECONDS is a
worker gone, and one older than KEEP_SECONDS is dropped by the next announcement.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import redis

from infobip_inbound.contract.store.keys import WORKERS_SEEN_KEY

LIVE_SECONDS = 60.0  # as the readers' announcements (store.readers): a worker announces every 10 s
KEEP_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Announcement:
    """One worker's configuration as it runs: what it resolved at its start."""

    worker: str
    release: str
    processes: int
    queues: list[str]
    handlers: dict[str, list[str]]  # per queue: the handlers its routes send there
    flow: dict[str, dict[str, Any]] = field(default_factory=dict)  # per handler: its flow settings, as set
    at: float = 0.0

    @property
    def handler_names(self) -> set[str]:
        return {name for names in self.handlers.values() for name in names}

    @property
    def group(self) -> tuple[str, ...]:
        """What workers of one deployment share: same release, queues, handlers and flow settings."""
        return (
            self.release,
            orjson.dumps([self.queues, self.handlers, self.flow], option=orjson.OPT_SORT_KEYS).decode(),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Announcements:
    """Owns WORKERS_SEEN_KEY."""

    def __init__(self, connection: redis.Redis) -> None:
        self._connection = connection

    def announce(self, announcement: Announcement) -> None:
        now = time.time()
        document = announcement.as_dict() | {"at": now}
        self._connection.hset(WORKERS_SEEN_KEY, announcement.worker, orjson.dumps(document))
        stale = [a.worker for a in self._all() if a.at < now - KEEP_SECONDS]
        if stale:
            self._connection.hdel(WORKERS_SEEN_KEY, *stale)

    def live(self, within: float = LIVE_SECONDS, at: float | None = None) -> list[Announcement]:
        """The announcements of the workers heard from within `within` seconds, by worker name."""
        since = (time.time() if at is None else at) - within
        return sorted((a for a in self._all() if a.at >= since), key=lambda a: a.worker)

    def _all(self) -> list[Announcement]:
        raw: Mapping[bytes, bytes] = self._connection.hgetall(WORKERS_SEEN_KEY)  # type: ignore[assignment]
        found = []
        for value in raw.values():
            try:
                document = orjson.loads(value)
                found.append(Announcement(**{k: document[k] for k in Announcement.__dataclass_fields__}))
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue  # written by another release in another shape: not ours to judge
        return found


def running(announcements: Sequence[Announcement]) -> dict[str, int]:
    """Per handler, how many worker processes of the announcing workers run it."""
    counts: dict[str, int] = {}
    for announcement in announcements:
        for name in announcement.handler_names:
            counts[name] = counts.get(name, 0) + announcement.processes
    return counts


def groups(announcements: Sequence[Announcement]) -> list[dict[str, Any]]:
    """The workers grouped by what they run (a deployment, a release of it): each group's release, queues,
    handlers per queue, flow settings and how many processes."""
    by_group: dict[tuple[str, ...], list[Announcement]] = {}
    for announcement in announcements:
        by_group.setdefault(announcement.group, []).append(announcement)
    return [
        {
            "release": members[0].release,
            "queues": members[0].queues,
            "handlers": members[0].handlers,
            "flow": members[0].flow,
            "processes": sum(m.processes for m in members),
            "workers": [m.worker for m in members],
        }
        for members in by_group.values()
    ]
