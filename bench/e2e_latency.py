"""End-to-end latency at a fixed offered rate: POST to the receiver → the handler starts in a worker.

Open loop: request i is sent at t0 + i/rate whatever the answers do, one result per request. The send
time is taken just before each request; the handler (bench.handlers:record_start) records its start, and
also how long after the receiver's `ingested_at` that was (the same clock: one machine).
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import orjson
import redis

from bench.worker_speed import result


async def _send_all(url: str, rate: float, count: int, sent: dict[str, float]) -> int:
    failures = 0
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, pool=None), limits=limits) as client:

        async def send(i: int) -> None:
            nonlocal failures
            message_id = f"w-{i}"
            body = orjson.dumps({"results": [{**result(i), "messageId": message_id}]})
            sent[message_id] = time.time()
            answer = await client.post(url, content=body, headers={"Content-Type": "application/json"})
            failures += answer.status_code != 200

        started = time.monotonic()
        tasks = []
        for i in range(count):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(i)))
        await asyncio.gather(*tasks)
    return failures


def measure(url: str, redis_url: str, rate: float, seconds: float) -> dict[str, float]:
    count = int(rate * seconds)
    sent: dict[str, float] = {}
    failures = asyncio.run(_send_all(url, rate, count, sent))
    connection = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    while connection.hlen("bench:handler_start") < count and time.monotonic() < deadline:
        time.sleep(0.1)
    started: dict[str, float] = {}
    from_ingest: list[float] = []
    for key, value in connection.hgetall("bench:handler_start").items():
        start, since_ingest = value.split()
        started[key.decode()] = float(start)
        from_ingest.append(float(since_ingest) * 1000)
    latencies = sorted((started[m] - t) * 1000 for m, t in sent.items() if m in started)
    return {
        "offered_per_s": rate,
        "messages": count,
        "handled": len(latencies),
        "failures": failures,
        "p50_ms": statistics.median(latencies),
        "p99_ms": statistics.quantiles(latencies, n=100)[98],
        # From the receiver's ingested_at (after parsing) to handler start: no client-side queueing in it.
        "from_ingest_p50_ms": statistics.median(from_ingest),
        "from_ingest_p99_ms": statistics.quantiles(from_ingest, n=100)[98],
    }
