"""Recent throughput kept in Redis: one small hash per 10-second bucket, kept a little over an hour.

The receiver's enqueue script adds `accepted`/`duplicates` to the current bucket in the same call that
queues the messages; workers add `handled`/`failed` (and `handled:<handler>`, `failed:<handler>`) once per
batch. `status` and the status page read the last minute and the last hour from them, whichever process
wrote them. Cost: one HINCRBY (+EXPIRE) per commit or batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import redis

from infobip_inbound.contract.store.keys import STATS_KEY, throughput_bucket, throughput_key
from infobip_inbound.contract.store.keys import THROUGHPUT_BUCKET_SECONDS as BUCKET_SECONDS
from infobip_inbound.contract.store.keys import THROUGHPUT_KEEP_SECONDS as KEEP_SECONDS


def bucket_key(at: float | None = None) -> str:
    return throughput_key(throughput_bucket(at))


def add(pipe: redis.client.Pipeline, counts: Mapping[str, int], at: float | None = None) -> None:
    """Queue the increments on a pipeline (the caller executes it)."""
    key = bucket_key(at)
    for name, value in counts.items():
        if value:
            pipe.hincrby(key, name, value)
    pipe.expire(key, KEEP_SECONDS)


def read(connection: redis.Redis, seconds: int, at: float | None = None) -> list[tuple[int, dict[str, int]]]:
    """(bucket start, counts) for the buckets covering the last `seconds`, oldest first (empty ones included)."""
    now = throughput_bucket(at)
    starts = list(range(now - seconds + BUCKET_SECONDS, now + 1, BUCKET_SECONDS))
    pipe = connection.pipeline(transaction=False)
    for start in starts:
        pipe.hgetall(throughput_key(start))
    rows = pipe.execute()
    return [(start, {k.decode(): int(v) for k, v in row.items()}) for start, row in zip(starts, rows, strict=True)]


def total(buckets: list[tuple[int, dict[str, int]]]) -> Counter[str]:
    summed: Counter[str] = Counter()
    for _, counts in buckets:
        summed.update(counts)
    return summed


def per_minute(buckets: list[tuple[int, dict[str, int]]]) -> list[tuple[int, dict[str, int]]]:
    """Buckets summed per minute, oldest first."""
    minutes: dict[int, Counter[str]] = {}
    for start, counts in buckets:
        minutes.setdefault(start // 60 * 60, Counter()).update(counts)
    return [(minute, dict(counts)) for minute, counts in sorted(minutes.items())]


def ingest_totals(connection: redis.Redis) -> tuple[int, int]:
    """(accepted, duplicates) counted by the enqueue script since the store began."""
    accepted, duplicates = connection.hmget(STATS_KEY, "accepted", "duplicates")
    return int(accepted or 0), int(duplicates or 0)
