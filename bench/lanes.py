"""Handlers that do not wait for each other: a no-op handler (bench.handlers:record_start) beside a slow one
(50 ms a call, concurrency 1) or a paced one (rate_per_second 200), both on the same responses. Beside the slow
one, at an offered rate it cannot take, the no-op's end-to-end latency and throughput are measured as in
bench.e2e_latency while the slow one lags in its lane; beside the paced one, over a backlog queued before the
worker starts, the paced one's calls per second and the no-op's are counted (one worker process)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import redis

from bench import e2e_latency
from bench.worker_speed import result

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


def paced(redis_url: str, configured: float, seconds: float, start_worker: Callable[[], None]) -> dict[str, Any]:
    """The no-op beside a handler paced at `configured` calls/s, one worker process over a backlog queued before
    it starts (as the receiver queues it) that outlasts the window: the paced one's calls and the no-op's
    handled responses counted over `seconds`, from once the paced one has made two seconds of calls."""
    from infobip_inbound.contract.routing import Router
    from infobip_inbound.contract.settings import load_settings
    from infobip_inbound.infobip.envelope import normalize, read_envelope
    from infobip_inbound.receiver.enqueue import InboxWriter, enqueue_now

    settings = load_settings(redis_url=redis_url, default_handlers=[RECORD, PACED])
    connection = redis.Redis.from_url(redis_url)
    writer, router = InboxWriter(settings), Router.from_settings(settings)
    messages = int(configured * (seconds + 10))
    for first in range(0, messages, 100):
        body = orjson.dumps({"results": [result(i) for i in range(first, min(messages, first + 100))]})
        enqueue_now(connection, writer, router, normalize(read_envelope(body), "forward").responses)
    start_worker()

    def counts() -> tuple[int, int]:
        return int(connection.get("bench:calls") or 0), int(connection.hlen("bench:handler_start"))

    while counts()[0] < configured * 2:
        time.sleep(0.05)
    (calls_before, noop_before), started = counts(), time.monotonic()
    time.sleep(seconds)
    (calls_after, noop_after), ended = counts(), time.monotonic()
    measured = (calls_after - calls_before) / (ended - started)
    return {
        "configured_per_s": configured,
        "seconds": seconds,
        "paced_per_s": measured,
        "paced_error": measured / configured - 1,
        "noop_per_s": (noop_after - noop_before) / (ended - started),
        "noop_done": noop_after,
        "messages": messages,
        "paced_lane": lane_backlog(redis_url, PACED),
    }


def run(
    url: str,
    redis_url: str,
    rate: float,
    seconds: float,
    start: Callable[[dict[str, str], bool], None],
    stop: Callable[[], None],
) -> dict[str, Any]:
    """`start(env, with_receiver)` starts a worker (and the receiver) with `env`; `stop` stops them."""
    report: dict[str, Any] = {}
    redis.Redis.from_url(redis_url).flushall()
    start(env(redis_url, SLOW, {"concurrency": 1}), True)
    report["slow"] = slow(url, redis_url, rate, seconds)
    stop()
    redis.Redis.from_url(redis_url).flushall()
    report["paced"] = paced(
        redis_url, 200.0, seconds, lambda: start(env(redis_url, PACED, {"rate_per_second": 200.0}), False)
    )
    stop()
    return report
