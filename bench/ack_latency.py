"""The latency one write gains by waiting for a replica (INBOUND_REDIS_ACK_REPLICAS=1), apart from HTTP.

One enqueue script call of one message at a time, from one connection, with a replica attached: without the
acknowledgement, then with it (WAIT pipelined with the script call), in alternating rounds so the machine's
drift falls on both alike. Reported: the median and p99 of a write, in microseconds.
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

import orjson
import redis

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import load_settings
from infobip_inbound.infobip.envelope import normalize, read_envelope
from infobip_inbound.receiver.enqueue import InboxWriter, enqueue_now


def _timings(redis_url: str, ack_replicas: int, writes: int) -> list[float]:
    settings = load_settings(redis_url=redis_url, redis_ack_replicas=ack_replicas)
    writer, router = InboxWriter(settings), Router.from_settings(settings)
    prefix = uuid.uuid4().hex[:8]
    bodies = [
        orjson.dumps(
            {
                "results": [
                    {
                        "messageId": f"{prefix}-{i}",
                        "from": "REG-1",
                        "to": "app-1",
                        "applicationCode": "app-1",
                        "receivedAt": "2017-01-05T12:47:56.221+0000",
                        "text": "KEY hello",
                    }
                ]
            }
        )
        for i in range(writes)
    ]
    responses = [normalize(read_envelope(body), "forward").responses for body in bodies]
    timings = []
    with redis.Redis.from_url(redis_url) as connection:
        for batch in responses:
            started = time.perf_counter()
            enqueue_now(connection, writer, router, batch)
            timings.append((time.perf_counter() - started) * 1e6)
    return timings


def measure(redis_url: str, writes: int = 2000, rounds: int = 4) -> dict[str, Any]:
    """Per write, without and with the acknowledgement (`redis_url` must have a replica attached)."""
    off: list[float] = []
    on: list[float] = []
    for _ in range(rounds):
        off += _timings(redis_url, 0, writes // rounds)
        on += _timings(redis_url, 1, writes // rounds)
    figures: dict[str, Any] = {"writes": len(off)}
    for name, timings in (("off", off), ("on", on)):
        ordered = sorted(timings)
        figures[name] = {
            "p50_us": statistics.median(ordered),
            "p99_us": ordered[int(len(ordered) * 0.99) - 1],
        }
    return figures
