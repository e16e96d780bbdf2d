"""Worker throughput, one process each: infobip-inbound's worker against a plain RQ SimpleWorker doing one
job per message. Run by bench/run.py as a child process so that each measurement has a fresh interpreter.

    python -m bench.worker_speed KIND REDIS_URL MESSAGES

prints one JSON line: {"messages": N, "seconds": S}. KIND: rq, ours (no-op handler); rq-io, ours-io,
ours-io-aiohttp, ours-io-lean (I/O-bound, below); alone-io, alone-io-aiohttp, alone-io-lean (the same
handler's calls alone, no worker: the handler's own ceiling in one process); rq-relay, ours-relay, alone-relay
(the built-in `http_relay` to the downstream, configured by INBOUND_HTTP_RELAY_* in the environment: a plain
RQ job making the same signed POST per message, the worker running the built-in, the built-in's calls alone).

The -io kinds call the downstream at BENCH_DOWNSTREAM_URL once per message (bench.downstream answers after
20 ms): plain RQ with a sync POST per job, ours with an async handler POSTing the same body (async httpx;
`-aiohttp`: httpx's API over aiohttp's transport; `-lean`: a minimal kept-alive client, to show the worker's
ceiling apart from the client's CPU), its calls running concurrently (IO_CONCURRENCY in flight). The handler
runs once before the clock starts, on both sides: a long-running worker has its imports done and its
connections open.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING

import orjson
import redis
from rq import Queue, SimpleWorker

from bench.baselines import noop as rq_noop
from bench.baselines import post_downstream as rq_post
from bench.baselines import relay as rq_relay

if TYPE_CHECKING:
    from infobip_inbound.contract.model import UserResponse

BATCH = 100  # messages per job on our side, as the receiver's group commit makes them under load
IO_CONCURRENCY = int(os.environ.get("BENCH_IO_CONCURRENCY", "64"))  # calls in flight of the I/O-bound handler


def result(i: int) -> dict[str, object]:
    return {
        "messageId": f"w-{i}",
        "from": "69827EDB-A806-4AF6-A7F6-98298EAA4F14",
        "to": "8a9b7c6d5e4f",
        "applicationCode": "8a9b7c6d5e4f",
        "receivedAt": "2017-01-05T12:47:56.221+0000",
        "text": "KEYWORD some text",
        "cleanText": "some text",
        "keyword": "KEYWORD",
        "customPayload": {"key1": 1, "key2": 2},
    }


HANDLERS = {
    "ours": "bench.handlers:noop",
    "ours-relay": "http_relay",
    "ours-io": "bench.handlers:post_downstream",
    "ours-io-aiohttp": "bench.handlers:post_downstream_aiohttp",
    "ours-io-lean": "bench.handlers:post_downstream_lean",
}


def responses(numbers: range) -> list[UserResponse]:
    """The responses handlers see for `result(i)`, i in `numbers`: normalized as the receiver does."""
    from infobip_inbound.contract.model import UserResponse
    from infobip_inbound.infobip.envelope import normalize, read_envelope

    body = orjson.dumps({"results": [result(i) for i in numbers]})
    return [UserResponse.model_validate_json(n.json) for n in normalize(read_envelope(body), "forward").responses]


def plain_rq(connection: redis.Redis, messages: int, kind: str) -> float:
    queue = Queue("bench-plain", connection=connection)
    job = {"rq": rq_noop, "rq-io": rq_post, "rq-relay": rq_relay}[kind]
    job(result(-1))  # warm: imports and the kept-alive connection
    queue.enqueue_many([Queue.prepare_data(job, (result(i),), result_ttl=0) for i in range(messages)])
    worker = SimpleWorker([queue], connection=connection)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    return time.perf_counter() - started


def ours(connection: redis.Redis, messages: int, kind: str) -> float:
    from infobip_inbound.contract.routing import Router
    from infobip_inbound.contract.settings import load_settings
    from infobip_inbound.infobip.envelope import normalize, read_envelope
    from infobip_inbound.receiver.enqueue import InboxWriter, enqueue_now
    from infobip_inbound.testing import run_handler
    from infobip_inbound.workers.worker import run_worker

    handler = HANDLERS[kind]
    io = kind.startswith("ours-io")  # the built-in relay runs at its own default concurrency
    settings = load_settings(
        default_handlers=[handler],
        handler_flow={handler: {"concurrency": IO_CONCURRENCY}} if io else {},
        job_result_ttl_seconds=0,
    )
    run_handler(handler, responses(range(-1, 0))[0], settings=settings)
    writer, router = InboxWriter(settings), Router.from_settings(settings)
    for start in range(0, messages, BATCH):
        body = orjson.dumps({"results": [result(i) for i in range(start, min(messages, start + BATCH))]})
        enqueue_now(connection, writer, router, normalize(read_envelope(body), "forward").responses)
    started = time.perf_counter()
    run_worker(settings, burst=True)
    return time.perf_counter() - started


def alone(messages: int, kind: str) -> float:
    """The I/O-bound handler's own ceiling in one process: its calls and nothing else, IO_CONCURRENCY in flight
    on one uvloop loop (as the worker runs async handlers), no Redis, no worker. The built-in relay is called
    as built from the settings: as many in flight as the worker runs when async, one after another when sync."""
    import asyncio
    import inspect

    import uvloop

    from bench import handlers

    warm, *pending_responses = responses(range(-1, messages))
    if kind == "alone-relay":
        from infobip_inbound.contract.settings import load_settings
        from infobip_inbound.workers.registry import build

        settings = load_settings(default_handlers=["http_relay"])
        relay = build("http_relay", settings)
        concurrency = settings.flow_policy("http_relay").limit(is_async=True)  # as many in flight as the worker's
        if not inspect.iscoroutinefunction(relay):
            relay(warm)
            started = time.perf_counter()
            for response in pending_responses:
                relay(response)
            return time.perf_counter() - started
        call = relay
    else:
        call = getattr(handlers, HANDLERS[kind.replace("alone", "ours", 1)].split(":")[1])
        concurrency = IO_CONCURRENCY

    async def calls() -> float:
        await call(warm)
        pending = iter(pending_responses)

        async def caller() -> None:
            for response in pending:
                await call(response)

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        return time.perf_counter() - started

    return uvloop.run(calls())


def main() -> None:
    kind, url, messages = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.environ["INBOUND_REDIS_URL"] = url
    os.environ.setdefault("INBOUND_LOG_LEVEL", "WARNING")
    connection = redis.Redis.from_url(url)
    if kind.startswith("alone"):
        seconds = alone(messages, kind)
    elif kind.startswith("rq"):
        seconds = plain_rq(connection, messages, kind)
    else:
        seconds = ours(connection, messages, kind)
    print(json.dumps({"messages": messages, "seconds": seconds}))


if __name__ == "__main__":
    main()
