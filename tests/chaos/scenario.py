"""The chaos scenario's machinery, shared by the CI chaos test and the soak (tests/chaos/soak.py).

One `Chaos` holds a Redis server (AOF on, optionally fsync always), a receiver, two workers and a poller
(`tests.crash_poller`, which kills itself at a random code point) as real processes, the forward poster
(retrying each batch until a 200, as Infobip does) and what the chaos handlers wrote. The caller drives
the faults: `kill_worker`, `kill_receiver`, `restart_redis`, and `revive` to restart what died.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import httpx
import orjson
import redis

from infobip_inbound.shell.redis_server import RedisServer
from tests.simulator_support import API_KEY, SimulatorProcess
from tests.support import ReceiverProcess, Role, envelope, result

TOKEN = "chaos-token-0a1b2c3d4e"
HANDLERS = ("first", "second")
FORWARD_BATCH = 20
HANDLER_RETRY = '{"max_tries": 999, "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.5}'


def counts(path: Path) -> Counter[str]:
    return Counter(path.read_text().split()) if path.exists() else Counter()


def fsync_always_binary(redis_bin: str, directory: Path) -> str:
    """A wrapper that starts `redis_bin` with `appendfsync always` (a later option wins over an earlier one)."""
    wrapper = directory / "redis-server-fsync-always"
    wrapper.write_text(f'#!/bin/sh\nexec "{redis_bin}" "$@" --appendfsync always\n')
    wrapper.chmod(0o755)
    return str(wrapper)


class Chaos:
    def __init__(
        self,
        sim: SimulatorProcess,
        workdir: Path,
        total: int,
        rng: random.Random,
        *,
        kill_calls: Iterable[int] = (),
        fsync_always: bool = False,
        workers: int = 2,
    ) -> None:
        self.sim = sim
        self.workdir = workdir
        self.rng = rng
        workdir.mkdir(parents=True, exist_ok=True)
        self.redis = RedisServer(data_dir=workdir / "redis")
        if fsync_always:
            self.redis.binary = fsync_always_binary(self.redis.binary, workdir)
        self.chaos_dir = workdir / "chaos"
        self.chaos_dir.mkdir(parents=True)
        forward_count = total // 2
        self.forward_ids = [f"fwd-{i:06d}" for i in range(forward_count)]
        self.pull_ids: list[str] = []
        self.total = total
        self.workers = workers
        self.env = {
            "INBOUND_REDIS_URL": "",
            "INBOUND_FORWARD_TOKENS": TOKEN,
            "INBOUND_DEFAULT_HANDLERS": orjson.dumps([f"tests.chaos.handlers:{name}" for name in HANDLERS]).decode(),
            "INBOUND_HANDLER_RETRY_DEFAULT": HANDLER_RETRY,
            "INBOUND_JOB_VISIBILITY_SECONDS": "3",
            "INBOUND_REDIS_SOCKET_TIMEOUT": "2",
            "INBOUND_LOG_LEVEL": "WARNING",
            "INBOUND_INFOBIP_BASE_URL": sim.base_url,
            "INBOUND_INFOBIP_API_KEY": API_KEY,
            "INBOUND_POLL_INTERVAL_SECONDS": "0.2",
            "INBOUND_POLL_LIMIT": "500",
            "INBOUND_POLL_LEASE_SECONDS": "6",
            "INBOUND_POLL_TIMEOUT_SECONDS": "1",
            "INBOUND_POLL_SPILL_DIR": str(workdir / "spill"),
            "CHAOS_DIR": str(self.chaos_dir),
            "CHAOS_KILL_AT_CALLS": ",".join(map(str, kill_calls)),
        }
        self.faults: Counter[str] = Counter()
        self.roles: dict[str, Role] = {}
        self.poller_crashes = 0
        self.acknowledged: list[str] = []  # forward ids answered 200
        self._lock = threading.Lock()
        self._poster: threading.Thread | None = None
        self.poster_error: str | None = None

    # Processes.
    def start(self) -> None:
        self.redis.start()
        self.env["INBOUND_REDIS_URL"] = self.redis.url
        with redis.Redis.from_url(self.redis.url, decode_responses=True) as client:
            self.appendfsync = client.config_get("appendfsync")["appendfsync"]
        self.sim.enable_pull()
        self.pull_ids = self.sim.inject(generate=self.total - len(self.forward_ids))
        self._start("receiver", ReceiverProcess(self.env, self.workdir / "receiver.log"))
        for n in range(self.workers):
            self._start(f"worker{n}", self._worker(n))
        self._start("poller", self._crashing_poller("1"))
        self._poster = threading.Thread(target=self._post_all, daemon=True)
        self._poster.start()

    def _start(self, name: str, role: Role) -> None:
        role.start()
        self.roles[name] = role

    def _worker(self, n: int) -> Role:
        return Role(["worker"], self.env, self.workdir / f"worker{n}.log")

    def _crashing_poller(self, seed: str, pulls_max: str = "5") -> Role:
        crash = {"CRASH_AT": "random", "CRASH_SEED": seed, "CRASH_PULLS_MAX": pulls_max}
        return Role([], {**self.env, **crash}, self.workdir / "poller.log", module="tests.crash_poller")

    def alive(self, name: str) -> bool:
        process = self.roles[name].process
        return process is not None and process.poll() is None

    def revive(self, crash_poller: bool, pulls_max: int = 4) -> None:
        """Restarts dead workers and a dead poller: one that crashes again at a random point (within its first
        `pulls_max` pulls), or one that runs on."""
        for n in range(self.workers):
            if not self.alive(f"worker{n}"):
                self.faults["worker_sigkill"] += 1
                self._start(f"worker{n}", self._worker(n))
        if not self.alive("poller"):
            self.poller_crashes += 1
            self.faults["poller_kill_at_code_point"] += 1
            if crash_poller:
                self._start("poller", self._crashing_poller(str(self.rng.randrange(1 << 30)), str(pulls_max)))
            else:
                self._start("poller", Role(["poller"], self.env, self.workdir / "poller.log"))

    def calm_poller(self) -> None:
        """Replaces a poller that may still crash by one that runs to the end."""
        if self.roles["poller"].module != "infobip_inbound.shell.cli":
            self.roles["poller"].stop()
            self._start("poller", Role(["poller"], self.env, self.workdir / "poller.log"))

    # Faults.
    def kill_worker(self) -> None:
        """SIGKILLs a live worker; `revive` restarts it (and counts the fault)."""
        process = self.roles[f"worker{self.rng.randrange(self.workers)}"].process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def kill_receiver(self, attempts: int = 1) -> None:
        """SIGKILLs the receiver and starts another; `attempts` > 1 tries again when one is slow to go live
        (a loaded machine), rather than ending a long soak."""
        self.roles["receiver"].stop(kill=True)
        with self._lock:
            for attempt in range(attempts):
                receiver = ReceiverProcess(self.env, self.workdir / "receiver.log")
                try:
                    self._start("receiver", receiver)
                    break
                except AssertionError:
                    receiver.stop(kill=True)
                    if attempt == attempts - 1:
                        raise
        self.faults["receiver_sigkill"] += 1

    def restart_redis(self, down_seconds: float, kill: bool = False) -> None:
        self.redis.stop(kill=kill)
        time.sleep(down_seconds)
        self.redis.start()
        self.faults["redis_restart"] += 1

    # Traffic.
    def posting(self) -> bool:
        return self._poster is not None and self._poster.is_alive()

    def join_poster(self, timeout: float) -> None:
        if self._poster is not None:
            self._poster.join(timeout=timeout)

    def _post_all(self) -> None:
        try:
            with httpx.Client(timeout=5) as client:
                for start_at in range(0, len(self.forward_ids), FORWARD_BATCH):
                    ids = self.forward_ids[start_at : start_at + FORWARD_BATCH]
                    self._post_until_accepted(client, orjson.dumps(envelope(*(result(i) for i in ids))))
                    self.acknowledged.extend(ids)
        except AssertionError as error:
            self.poster_error = str(error)

    def _post_until_accepted(self, client: httpx.Client, body: bytes) -> None:
        for _ in range(2000):  # as Infobip does: retry until a 200
            with self._lock:
                url = self.roles["receiver"].base_url  # type: ignore[attr-defined]
            # A transport error: the receiver is being killed or restarted; retry, as Infobip would.
            with contextlib.suppress(httpx.TransportError):
                answer = client.post(f"{url}/infobip/forward/{TOKEN}", content=body,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
                if answer.status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError("a forward batch was never accepted")

    # What happened.
    def handled(self) -> dict[str, Counter[str]]:
        return {name: counts(self.chaos_dir / f"{name}.log") for name in HANDLERS}

    def pulled_ids(self) -> list[str]:
        """The pull messages the simulator handed out (it hands its inbox out in the order it was filled)."""
        return self.pull_ids[: self.sim.counters()["pulled"]]

    def stop(self) -> None:
        for role in self.roles.values():
            role.stop()
        self.redis.cleanup()
