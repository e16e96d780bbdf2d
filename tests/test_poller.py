"""The PULL poller against the simulator over real HTTP, with real worker processes and crash tests."""

from __future__ import annotations

import random
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from infobip_inbound.contract.store import quarantine
from infobip_inbound.contract.store.keys import POLLER_LEASE_KEY as LEASE_KEY
from infobip_inbound.contract.store.keys import PULL_RAW_KEY as RAW_KEY
from infobip_inbound.contract.store.keys import PULL_UNPARSEABLE_KEY as UNPARSEABLE_KEY
from infobip_inbound.shell.redis_server import RedisServer, free_port
from tests.conftest import _roles
from tests.simulator_support import API_KEY, SimulatorProcess
from tests.support import Role, envelope, handled_ids, result, wait_until

pytest_plugins = ["tests.simulator_fixtures"]


def handled(path: Path) -> Counter[str]:
    return Counter(handled_ids(path))


StartWorker = Callable[..., Role]


@pytest.fixture
def poller_env(base_env: dict[str, str], sim: SimulatorProcess) -> dict[str, str]:
    sim.enable_pull()  # like Infobip, the simulator keeps messages for PULL only with a PULL action
    return {
        **base_env,
        "INBOUND_INFOBIP_BASE_URL": sim.base_url,
        "INBOUND_INFOBIP_API_KEY": API_KEY,
        "INBOUND_POLL_INTERVAL_SECONDS": "0.2",
        "INBOUND_POLL_TIMEOUT_SECONDS": "2",
        "INBOUND_POLL_LEASE_SECONDS": "6",
        "INBOUND_POLL_BACKOFF_MAX_SECONDS": "1",
    }


@pytest.fixture
def start_poller(tmp_path: Path) -> Iterator[Callable[..., Role]]:
    def make(n: int, env: dict[str, str], module: str = "infobip_inbound.shell.cli") -> Role:
        args = ["poller"] if module == "infobip_inbound.shell.cli" else []
        return Role(args, env, tmp_path / f"poller-{n}.log", module=module)

    yield from _roles(make)


def test_drains_20000_pending_within_the_throttle_each_handled_once(
    sim: SimulatorProcess,
    poller_env: dict[str, str],
    start_poller: Callable[..., Role],
    start_worker: StartWorker,
) -> None:
    sim.reset(requests_per_second=10)
    sim.enable_pull()
    ids = sim.inject(generate=20000)
    start_worker(poller_env)
    start_poller(poller_env)
    jsonl = Path(poller_env["INBOUND_JSONL__PATH"])
    wait_until(lambda: sum(handled(jsonl).values()) >= 20000, timeout=180, interval=0.5)
    counts = handled(jsonl)
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1
    counters = sim.counters()
    assert counters["pulled"] == 20000
    assert counters["throttled"] == 0
    assert counters["max_concurrent_pulls"] == 1


@pytest.mark.parametrize("crash_at", ["after_store", "after_enqueue"])
def test_killed_between_pull_and_queue_loses_nothing(
    sim: SimulatorProcess,
    poller_env: dict[str, str],
    start_poller: Callable[..., Role],
    start_worker: StartWorker,
    redis_client: redis.Redis,
    crash_at: str,
) -> None:
    ids = sim.inject(generate=2500)
    env = {**poller_env, "INBOUND_POLL_LIMIT": "1000", "CRASH_AT": crash_at}
    crashed = start_poller(env, module="tests.crash_poller")
    assert crashed.process is not None
    assert crashed.process.wait(timeout=60) == -signal.SIGKILL
    assert sim.counters()["pulled"] == 1000  # handed out once, never again
    if crash_at == "after_store":
        assert redis_client.hlen(RAW_KEY) == 1  # stored raw, not yet normalized

    start_worker(poller_env)
    start_poller(poller_env)
    jsonl = Path(poller_env["INBOUND_JSONL__PATH"])
    wait_until(lambda: sum(handled(jsonl).values()) >= 2500, timeout=120, interval=0.2)
    counts = handled(jsonl)
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1
    assert redis_client.hlen(RAW_KEY) == 0


