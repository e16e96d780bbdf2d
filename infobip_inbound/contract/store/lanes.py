"""Handler lanes: per queue and handler, the responses whose pair for that handler waits apart from the queue's
batches (keys.lane_key).

A drain batch shared by several handlers sets aside the pairs of a handler that would hold the others back
(paused, or slower than the batch's other work by its recent calls): their entries go to that handler's lane
and the pairs are settled in the batch, in one transaction (`set_aside`). Drain jobs run a lane beside their
batches, claiming from it into a batch of their own (scripts.claim_lane; infobip_inbound.workers.lanes), so a
handler's backlog waits in its lane and nowhere else. A lane's length and the age of its oldest entry are the
handler's backlog (`figures`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson
import redis
from redis.client import Pipeline

from infobip_inbound.contract.store.entries import decode_entry
from infobip_inbound.contract.store.inbox import Batch
from infobip_inbound.contract.store.keys import lane_batch_key, lane_key


@dataclass(frozen=True, slots=True)
class LanePair:
    """A pair set aside: its id (its batch's done-set member), its handler and its inbox entry."""

    pair: str
    handler: str
    entry: bytes


def set_aside(
    connection: redis.Redis,
    queue: str,
    batch: Batch,
    pairs: Sequence[LanePair],
    ttl: int,
    also: Callable[[Pipeline], None] | None = None,
) -> None:
    """Append each pair's entry to its handler's lane and settle the pairs in their batch, together: a crash
    leaves every pair either pending in the batch or in its lane, never both or neither, and a retry after a
    lost answer appends nothing twice. `also` adds its writes to the same transaction (the archive's events)."""
    if not pairs:
        return
    by_handler: dict[str, list[bytes]] = defaultdict(list)
    for pair in pairs:
        by_handler[pair.handler].append(pair.entry)
    # The lane pushes are not idempotent: a retry of a transaction whose answer was lost would append every
    # entry again, and the lane would run them twice; settle_once writes nothing when the pairs are settled.

    def writes(pipe: Pipeline) -> None:
        for handler, entries in by_handler.items():
            pipe.rpush(lane_key(queue, handler), *entries)
        if also is not None:
            also(pipe)

    batch.settle_once(connection, [pair.pair for pair in pairs], ttl, writes)


def lane_batch(job_id: str, handler: str) -> Batch:
    """The batch job `job_id` claims from `handler`'s lane into (scripts.claim_lane)."""
    return Batch(lane_batch_key(job_id, handler))


def add_lengths(pipe: Pipeline, queue: str, handlers: Iterable[str]) -> None:
    """Ask, in `pipe`, how many entries wait in each handler's lane of `queue` (one reply each, in order)."""
    for handler in handlers:
        pipe.llen(lane_key(queue, handler))


def lengths(connection: redis.Redis, queue: str, handlers: Iterable[str]) -> dict[str, int]:
    """How many entries wait in each handler's lane of `queue`."""
    names = list(handlers)
    pipe = connection.pipeline(transaction=False)
    add_lengths(pipe, queue, names)
    return dict(zip(names, pipe.execute(), strict=True))


def held_by_job(
    connection: redis.Redis, queue: str, job_id: str, handlers: Sequence[str]
) -> dict[str, tuple[int, bool]]:
    """Per handler: entries waiting in its lane of `queue`, and whether job `job_id` holds a batch claimed from
    it (an earlier delivery of the job claimed it), in one round trip."""
    pipe = connection.pipeline(transaction=False)
    for handler in handlers:
        pipe.llen(lane_key(queue, handler))
        pipe.exists(lane_batch_key(job_id, handler))
    replies = pipe.execute()
    return {handler: (replies[2 * i], bool(replies[2 * i + 1])) for i, handler in enumerate(handlers)}


@dataclass(frozen=True, slots=True)
class LaneFigure:
    queue: str
    handler: str
    waiting: int  # pairs in the lane
    oldest_age_seconds: float  # since the oldest one's response was accepted; 0 when none waits

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def figures(connection: redis.Redis, lanes: Sequence[tuple[str, str]], at: float | None = None) -> list[LaneFigure]:
    """Each (queue, handler) lane's length and the age of its oldest entry, in one round trip."""
    at = time.time() if at is None else at
    pipe = connection.pipeline(transaction=False)
    for queue, handler in lanes:
        pipe.llen(lane_key(queue, handler))
        pipe.lindex(lane_key(queue, handler), 0)
    replies = pipe.execute()
    return [
        LaneFigure(queue, handler, replies[2 * i], entry_age(replies[2 * i + 1], at))
        for i, (queue, handler) in enumerate(lanes)
    ]


def entry_age(entry: bytes | None, at: float) -> float:
    """Seconds since the receiver (or poller) accepted the response of an inbox (or lane) entry; 0 for none."""
    if not entry:
        return 0.0
    try:
        ingested_at = datetime.fromisoformat(orjson.loads(decode_entry(entry)[1])["ingested_at"]).timestamp()
    except (ValueError, KeyError, TypeError):
        return 0.0
    return round(max(0.0, at - ingested_at), 3)
