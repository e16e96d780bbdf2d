"""Replay marks: each (message, handler) pair a replay queued, so it queues each pair once.

A replay marks the pairs it queues in the same transaction as the batches that run them, watching the marks it
read: an identical replay running meanwhile cannot queue a pair twice, and one run again queues nothing. Each
pair queued has its handled mark cleared (handled.forget), so its handler runs again.
"""

from __future__ import annotations

from collections.abc import Callable

import redis
from redis.client import Pipeline

from infobip_inbound.contract.store import handled, keys


def queue_once(
    connection: redis.Redis,
    replay_id: str,
    pairs: list[str],
    ttl: int,
    write: Callable[[Pipeline, list[int]], None],
    *,
    dry_run: bool = False,
    leave: Callable[[int], bool] | None = None,
) -> tuple[int, int]:
    """Of `pairs`, those this replay has not queued yet: `write(pipe, their indexes)` queues them in one
    transaction with their replay marks (kept `ttl` seconds) and with their handled marks cleared. Those for
    whose index `leave` is true are left unmarked (still in flight: a later run queues them). With `dry_run`,
    nothing is written. Returns how many were (or would be) queued, and how many were left."""
    marks = [keys.replay_key(replay_id, pair) for pair in pairs]
    with connection.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(*marks)  # type: ignore[no-untyped-call]
                found = pipe.mget(marks)
                todo = [index for index, value in enumerate(found) if value is None]
                new = [index for index in todo if leave is None or not leave(index)]
                left = len(todo) - len(new)
                if dry_run or not new:
                    pipe.reset()
                    return len(new), left
                pipe.multi()
                for index in new:
                    pipe.set(marks[index], b"1", ex=ttl)
                    handled.forget(pipe, pairs[index])
                write(pipe, new)
                pipe.execute()
                return len(new), left
            except redis.WatchError:
                continue