def test_killed_at_random_points_of_a_drain_loses_nothing_and_repeats_nothing(
    sim: SimulatorProcess,
    poller_env: dict[str, str],
    start_poller: Callable[..., Role],
    start_worker: StartWorker,
) -> None:
    ids = sim.inject(generate=6000)
    env = {**poller_env, "INBOUND_POLL_LIMIT": "500", "CRASH_AT": "random", "CRASH_PULLS_MAX": "3"}
    rng = random.Random(4242)
    start_worker(poller_env)
    for _ in range(4):
        crashed = start_poller({**env, "CRASH_SEED": str(rng.randrange(1 << 30))}, module="tests.crash_poller")
        assert crashed.process is not None
        crashed.process.wait(timeout=60)
    start_poller(poller_env)
    jsonl = Path(poller_env["INBOUND_JSONL__PATH"])
    wait_until(lambda: sum(handled(jsonl).values()) >= 6000, timeout=120, interval=0.2)
    counts = handled(jsonl)
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1
    assert sim.counters()["pulled"] == 6000


def test_two_pollers_never_pull_at_once_and_the_follower_takes_over(
    sim: SimulatorProcess,
    poller_env: dict[str, str],
    start_poller: Callable[..., Role],
    start_worker: StartWorker,
    redis_client: redis.Redis,
) -> None:
    env = {**poller_env, "INBOUND_POLL_LIMIT": "100"}
    ids = sim.inject(generate=3000)
    start_worker(env)
    pollers = [start_poller(env), start_poller(env)]
    jsonl = Path(env["INBOUND_JSONL__PATH"])
    wait_until(lambda: sum(handled(jsonl).values()) >= 3000, timeout=120, interval=0.2)
    assert sim.counters()["max_concurrent_pulls"] == 1

    owner = redis_client.get(LEASE_KEY).decode().split("|")[0]  # type: ignore[union-attr]
    (leader,) = [p for p in pollers if owner in p.log()]
    leader.stop(kill=True)
    more = sim.inject(generate=500)
    # The follower takes over once the dead leader's lease (6 s) expires.
    wait_until(lambda: sum(handled(jsonl).values()) >= 3500, timeout=60, interval=0.2)
    counts = handled(jsonl)
    assert set(counts) == set(ids) | set(more)
    assert max(counts.values()) == 1
    assert sim.counters()["max_concurrent_pulls"] == 1


def test_a_429_burst_is_ridden_out(
    sim: SimulatorProcess,
    poller_env: dict[str, str],
    start_poller: Callable[..., Role],
    start_worker: StartWorker,
) -> None:
    sim.reset(requests_per_second=2)  # far below the poller's pace: it must back off
    sim.enable_pull()
    sim.faults(retry_after_seconds=1)
    ids = sim.inject(generate=1500)
    start_worker(poller_env)
    start_poller({**poller_env, "INBOUND_POLL_LIMIT": "100"})
    jsonl = Path(poller_env["INBOUND_JSONL__PATH"])
    wait_until(lambda: sum(handled(jsonl).values()) >= 1500, timeout=120, interval=0.2)
    counts = handled(jsonl)
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1
    assert sim.counters()["throttled"] > 0


def test_refused_credentials_stop_that_account_only(
    sim: SimulatorProcess,
    poller_env: dict[str, str],
    start_poller: Callable[..., Role],
    start_worker: StartWorker,
) -> None:
    ids = sim.inject(generate=300)
    health_port = free_port()
    accounts = [
        {"name": "good", "api_key": API_KEY},
        {"name": "revoked", "api_key": "not-a-valid-key-123"},
    ]
    env = {**poller_env, "INBOUND_POLL_ACCOUNTS": orjson.dumps(accounts).decode()}
    env |= {"INBOUND_HEALTH_PORT": str(health_port), "INBOUND_HOST": "127.0.0.1"}
    start_worker({k: v for k, v in env.items() if k != "INBOUND_HEALTH_PORT"})  # the port is the poller's
    poller = start_poller(env)
    jsonl = Path(env["INBOUND_JSONL__PATH"])
    wait_until(lambda: sum(handled(jsonl).values()) >= 300, timeout=60, interval=0.2)
    assert set(handled(jsonl)) == set(ids)
    wait_until(lambda: "POLLING STOPPED for account revoked" in poller.log(), timeout=30)
    assert "not-a-valid-key-123" not in poller.log()
    ready = httpx.get(f"http://127.0.0.1:{health_port}/health/ready", timeout=5)
    assert ready.status_code == 503
    assert "revoked" in ready.json()["stopped_accounts"]
    assert httpx.get(f"http://127.0.0.1:{health_port}/health/live", timeout=5).status_code == 200
    assert poller.process is not None and poller.process.poll() is None


