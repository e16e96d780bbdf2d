"""The rate limit's accuracy: a handler limited to `rate` calls/s, worked by several worker processes, against
the rate it is called at over `seconds` once the workers are under way. The handler only counts its calls (in
Redis), so the limit and not the handler's own cost sets the pace."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
import redis

from bench.worker_speed import result

HANDLER = "bench.handlers:count_call"


def worker_env(redis_url: str, rate: float) -> dict[str, str]:
    return {
        "INBOUND_REDIS_URL": redis_url,
        "INBOUND_LOG_LEVEL": "WARNING",
        "INBOUND_DEFAULT_HANDLERS": orjson.dumps([HANDLER]).decode(),
        "INBOUND_HANDLER_FLOW": orjson.dumps({HANDLER: {"rate_per_second": rate}}).decode(),
        "INBOUND_WORKER_CLAIM_MAX": "50",  # batches small enough that every process takes some
        "BENCH_REDIS_URL": redis_url,
    }


def measure(
    redis_url: str, rate: float, seconds: float, processes: int, start_workers: Callable[[], None]
) -> dict[str, float]:
    from infobip_inbound.contract.routing import Router
    from infobip_inbound.contract.settings import load_settings
    from infobip_inbound.infobip.envelope import normalize, read_envelope
    from infobip_inbound.receiver.enqueue import InboxWriter, enqueue_now

    settings = load_settings(redis_url=redis_url, default_handlers=[HANDLER])
    connection = redis.Redis.from_url(redis_url)
    writer, router = InboxWriter(settings), Router.from_settings(settings)
    messages = int(rate * (seconds + 10))  # never short of work while measured
    for start in range(0, messages, 100):
        body = orjson.dumps({"results": [result(i) for i in range(start, min(messages, start + 100))]})
        enqueue_now(connection, writer, router, normalize(read_envelope(body), "forward").responses)
    start_workers()

    def count() -> int:
        return int(connection.get("bench:calls") or 0)

    while count() < rate * 2:  # under way: every process started and calling
        time.sleep(0.05)
    before, started = count(), time.monotonic()
    time.sleep(seconds)
    after, ended = count(), time.monotonic()
    measured = (after - before) / (ended - started)
    return {
        "configured_per_s": rate,
        "processes": processes,
        "seconds": seconds,
        "measured_per_s": measured,
        "error": measured / rate - 1,
    }
