"""Writes that count as stored only once replicas hold them (INBOUND_REDIS_ACK_REPLICAS).

Redis replicates asynchronously: a write's reply means "in the primary's memory", and a failover to a replica
that had not received it loses it. Where a write must outlive the primary (a forward answered 200, a pulled
batch kept), WAIT follows it on the same connection, pipelined with it (no extra round trip): WAIT answers how
many replicas have processed every write this connection made up to it. The replication stream is ordered, so
that also covers an earlier write of the same data by another connection (the first attempt of a retried
request, answered 503) — provided this call writes something itself. The enqueue script always does (it counts
every call in the ingest stats, duplicates included), so a retry whose messages are all "seen" already still
waits for the first attempt's write to reach the replicas.

With no acknowledgement asked for (0, the default), `run` is the plain call: no WAIT, no pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store.scripts import Call

T = TypeVar("T")


class NotAcknowledged(redis.RedisError):
    """Fewer replicas than asked for acknowledged a write in time. The write may be on the primary alone:
    callers treat it as a failed write (503, spill, retry), which it is for a failover."""

    def __init__(self, wanted: int, acknowledged: int) -> None:
        super().__init__(f"{acknowledged} of {wanted} replica(s) acknowledged the write in time")
        self.wanted = wanted
        self.acknowledged = acknowledged


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """How many replicas must hold a write, and how long to wait for them (ms)."""

    replicas: int
    timeout_ms: int

    @classmethod
    def of(cls, settings: Settings) -> Acknowledgement | None:
        """The settings' acknowledgement; None when none is asked for (writes count once the primary has them)."""
        if not settings.redis_ack_replicas:
            return None
        return cls(settings.redis_ack_replicas, settings.redis_ack_timeout_ms)

    def check(self, acknowledged: Any) -> None:
        if int(acknowledged) < self.replicas:
            raise NotAcknowledged(self.replicas, int(acknowledged))


def _result(replies: list[Any]) -> Any:
    """The write's reply, or its error raised."""
    if isinstance(replies[0], Exception):
        raise replies[0]
    return replies[0]


def _queue_call(pipe: Any, call: Call[Any], sha: str, ack: Acknowledgement) -> None:
    pipe.evalsha(sha, len(call.keys), *call.keys, *call.args)
    pipe.wait(ack.replicas, ack.timeout_ms)


def run(call: Call[T], client: redis.Redis, ack: Acknowledgement | None) -> T:
    """Run a script call; with `ack`, count it done only once `ack.replicas` replicas hold it (else raise
    NotAcknowledged)."""
    if ack is None:
        return call.run(client)
    sha = call.sha(client)
    for attempt in range(2):
        pipe = client.pipeline(transaction=False)
        _queue_call(pipe, call, sha, ack)
        replies = pipe.execute(raise_on_error=False)
        if isinstance(replies[0], NoScriptError) and not attempt:
            client.script_load(call.source)  # a new primary after a failover: its script cache starts empty
            continue
        reply = _result(replies)
        ack.check(replies[1])
        return call.reply(reply)
    raise AssertionError("unreachable")


async def run_async(call: Call[T], client: aioredis.Redis, ack: Acknowledgement | None) -> T:
    """`run` for the asyncio client."""
    if ack is None:
        return await call.run_async(client)
    sha = call.sha(client)
    for attempt in range(2):
        async with client.pipeline(transaction=False) as pipe:
            _queue_call(pipe, call, sha, ack)
            replies = await pipe.execute(raise_on_error=False)
        if isinstance(replies[0], NoScriptError) and not attempt:
            await client.script_load(call.source)
            continue
        reply = _result(replies)
        ack.check(replies[1])
        return call.reply(reply)
    raise AssertionError("unreachable")


def write(client: redis.Redis, ack: Acknowledgement | None, commands: Callable[[Any], None]) -> list[Any]:
    """Run the commands `commands` queues on a pipeline (in order, not as a transaction); with `ack`, only once
    `ack.replicas` replicas hold them (else raise NotAcknowledged). Raises the first command's error."""
    pipe = client.pipeline(transaction=False)
    commands(pipe)
    if ack is not None:
        pipe.wait(ack.replicas, ack.timeout_ms)
    replies = pipe.execute(raise_on_error=True)
    if ack is not None:
        ack.check(replies.pop())
    return list(replies)
