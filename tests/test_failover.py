"""A Sentinel failover under load: nothing acknowledged is lost when the primary's node dies.

A primary, one replica and three Sentinels on loopback; a receiver, a poller (against the simulator's pull
inbox) and a worker, all through the Sentinels. Forwards are posted the way Infobip does: each retried until
it is answered 200. The replica is cut off (paused, its link dropped by the primary) while more is forwarded
and pulled, then the primary is killed with its data (no AOF to come back with), the Sentinels promote the
replica, a fresh node joins as the new replica, and more load follows. With one acknowledging replica every
message answered 200 and every message pulled is handled, the worker running through it all (what it handled
from the lost primary, answered 503 there and forwarded again, is handled twice: at least once); the run with
none holds the worker behind (a backlog) to show what such a failover loses. Both print their counts.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from infobip_inbound.shell.redis_server import RedisServer
from tests.conftest import TOKEN
from tests.replicas import Sentinels, link_up, paused, start_replica
from tests.simulator_support import API_KEY, SimulatorProcess
from tests.support import ReceiverProcess, Role, envelope, result, wait_until

pytest_plugins = ["tests.simulator_fixtures"]

MASTER = "inbound-failover"
BATCH = 10


@dataclass
class Cluster:
    directory: Path
    primary: RedisServer
    replica: RedisServer
    sentinels: Sentinels
    servers: list[RedisServer] = field(default_factory=list)

    def lose_the_primary(self) -> None:
        """SIGKILL the primary; its data goes with its node (the next one there starts empty)."""
        self.primary.stop(kill=True)

    def promoted(self) -> bool:
        return self.sentinels.primary_port() == self.replica.port

    def new_replica(self) -> RedisServer:
        """A fresh, empty node where the primary was, replicating the promoted one (as a restarted pod does:
        it asks the Sentinels for the primary and follows it)."""
        node = RedisServer(port=self.primary.port, data_dir=self.directory / "node-a-again")
        node.start()
        self.servers.append(node)
        with redis.Redis(port=node.port) as client:
            client.replicaof("127.0.0.1", self.replica.port)
        wait_until(lambda: link_up(node), timeout=30)
        return node


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    primary = RedisServer(data_dir=tmp_path / "node-a")
    primary.start()
    servers = [primary]
    sentinels: Sentinels | None = None
    try:
        replica = start_replica(primary.port, tmp_path / "node-b")
        servers.append(replica)
        sentinels = Sentinels(tmp_path, primary.port, MASTER)
        sentinels.wait_ready(replicas=1)
        yield Cluster(tmp_path, primary, replica, sentinels, servers)
    finally:
        if sentinels is not None:
            sentinels.stop()
        for server in servers:
            server.cleanup()


class Forwarder:
    """Posts batches as Infobip forwards them: all at once, each retried until answered 200 (bounded)."""

    def __init__(self, url: str, deadline: float) -> None:
        self.url = url
        self.deadline = deadline
        self.acknowledged: list[str] = []
        self.tries: Counter[int] = Counter()  # batch number -> attempts so far
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(40)  # a retried batch holds its thread: one each
        self._futures: list[Future[None]] = []
        self._batches = 0

    def send(self, count: int, prefix: str) -> list[int]:
        """Queue `count` batches of BATCH messages; their numbers."""
        numbers = []
        for _ in range(count):
            number = self._batches
            self._batches += 1
            ids = [f"{prefix}-{number:03d}-{i}" for i in range(BATCH)]
            self._futures.append(self._pool.submit(self._post, number, ids))
            numbers.append(number)
        return numbers

    def _post(self, number: int, ids: list[str]) -> None:
        body = orjson.dumps(envelope(*(result(m) for m in ids)))
        headers = {"Content-Type": "application/json"}
        url = f"{self.url}/infobip/forward/{TOKEN}"
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < self.deadline:
                try:
                    status = client.post(url, content=body, headers=headers).status_code
                except httpx.TransportError:
                    status = 0
                with self._lock:
                    self.tries[number] += 1
                    if status == 200:
                        self.acknowledged += ids
                        return
                time.sleep(0.1)

    def tried(self, numbers: list[int]) -> bool:
        with self._lock:
            return all(self.tries[n] for n in numbers)

    def finish(self) -> None:
        wait_all(self._futures)
        self._pool.shutdown()


def calls(log: Path) -> Counter[str]:
    return Counter(log.read_text().split()) if log.exists() else Counter()


def settled(log: Path, quiet: float = 2.0, timeout: float = 30.0) -> Counter[str]:
    """The calls once none has come for `quiet` seconds (bounded): late repeats are counted too."""
    last, since, deadline = calls(log), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.2)
        now = calls(log)
        if now != last:
            last, since = now, time.monotonic()
    return last


@pytest.mark.parametrize("ack_replicas", [1, 0])
def test_a_failover_under_load_loses_nothing_acknowledged(
    cluster: Cluster,
    sim: SimulatorProcess,
    base_env: dict[str, str],
    start_receiver: Callable[[dict[str, str]], ReceiverProcess],
    start_worker: Callable[..., Role],
    tmp_path: Path,
    ack_replicas: int,
) -> None:
    hold, log = tmp_path / "hold", tmp_path / "calls.log"
    env = {k: v for k, v in base_env.items() if k != "INBOUND_REDIS_URL"} | {
        "INBOUND_REDIS_SENTINELS": cluster.sentinels.setting,
        "INBOUND_REDIS_SENTINEL_MASTER": MASTER,
        "INBOUND_REDIS_SOCKET_TIMEOUT": "2",
        "INBOUND_REDIS_ACK_REPLICAS": str(ack_replicas),
        "INBOUND_REDIS_ACK_TIMEOUT_MS": "300",
        "INBOUND_DEFAULT_HANDLERS": '["tests.handlers:hold_then_record"]',
        "TEST_HOLD_FILE": str(hold),
        "TEST_CALL_LOG": str(log),
        "INBOUND_INFOBIP_BASE_URL": sim.base_url,
        "INBOUND_INFOBIP_API_KEY": API_KEY,
        "INBOUND_POLL_INTERVAL_SECONDS": "0.2",
        "INBOUND_POLL_TIMEOUT_SECONDS": "2",
        "INBOUND_POLL_LEASE_SECONDS": "6",
        "INBOUND_POLL_BACKOFF_MAX_SECONDS": "1",
        "INBOUND_POLL_SPILL_DIR": str(tmp_path / "spill"),
    }
    receiver = start_receiver(env)
    start_worker(env)
    poller = Role(["poller"], env, tmp_path / "poller.log")
    poller.start()
    try:
        forwarder = Forwarder(receiver.base_url, deadline=time.monotonic() + 90)
        pulled: list[str] = []

        def all_pulled() -> bool:
            return int(sim.state()["inbox"]) == 0

        # Healthy: forwarded and pulled, replicated as they come (and handled: nothing of it is left in the
        # poller's spill file when the replica is cut off).
        forwarder.send(10, "healthy")
        sim.enable_pull()
        pulled += sim.inject(generate=100)
        wait_until(lambda: len(set(calls(log))) == 200, timeout=60, interval=0.2)

        # The replica is cut off: its link dropped, it hears nothing more. Without acknowledgement the workers
        # are held behind first, as a backlog would keep them, so what the lost primary held is not handled.
        if not ack_replicas:
            hold.touch()
        with paused(cluster.replica):
            with redis.Redis(port=cluster.primary.port) as primary:
                primary.client_kill_filter(_type="replica")
            cut_off = forwarder.send(20, "cut-off")
            pulled += sim.inject(generate=100)
            # Without acknowledgement everything is pulled and stored on the primary alone; with it, the first
            # pull's batch is not acknowledged, so it is spilled and nothing more is pulled until it is.
            spill = tmp_path / "spill"
            held = all_pulled if not ack_replicas else lambda: spill.is_dir() and any(spill.iterdir())
            wait_until(lambda: forwarder.tried(cut_off) and held(), timeout=30)
            cluster.lose_the_primary()
        wait_until(cluster.promoted, timeout=30, interval=0.1)
        cluster.new_replica()

        # After the failover: more load, and the workers catch up.
        forwarder.send(10, "after")
        pulled += sim.inject(generate=100)
        hold.unlink(missing_ok=True)
        forwarder.finish()
        wait_until(all_pulled, timeout=30)
        answered = set(forwarder.acknowledged)
        expected = answered | set(pulled)
        if ack_replicas:
            assert len(answered) == 400, "every forward is answered 200 in the end (Infobip retries)"
            wait_until(lambda: expected <= set(calls(log)), timeout=45, interval=0.2)
        handled = settled(log)
        lost = expected - set(handled)
        twice = sum(1 for count in handled.values() if count > 1)
        print(
            f"\nREDIS_ACK_REPLICAS={ack_replicas}: answered 200 {len(answered)}, pulled {len(pulled)}, "
            f"lost {len(lost)} ({len(lost & answered)} forwarded, {len(lost & set(pulled))} pulled), "
            f"handled twice {twice}"
        )
        if ack_replicas:
            assert not lost
    finally:
        poller.stop()
        print(f"--- poller.log (tail)\n{poller.log()[-3000:]}")
