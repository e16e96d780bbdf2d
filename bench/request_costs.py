"""What the forward endpoint's steps cost in Python, timed one by one in this process, apart from the HTTP server
and from any other load: reading the envelope, the limits, normalizing, building and packing the enqueue call;
then whole requests through the endpoint (ASGI, no socket) against a real redis-server, 50 at a time as the
ingest case's connections send them, with the process's CPU per request.

    python -m bench.request_costs [--results 1,20] [--rounds 2000]

Each figure is the best of three runs. The enqueue call is built and packed for a commit's worth of responses
(the requests in flight, at most INBOUND_COMMIT_MAX_MESSAGES), each request counted its share. A step timed
alone reads the same body again and again, its caches warm: whole requests, each of a new body, cost more than
the sum of the steps. Under load (uvicorn, wrk and Redis sharing the machine's cores) the same work takes about
twice as long again, so compare these figures with each other, not with a load test's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import timeit
from collections.abc import Callable
from typing import Any

import orjson
from starlette.types import Message

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import Settings, load_settings
from infobip_inbound.infobip.envelope import normalize, read_envelope
from infobip_inbound.receiver.edge.limits import EnvelopeLimits
from infobip_inbound.receiver.enqueue import InboxWriter, writes
from infobip_inbound.runtime.process import settle_heap
from infobip_inbound.runtime.redis_client import async_client
from infobip_inbound.shell.redis_server import RedisServer

TOKEN = "bench-token-4f7c2a9e"  # noqa: S105 - loopback-only benchmark credential
IN_FLIGHT = 50  # requests at once, as the ingest case's wrk connections


def body(results: int, prefix: str = "m") -> bytes:
    """An envelope shaped like bench/post.lua's."""
    result = {
        "pairedMessageId": "1234984815238926403",
        "from": "69827EDB-A806-4AF6-A7F6-98298EAA4F14",
        "subscriberId": "123",
        "to": "8a9b7c6d5e4f",
        "applicationCode": "8a9b7c6d5e4f",
        "receivedAt": "2017-01-05T12:47:56.221+0000",
        "callbackData": "callbackData",
        "text": "KEYWORD some text",
        "cleanText": "some text",
        "keyword": "KEYWORD",
        "customPayload": {"key1": 1, "key2": 2},
    }
    return orjson.dumps(
        {
            "results": [{"messageId": f"{prefix}-{n}", **result} for n in range(results)],
            "messageCount": results,
            "pendingMessageCount": 0,
        }
    )


def best(step: Callable[[], Any], rounds: int) -> float:
    """Seconds per call of `step`, the best of three runs."""
    return min(timeit.repeat(step, number=rounds, repeat=3)) / rounds


def steps(settings: Settings, results: int, rounds: int) -> dict[str, float]:
    """Seconds per request of each step, in the endpoint's order."""
    raw = body(results)
    limits = EnvelopeLimits(settings.max_results, settings.max_json_depth)
    writer, router = InboxWriter(settings), Router.from_settings(settings)
    pool = async_client(settings).connection_pool  # the receiver's connections pack its commands
    packer = pool.connection_class(**pool.connection_kwargs)
    read = read_envelope(raw)
    # The enqueue call of a whole commit (the requests in flight, up to a commit's bound), its share per request.
    committed = min(IN_FLIGHT * results, settings.commit_max_messages)
    share = results / committed
    responses = normalize(read_envelope(body(committed)), "forward").responses
    request_ids = ["r"] * len(responses)

    def build() -> list[Any]:
        return [
            writer.script_call(queue, [responses[i] for i in indexes], [request_ids[i] for i in indexes])
            for queue, indexes in writes(router, responses)
        ]

    calls = build()

    def pack() -> None:
        for call in calls:
            packer.pack_command("EVALSHA", "0" * 40, len(call.keys), *call.keys, *call.args)

    return {
        "read the envelope": best(lambda: read_envelope(raw), rounds),
        "limits (results, nesting)": best(lambda: limits.check(read), rounds),
        "normalize": best(lambda: normalize(read, "forward"), rounds),
        "build the enqueue call": best(build, rounds) * share,
        "pack it": best(pack, rounds) * share,
    }


async def whole(settings: Settings, results: int, rounds: int) -> float:
    """CPU seconds of this process per request through the forward endpoint, Redis writes included."""
    from infobip_inbound.receiver.app import Receiver

    receiver = Receiver(settings)
    await receiver.committer.start()
    settle_heap()  # as `serve` does once the app is built
    scope_base = {
        "type": "http",
        "method": "POST",
        "path": f"/infobip/forward/{TOKEN}",
        "path_params": {"token": TOKEN},
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
        "scheme": "http",
        "query_string": b"",
        "root_path": "",
    }
    answers: list[int] = []

    async def one(raw: bytes) -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answers.append(message["status"])

        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        await receiver.forward({**scope_base, "headers": headers}, receive, send)

    async def run(prefix: str) -> float:
        bodies = [body(results, f"{prefix}{n}") for n in range(rounds)]
        started = os.times()
        for first in range(0, rounds, IN_FLIGHT):
            await asyncio.gather(*(one(raw) for raw in bodies[first : first + IN_FLIGHT]))
        ended = os.times()
        return (ended.user + ended.system - started.user - started.system) / rounds

    try:
        await run("warm")
        taken = min([await run(f"r{n}-") for n in range(3)])
    finally:
        await receiver.committer.stop()
        await receiver.client.aclose()
    if any(status != 200 for status in answers):
        raise RuntimeError(f"the endpoint answered {sorted(set(answers))}, not only 200")
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="1,20", help="results per request, comma-separated")
    parser.add_argument("--rounds", type=int, default=2000, help="requests per timed run")
    args = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        settings = load_settings(redis_url=server.url, forward_tokens=[TOKEN], log_level="WARNING")
        for results in (int(n) for n in args.results.split(",")):
            timed = steps(settings, results, args.rounds)
            print(f"{results} result(s) per request, µs per request (per message):")
            for name, seconds in timed.items():
                print(f"  {name:28s} {seconds * 1e6:8.1f} ({seconds * 1e6 / results:.1f})")
            print(f"  {'sum of the steps':28s} {sum(timed.values()) * 1e6:8.1f}")
            cpu = asyncio.run(whole(settings, results, args.rounds))
            print(f"  {'whole request, CPU':28s} {cpu * 1e6:8.1f} ({cpu * 1e6 / results:.1f})")
    finally:
        server.stop()


if __name__ == "__main__":
    os.environ.setdefault("INBOUND_LOG_LEVEL", "WARNING")
    main()
