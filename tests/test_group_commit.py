"""The receiver's group commit with several writes in flight: requests share writes, writes run side by side, and
every message id is still accepted exactly once whichever write carries it."""

from __future__ import annotations

import asyncio

import orjson
import redis

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store import keys
from infobip_inbound.contract.store.entries import decode_entry
from infobip_inbound.infobip.envelope import Normalized, normalize, read_envelope
from infobip_inbound.receiver.enqueue import Committer, EnqueueResult, _Pending
from infobip_inbound.runtime.redis_client import async_client
from tests.support import envelope, result


def _responses(ids: list[str]) -> list[Normalized]:
    responses = normalize(read_envelope(orjson.dumps(envelope(*(result(i) for i in ids)))), "forward").responses
    assert len(responses) == len(ids)
    return responses


async def _submit_all(
    redis_url: str, requests: list[list[str]], concurrency: int
) -> tuple[list[EnqueueResult], int, int]:
    """Each request's result, how many writes carried them and the most writes in flight at once."""
    settings = load_settings(redis_url=redis_url, commit_concurrency=concurrency, archive=False)
    client = async_client(settings)
    committer = Committer(client, Router.from_settings(settings), settings)
    writes = in_flight = most = 0
    original = committer._commit

    async def counted(batch: list[_Pending]) -> None:
        nonlocal writes, in_flight, most
        writes, in_flight = writes + 1, in_flight + 1
        most = max(most, in_flight)
        try:
            await original(batch)
        finally:
            in_flight -= 1

    committer._commit = counted  # type: ignore[method-assign]
    await committer.start()
    try:
        results = await asyncio.gather(*(committer.submit(_responses(ids), f"r{n}") for n, ids in enumerate(requests)))
    finally:
        await committer.stop()
        await client.aclose()
    return list(results), writes, most


def test_concurrent_writes_accept_each_id_once(redis_url: str, redis_client: redis.Redis) -> None:
    # 200 requests of 5 results; every id is sent by two requests, so half the results are duplicates.
    requests = [[f"m-{(n * 5 + k) % 500}" for k in range(5)] for n in range(200)]
    results, writes, most = asyncio.run(_submit_all(redis_url, requests, concurrency=2))
    assert sum(r.accepted for r in results) == 500
    assert sum(r.duplicates for r in results) == 500
    assert 1 < writes < len(requests)  # requests shared writes, and there was more than one
    assert most == 2
    queued = redis_client.lrange(keys.inbox_key(load_settings().default_queue), 0, -1)
    ids = [UserResponse.model_validate_json(decode_entry(entry)[1]).message_id for entry in queued]
    assert sorted(ids) == sorted({i for ids in requests for i in ids})


def test_a_stopped_committer_fails_what_it_did_not_write(redis_url: str) -> None:
    async def scenario() -> None:
        settings = load_settings(redis_url=redis_url, commit_concurrency=2)
        client = async_client(settings)
        committer = Committer(client, Router.from_settings(settings), settings)
        await committer.start()
        gate = asyncio.Event()
        original = committer._commit

        async def stuck(batch: list[_Pending]) -> None:
            await gate.wait()  # never set: the write is still in flight when the receiver stops
            await original(batch)

        committer._commit = stuck  # type: ignore[method-assign]
        pending = [asyncio.create_task(committer.submit(_responses([f"s-{n}"]))) for n in range(3)]
        await asyncio.sleep(0.05)
        await committer.stop(drain_seconds=0.1)
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
        assert outcomes and all(isinstance(o, ConnectionError) for o in outcomes), outcomes
        await client.aclose()

    asyncio.run(scenario())


def test_the_receivers_connections_send_every_argument_as_given(redis_url: str, redis_client: redis.Redis) -> None:
    # Commands are packed by hiredis on the receiver's connections, directly for the usual arguments and through
    # redis-py's serializer for those hiredis refuses (bytearray, memoryview) and for commands of two words.
    values: list[bytes | bytearray | memoryview | str | int | float] = [
        b"\x00\xff raw",
        bytearray(b"from a bytearray"),
        memoryview(b"from a memoryview"),
        "unicode é ✓",
        -12,
        2.5,
    ]

    async def write() -> str:
        client = async_client(load_settings(redis_url=redis_url))
        try:
            await client.rpush("packing", *values)
            await client.execute_command("CLIENT SETNAME", "receiver-packing")
            return str(await client.client_getname())
        finally:
            await client.aclose()

    assert asyncio.run(write()) == "receiver-packing"
    assert redis_client.lrange("packing", 0, -1) == [
        b"\x00\xff raw",
        b"from a bytearray",
        b"from a memoryview",
        "unicode é ✓".encode(),
        b"-12",
        b"2.5",
    ]
