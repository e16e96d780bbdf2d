"""Handled marks: a (message, handler) pair that succeeded never runs again.

Each pair that succeeded is marked under its own key with the dedup window as TTL, so the mark holds across
batches, retries, re-deliveries of a job after a worker crash and redrives from the dead-letter store; a replay
clears it so the handler runs again. The pair id is the one name of a (message, handler) pair: the dead-letter
entry id, the reply record and the replay marks are all derived from it.
"""

from __future__ import annotations

import redis
from redis.client import Pipeline

from infobip_inbound.contract.store import keys


def pair_id(message_id: str, handler: str) -> str:
    return f"{handler}\x1f{message_id}"


def already_handled(connection: redis.Redis, pairs: list[str]) -> set[str]:
    """The pairs among `pairs` marked as succeeded (by any batch)."""
    if not pairs:
        return set()
    found = connection.mget([keys.handled_key(pair) for pair in pairs])
    return {pair for pair, value in zip(pairs, found, strict=True) if value is not None}


def mark(pipe: Pipeline, pairs: list[str], ttl: int) -> None:
    """Mark `pairs` as succeeded for `ttl` seconds, in the caller's transaction."""
    for pair in pairs:
        pipe.set(keys.handled_key(pair), b"1", ex=ttl)


def forget(pipe: Pipeline, pair: str) -> None:
    """Clear a pair's mark (a replay runs it again), in the caller's transaction."""
    pipe.delete(keys.handled_key(pair))
