"""The quarantine: what Infobip sent that could not be made into a UserResponse, kept as sent with why.

One entry per result (or, for a PULL answer that is not an envelope at all, per body), written by the enqueue
script in the same atomic write as the good results beside it (infobip_inbound.contract.store.scripts). Its
id is a hash of what was sent, so the same result sent again (Infobip's retry of a forward) replaces its
entry instead of adding one. Indexed by time so listing needs no scan; bounded by
INBOUND_QUARANTINE_MAX_ENTRIES, beyond which the oldest entries are evicted and counted
(`quarantine_evicted` in the ingest stats, and the metric of the same name).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Literal

import orjson
import redis
from redis.client import Pipeline

from infobip_inbound.contract.model import Source
from infobip_inbound.contract.store.keys import QUARANTINE_INDEX, QUARANTINE_KEY, STATS_KEY
from infobip_inbound.contract.store.scripts import QuarantineWrite

Kind = Literal["result", "body"]


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    id: str
    kind: Kind  # one result of an envelope, or a whole body that is not an envelope (PULL only)
    source: Source
    reason: str
    raw: str  # what Infobip sent: the result's JSON, or the whole body
    at: float  # when it was set aside (Unix time)
    message_id: str | None = None
    request_id: str | None = None  # forward: the request that brought it
    account: str | None = None  # pull: the poll account it was pulled for
    batch_id: str | None = None  # pull: the pulled batch it came in

    @classmethod
    def build(
        cls,
        *,
        kind: Kind,
        source: Source,
        reason: str,
        raw: bytes,
        message_id: str | None = None,
        request_id: str | None = None,
        account: str | None = None,
        batch_id: str | None = None,
        at: float | None = None,
    ) -> QuarantineEntry:
        return cls(
            id=entry_id(source, raw),
            kind=kind,
            source=source,
            reason=reason[:2000],
            raw=raw.decode("utf-8", errors="replace"),
            at=time.time() if at is None else at,
            message_id=message_id,
            request_id=request_id,
            account=account,
            batch_id=batch_id,
        )

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    def write(self) -> QuarantineWrite:
        """What the enqueue script writes for this entry."""
        return QuarantineWrite(self.id, self.to_json(), self.at)


def entry_id(source: str, raw: bytes) -> str:
    return hashlib.blake2b(source.encode() + b"\x1f" + raw, digest_size=10).hexdigest()


def get(connection: redis.Redis, entry_id_: str) -> QuarantineEntry | None:
    raw = connection.hget(QUARANTINE_KEY, entry_id_)
    return QuarantineEntry(**orjson.loads(raw)) if raw else None


def count(connection: redis.Redis) -> int:
    return int(connection.zcard(QUARANTINE_INDEX))


def figures(connection: redis.Redis) -> dict[str, float | int | None]:
    """Size, when the oldest entry was set aside, and how many were ever set aside or evicted."""
    pipe = connection.pipeline(transaction=False)
    pipe.zcard(QUARANTINE_INDEX)
    pipe.zrange(QUARANTINE_INDEX, 0, 0, withscores=True)
    pipe.hmget(STATS_KEY, "quarantined", "quarantine_evicted")
    size, oldest, (total, evicted) = pipe.execute()
    return {
        "size": int(size),
        "oldest_at": float(oldest[0][1]) if oldest else None,
        "quarantined_total": int(total or 0),
        "evicted_total": int(evicted or 0),
    }


def remove(pipe: Pipeline, entry_ids: Iterable[str]) -> None:
    ids = list(entry_ids)
    if ids:
        pipe.hdel(QUARANTINE_KEY, *ids)
        pipe.zrem(QUARANTINE_INDEX, *ids)


def select(
    connection: redis.Redis,
    *,
    source: Source | None = None,
    reason: str | None = None,
    older_than: float | None = None,
    newer_than: float | None = None,
    limit: int | None = None,
    chunk: int = 500,
) -> Iterator[QuarantineEntry]:
    """Entries oldest first, filtered (`reason`: a substring of it; ages in seconds). The ids are read
    once (the store is bounded), the entries in chunks: entries removed while listing shift nothing."""
    now = time.time()
    low = now - newer_than if newer_than is not None else "-inf"
    high = now - older_than if older_than is not None else "+inf"
    ids: list[bytes] = connection.zrangebyscore(QUARANTINE_INDEX, low, high)  # type: ignore[assignment]
    yielded = 0
    for start in range(0, len(ids), chunk):
        for raw in connection.hmget(QUARANTINE_KEY, ids[start : start + chunk]):
            if raw is None:
                continue
            entry = QuarantineEntry(**orjson.loads(raw))
            if source is not None and entry.source != source:
                continue
            if reason is not None and reason.casefold() not in entry.reason.casefold():
                continue
            yield entry
            yielded += 1
            if limit is not None and yielded >= limit:
                return
