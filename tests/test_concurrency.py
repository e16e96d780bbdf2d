"""Concurrent handler calls inside a batch: real worker processes, real Redis, a real HTTP downstream."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator

import orjson
import pytest
import redis

from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store.handled import pair_id
from infobip_inbound.contract.store.keys import handled_key
from tests.downstream import Downstream
from tests.support import Role, result, wait_until
from tests.test_worker import put

StartWorker = Callable[..., Role]
A, B, SYNC = "tests.flow_handlers:post_a", "tests.flow_handlers:post_b", "tests.flow_handlers:post_sync"


@pytest.fixture
def downstream_factory() -> Iterator[Callable[..., Downstream]]:
    started: list[Downstream] = []

    def start(**kwargs: float | int | None) -> Downstream:
        server = Downstream(**kwargs)  # type: ignore[arg-type]
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_each_handler_stays_within_its_concurrency_limit(
    start_worker: StartWorker,
    base_env: dict[str, str],
    redis_url: str,
    downstream_factory: Callable[..., Downstream],
) -> None:
    downstream = downstream_factory(delay=0.02)
    env = {
        **base_env,
        "INBOUND_DEFAULT_HANDLERS": orjson.dumps([A, B, SYNC]).decode(),
        "INBOUND_HANDLER_FLOW": orjson.dumps(
            {A: {"concurrency": 8}, B: {"concurrency": 3}, SYNC: {"concurrency": 4}}
        ).decode(),
        "TEST_DOWNSTREAM_URL": downstream.url,
    }
    ids = [f"c{i}" for i in range(200)]
    put(load_settings(redis_url=redis_url), *(result(i) for i in ids))
    start_worker(env)
    wait_until(lambda: len(downstream.answered) >= 3 * len(ids), timeout=60, interval=0.1)

    # Never above the limit, and concurrent at all (200 calls of 20 ms each, released at once).
    assert 1 < downstream.max_in_flight["post_a"] <= 8
    assert 1 < downstream.max_in_flight["post_b"] <= 3
    assert 1 < downstream.max_in_flight["post_sync"] <= 4
    # Every pair ran once, and each call saw its own handler in the context.
    for name, reference in (("post_a", A), ("post_b", B), ("post_sync", SYNC)):
        calls = [call for call in downstream.calls if call["handler"] == name]
        assert sorted(call["message_id"] for call in calls) == sorted(ids)
        assert {call["handler_seen"] for call in calls} == {reference}


def test_sigkill_with_fifty_pairs_in_flight_reruns_only_the_unrecorded_pairs(
    start_worker: StartWorker,
    base_env: dict[str, str],
    redis_url: str,
    redis_client: redis.Redis,
    downstream_factory: Callable[..., Downstream],
) -> None:
    # The downstream answers the first 100 calls, then holds every call: with a limit of 50, 50 are in flight
    # and every answered pair has been recorded (a call's slot frees only once its success is recorded).
    downstream = downstream_factory(hold_after=100)
    env = {
        **base_env,
        "INBOUND_DEFAULT_HANDLERS": orjson.dumps([A]).decode(),
        "INBOUND_HANDLER_FLOW": orjson.dumps({A: {"concurrency": 50}}).decode(),
        "TEST_DOWNSTREAM_URL": downstream.url,
    }
    ids = [f"k{i}" for i in range(200)]
    put(load_settings(redis_url=redis_url), *(result(i) for i in ids))
    crashed = start_worker(env)
    wait_until(lambda: downstream.held >= 50, timeout=60, interval=0.05)
    assert crashed.process is not None
    crashed.process.send_signal(signal.SIGKILL)
    assert crashed.process.wait(timeout=30) == -signal.SIGKILL
    assert downstream.held == 50
    answered_before = set(downstream.answered)
    in_flight = {call["message_id"] for call in downstream.calls} - answered_before
    assert len(answered_before) == 100 and len(in_flight) == 50
    assert all(redis_client.exists(handled_key(pair_id(i, A))) for i in answered_before)

    downstream.release()
    start_worker(env)  # requeues the dead worker's job once its lease lapses, then runs what is left
    wait_until(lambda: all(redis_client.exists(handled_key(pair_id(i, A))) for i in ids), timeout=60, interval=0.2)

    # Nothing lost; the recorded pairs never ran again; only the pairs in flight at the kill ran twice.
    assert {i: downstream.calls_of(i) for i in ids} == {i: 2 if i in in_flight else 1 for i in ids}
