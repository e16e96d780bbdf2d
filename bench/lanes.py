"""Handlers that do not wait for each other: a no-op handler (bench.handlers:record_start) beside a slow one
(50 ms a call, concurrency 1) or a paced one (rate_per_second 200), both on the same responses, at an offered
rate above what the second can take. The no-op's end-to-end latency and throughput are measured as in
bench.e2e_latency while the other lags in its lane; the paced one's calls are counted over the run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis

from bench import e2e_latency

RECORD = "bench.handlers:record_start"
SLOW = "bench.handlers:slow_50ms"
PACED = "bench.handlers:count_call"


def env(redis_url: str, other: str, flow: dict[str, Any]) -> dict[str, str]:
    return {
        "INBOUND_REDIS_URL": redis_url,
        "INBOUND_LOG_LEVEL": "WARNING",
        "INBOUND_DEFAULT_HANDLERS": orjson.dumps([RECORD, other]).decode(),
        "INBOUND_HANDLER_FLOW": orjson.dumps({other: flow}).decode(),
        "BENCH_REDIS_URL": redis_url,
    }


def lane_backlog(redis_url: str, handler: str) -> dict[str, float]:
    from infobip_inbound.contract.settings import load_settings
    from infobip_inbound.contract.store import lanes

    queue = load_settings(redis_url=redis_url).default_queue
    (figure,) = lanes.figures(redis.Redis.from_url(redis_url), [(queue, handler)])
    return {"waiting": figure.waiting, "oldest_age_seconds": figure.oldest_age_seconds}


def slow(url: str, redis_url: str, rate: float, seconds: float) -> dict[str, Any]:
    """The no-op beside a 50 ms handler of concurrency 1 (20 calls/s at most)."""
    figures = e2e_latency.measure(url, redis_url, rate, seconds)
    return figures | {"slow_lane": lane_backlog(redis_url, SLOW)}


def paced(url: str, redis_url: str, rate: float, seconds: float, configured: float) -> dict[str, Any]:
    """The no-op beside a handler paced at `configured` calls/s; its calls counted (bench:calls) from 2 s into
    the offered load until the load ends, while its lane never runs dry."""
    connection = redis.Redis.from_url(redis_url)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            samples.append((time.monotonic(), int(connection.get("bench:calls") or 0)))

    sampler = threading.Thread(target=sample, daemon=True)
    figures = e2e_latency.measure(url, redis_url, rate, seconds, on_start=sampler.start, on_sent=stop.set)
    stop.set()
    begin = next(s for s in samples if s[0] >= samples[0][0] + 2)
    end = samples[-1]
    measured_rate = (end[1] - begin[1]) / (end[0] - begin[0])
    return figures | {
        "configured_per_s": configured,
        "paced_per_s": measured_rate,
        "paced_error": measured_rate / configured - 1,
        "paced_lane": lane_backlog(redis_url, PACED),
    }


def run(
    url: str,
    redis_url: str,
    rate: float,
    seconds: float,
    start: Callable[[dict[str, str]], None],
    stop: Callable[[], None],
) -> dict[str, Any]:
    report: dict[str, Any] = {}
    redis.Redis.from_url(redis_url).flushall()
    start(env(redis_url, SLOW, {"concurrency": 1}))
    report["slow"] = slow(url, redis_url, rate, seconds)
    stop()
    redis.Redis.from_url(redis_url).flushall()
    start(env(redis_url, PACED, {"rate_per_second": 200.0}))
    report["paced"] = paced(url, redis_url, rate, seconds, 200.0)
    stop()
    return report
