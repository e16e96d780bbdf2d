"""The dead-letter store: (message, handler) pairs that failed their last try, with the error and traceback.

One entry per pair (its id is a short hash of the pair), in a hash of JSON documents, indexed by time
of failure in a sorted set so listing by age needs no scan of the documents' contents.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

import orjson
import redis
from redis.client import Pipeline

from infobip_inbound.contract.store.handled import pair_id
from infobip_inbound.contract.store.keys import DLQ_INDEX, DLQ_KEY

MAX_TRACEBACK_CHARS = 16_000

# The handler name of an entry no one handler owns (a response no release could read, a batch swept too
# often): `dlq retry` queues it for the routed handlers.
ROUTED = ""


@dataclass(frozen=True, slots=True)
class DeadPair:
    id: str
    message_id: str
    handler: str
    application_code: str
    queue: str
    tries: int
    error: str
    traceback: str
    failed_at: float
    response: str  # the UserResponse JSON the handler was given

    @classmethod
    def build(
        cls,
        *,
        message_id: str,
        handler: str,
        application_code: str,
        queue: str,
        tries: int,
        error: str,
        traceback: str,
        response: bytes,
    ) -> DeadPair:
        return cls(
            id=entry_id(message_id, handler),
            message_id=message_id,
            handler=handler,
            application_code=application_code,
            queue=queue,
            tries=tries,
            error=error,
            traceback=traceback[-MAX_TRACEBACK_CHARS:],
            failed_at=time.time(),
            response=response.decode(),
        )

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))


def entry_id(message_id: str, handler: str) -> str:
    return hashlib.blake2b(pair_id(message_id, handler).encode(), digest_size=8).hexdigest()


def add(pipe: Pipeline, entry: DeadPair) -> None:
    pipe.hset(DLQ_KEY, entry.id, entry.to_json())
    pipe.zadd(DLQ_INDEX, {entry.id: entry.failed_at})


def remove(pipe: Pipeline, entry_ids: Iterable[str]) -> None:
    ids = list(entry_ids)
    if ids:
        pipe.hdel(DLQ_KEY, *ids)
        pipe.zrem(DLQ_INDEX, *ids)


def take(connection: redis.Redis, entries: list[DeadPair], writes: Callable[[Pipeline, list[DeadPair]], None]) -> int:
    """Remove those of `entries` still in the store together with `writes(pipe, them)` (which queues them
    again), in one transaction watching the store: a retry after a lost answer (redis-py's own, on a socket
    timeout right after EXEC) finds them gone and queues nothing twice; neither does a concurrent `dlq retry`.
    Returns how many it took."""
    ids = [entry.id for entry in entries]
    if not ids:
        return 0
    with connection.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(DLQ_KEY)  # type: ignore[no-untyped-call]
                found = pipe.hmget(DLQ_KEY, ids)
                still = [entry for entry, raw in zip(entries, found, strict=True) if raw is not None]
                if not still:
                    pipe.reset()
                    return 0
                pipe.multi()
                writes(pipe, still)
                remove(pipe, (entry.id for entry in still))
                pipe.execute()
                return len(still)
            except redis.WatchError:
                continue  # the store changed (a pair dead-lettered meanwhile, or the connection broke): look again


def get(connection: redis.Redis, entry_id_: str) -> DeadPair | None:
    raw = connection.hget(DLQ_KEY, entry_id_)
    return DeadPair(**orjson.loads(raw)) if raw else None


def count(connection: redis.Redis) -> int:
    return int(connection.zcard(DLQ_INDEX))


def select(
    connection: redis.Redis,
    *,
    handler: str | None = None,
    application: str | None = None,
    older_than: float | None = None,
    newer_than: float | None = None,
    limit: int | None = None,
    before: float | None = None,
    chunk: int = 500,
) -> Iterator[DeadPair]:
    """Entries oldest first, filtered; ages in seconds; `before`: only entries that failed no later than
    that time (a bulk action passes its start, so a pair that fails again while it runs is not taken twice).

    Reads the index in chunks by time, each after the last one read, so entries removed while iterating
    (by a bulk retry or purge, chunk by chunk) shift nothing and memory stays bounded."""
    now = time.time()
    low: float | str = now - newer_than if newer_than is not None else "-inf"
    high: float | str = now - older_than if older_than is not None else "+inf"
    if before is not None:
        high = before if high == "+inf" else min(float(high), before)
    read_at_low: set[bytes] = set()  # ids already read whose score is `low` (ties)
    yielded = 0
    while True:
        page: list[tuple[bytes, float]] = connection.zrangebyscore(  # type: ignore[assignment]
            DLQ_INDEX, low, high, start=0, num=chunk + len(read_at_low), withscores=True
        )
        page = [(id_, score) for id_, score in page if not (score == low and id_ in read_at_low)]
        if not page:
            return
        last = page[-1][1]
        read_at_low = {id_ for id_, score in page if score == last} | (read_at_low if last == low else set())
        low = last
        for raw in connection.hmget(DLQ_KEY, [id_ for id_, _ in page]):
            if raw is None:
                continue
            entry = DeadPair(**orjson.loads(raw))
            if handler is not None and entry.handler != handler:
                continue
            if application is not None and entry.application_code != application:
                continue
            yield entry
            yielded += 1
            if limit is not None and yielded >= limit:
                return
