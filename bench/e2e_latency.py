"""End-to-end latency at a fixed offered rate: POST to the receiver → the handler starts in a worker.

Open loop: request i is due at t0 + i/rate whatever the answers do, one result per request, and its latency
counts from that scheduled time, not from when a connection got to send it: time a request waits in the
client for a free connection is latency too (no coordinated omission). The handler
(bench.handlers:record_start) records its start, and also how long after the receiver's `ingested_at` that
was (the same clock: one machine). The run starts once the path is warm: a few messages sent one at a time
must have reached the handler (the worker running, its first job taken), and their records are dropped.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import orjson
import redis

from bench.worker_speed import result


async def _send_all(
    url: str, rate: float, count: int, sent: dict[str, float], connections: int = 32, prefix: str = "w"
) -> int:
    """Open loop over persistent keep-alive connections, HTTP/1.1 written by hand: a Python HTTP client
    library's own queueing would otherwise show up as latency at these rates."""
    parsed = urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    started, started_wall = time.monotonic(), time.time()
    due: asyncio.Queue[int] = asyncio.Queue()
    failures = 0

    async def connection() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                i = await due.get()
                if i < 0:
                    return
                message_id = f"{prefix}-{i}"
                body = orjson.dumps({"results": [{**result(i), "messageId": message_id}]})
                head = (
                    f"POST {parsed.path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                sent[message_id] = started_wall + i / rate  # when it was due, however late it goes out
                writer.write(head + body)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                failures += b" 200 " not in status_line
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        due.put_nowait(i)
    for _ in workers:
        due.put_nowait(-1)
    await asyncio.gather(*workers)
    return failures


def warm_up(url: str, redis_url: str, messages: int = 20, timeout: float = 60.0) -> None:
    """Send `messages` one at a time until each reached the handler; then forget them."""
    connection = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    for i in range(messages):
        asyncio.run(_send_all(url, 1000.0, 1, {}, connections=1, prefix=f"warm{i}"))
        while not connection.hexists("bench:handler_start", f"warm{i}-0"):
            if time.monotonic() > deadline:
                raise RuntimeError("the worker did not handle a warm-up message in time")
            time.sleep(0.01)
    connection.delete("bench:handler_start")


def measure(
    url: str,
    redis_url: str,
    rate: float,
    seconds: float,
    on_start: Callable[[], None] | None = None,
    on_sent: Callable[[], None] | None = None,
) -> dict[str, float]:
    """`on_start` and `on_sent` are called as the measured load starts and once it is all sent."""
    warm_up(url, redis_url)
    count = int(rate * seconds)
    sent: dict[str, float] = {}
    if on_start is not None:
        on_start()
    failures = asyncio.run(_send_all(url, rate, count, sent))
    if on_sent is not None:
        on_sent()
    connection = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    while connection.hlen("bench:handler_start") < count and time.monotonic() < deadline:
        time.sleep(0.1)
    started: dict[str, float] = {}
    from_ingest: list[float] = []
    recorded: dict[bytes, bytes] = connection.hgetall("bench:handler_start")  # type: ignore[assignment]
    for key, value in recorded.items():
        start, since_ingest = value.split()
        started[key.decode()] = float(start)
        from_ingest.append(float(since_ingest) * 1000)
    latencies = sorted((started[m] - t) * 1000 for m, t in sent.items() if m in started)
    handled_span = max(started[m] for m in sent if m in started) - min(sent.values())
    return {
        "offered_per_s": rate,
        "messages": count,
        "handled": len(latencies),
        "handled_per_s": len(latencies) / handled_span,  # from the first scheduled send to the last start
        "failures": failures,
        "p50_ms": statistics.median(latencies),
        "p99_ms": statistics.quantiles(latencies, n=100)[98],
        # From the receiver's ingested_at (after parsing) to handler start: no client-side queueing in it.
        "from_ingest_p50_ms": statistics.median(from_ingest),
        "from_ingest_p99_ms": statistics.quantiles(from_ingest, n=100)[98],
    }
