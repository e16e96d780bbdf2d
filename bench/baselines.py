"""Baseline endpoints the receiver is measured against, served by the same uvicorn settings.

- bare:  answers 200 without reading Redis (the ceiling of Starlette + uvicorn here)
- lpush: one redis.asyncio LPUSH of the body per request
- rq:    the naive way: run_in_threadpool(Queue.enqueue) of the parsed body per request

and the job functions of the plain RQ worker baselines (bench.worker_speed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time

import httpx
import orjson
import redis
import redis.asyncio as aioredis
from rq import Queue
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
OK = b'{"accepted":1}'


def noop(payload: object) -> None:
    """The job function of the naive RQ baseline."""


_downstream: httpx.Client | None = None


def post_downstream(payload: object) -> None:
    """The job function of the I/O-bound RQ baseline: the same POST as bench.handlers:post_downstream, sync."""
    global _downstream
    if _downstream is None:  # kept alive across jobs, as the async handler's client is
        _downstream = httpx.Client(timeout=30)
    answer = _downstream.post(os.environ["BENCH_DOWNSTREAM_URL"], content=orjson.dumps(payload))
    answer.raise_for_status()


def relay(payload: object) -> None:
    """The job function of the plain RQ relay baseline: what the built-in `http_relay` sends, signed the same
    way (Standard Webhooks), one sync POST per job over a kept-alive client."""
    global _downstream
    if _downstream is None:
        _downstream = httpx.Client(timeout=30)
    body = orjson.dumps(payload)
    webhook_id, timestamp = "msg_" + hashlib.sha256(body).hexdigest()[:32], str(int(time.time()))
    key = base64.b64decode(os.environ["INBOUND_HTTP_RELAY__SECRETS"].removeprefix("whsec_"))
    signed = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(signed).decode(),
    }
    _downstream.post(os.environ["INBOUND_HTTP_RELAY__URL"], content=body, headers=headers).raise_for_status()


async def bare(request: Request) -> Response:
    await request.body()
    return Response(OK, media_type="application/json")


_aio = aioredis.Redis.from_url(REDIS_URL)


async def lpush(request: Request) -> Response:
    await _aio.lpush("bench:lpush", await request.body())
    return Response(OK, media_type="application/json")


_queue = Queue("bench-naive", connection=redis.Redis.from_url(REDIS_URL))


async def rq_enqueue(request: Request) -> Response:
    payload = orjson.loads(await request.body())
    await run_in_threadpool(_queue.enqueue, "bench.baselines.noop", payload)
    return Response(OK, media_type="application/json")


app = Starlette(
    routes=[
        Route("/bare", bare, methods=["POST"]),
        Route("/lpush", lpush, methods=["POST"]),
        Route("/rq", rq_enqueue, methods=["POST"]),
    ]
)