def test_nothing_is_pulled_while_redis_is_down(
    sim: SimulatorProcess,
    poller_env: dict[str, str],
    start_poller: Callable[..., Role],
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    own = RedisServer(data_dir=tmp_path / "redis")
    own.start()
    env = {**poller_env, "INBOUND_REDIS_URL": own.url, "INBOUND_REDIS_SOCKET_TIMEOUT": "0.5"}
    try:
        start_worker(env)
        poller = start_poller(env)
        wait_until(lambda: "leading the pollers" in poller.log(), timeout=30)

        def refusals() -> int:
            return poller.log().count("Redis unavailable; not pulling")

        own.stop()
        # Messages arrive once the poller has seen Redis go (a pull already under way when it went may
        # rightly finish); from then on it must not pull at all, for three more ticks at least. Only a refusal
        # logged after the stop returned says so: a loaded machine can log one earlier (a command slower than
        # the 0.5 s socket timeout), and the tick after it may have pulled while Redis was still going.
        before = refusals()
        wait_until(lambda: refusals() > before, timeout=30)
        seen = refusals()
        ids = sim.inject(generate=200)
        wait_until(lambda: refusals() >= seen + 3, timeout=30)
        assert sim.counters()["pulled"] == 0
        own.start()
        jsonl = Path(env["INBOUND_JSONL__PATH"])
        wait_until(lambda: sum(handled(jsonl).values()) >= 200, timeout=60, interval=0.2)
        assert set(handled(jsonl)) == set(ids)
    finally:
        own.cleanup()


def _pull_store(redis_client: redis.Redis, redis_url: str) -> Any:
    from infobip_inbound.contract.routing import Router
    from infobip_inbound.contract.settings import load_settings
    from infobip_inbound.receiver.enqueue import InboxWriter
    from infobip_inbound.receiver.pull_store import PullStore

    settings = load_settings(redis_url=redis_url)
    return PullStore(redis_client, InboxWriter(settings), Router.from_settings(settings), Path("/nonexistent"))


def test_an_answer_that_is_not_an_envelope_is_quarantined_whole(
    poller_env: dict[str, str], redis_client: redis.Redis, redis_url: str
) -> None:
    store = _pull_store(redis_client, redis_url)
    store.store("b1", b"<html>proxy error</html>")
    (outcome,) = store.recover()
    assert outcome.pending is None
    (entry,) = quarantine.select(redis_client)
    assert (entry.kind, entry.source, entry.raw, entry.batch_id) == ("body", "pull", "<html>proxy error</html>", "b1")
    assert "not an envelope" in entry.reason
    assert redis_client.hlen(RAW_KEY) == 0


def test_what_earlier_versions_kept_aside_whole_is_read_again_result_by_result(
    poller_env: dict[str, str], redis_client: redis.Redis, redis_url: str
) -> None:
    body = orjson.dumps(envelope(result("good-1"), {"messageId": "odd-1", "text": "no application code"}))
    redis_client.hset(UNPARSEABLE_KEY, "00000000000000000001:main:1:abcd", body)
    store = _pull_store(redis_client, redis_url)
    (outcome,) = store.recover()
    assert (outcome.messages, outcome.accepted, outcome.quarantined) == (1, 1, 1)
    (entry,) = quarantine.select(redis_client)
    assert (entry.message_id, entry.account, entry.kind) == ("odd-1", "main", "result")
    assert redis_client.hlen(UNPARSEABLE_KEY) == 0
    assert redis_client.llen("inbound:inbox:infobip-inbound") == 1
