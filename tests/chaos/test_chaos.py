"""Chaos suite: messages through forward (direct posts, retried until 200 as Infobip does) and pull (the
simulator's inbox) together, while worker processes are SIGKILLed mid-batch, Redis is restarted (AOF on),
the receiver is SIGKILLed at random moments and the poller is killed at random code points. At the end
each message must have been handled exactly once by each handler. CHAOS_MESSAGES sets the size (CI: 20000)."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson

from infobip_inbound.shell.redis_server import RedisServer
from tests.simulator_support import API_KEY, SimulatorProcess
from tests.support import ReceiverProcess, Role, envelope, result

pytest_plugins = ["tests.simulator_fixtures"]

TOTAL = int(os.environ.get("CHAOS_MESSAGES", "20000"))
TOKEN = "chaos-token-0a1b2c3d4e"


def counts(path: Path) -> Counter[str]:
    return Counter(path.read_text().split()) if path.exists() else Counter()


def test_nothing_lost_nothing_repeated_under_faults(sim: SimulatorProcess, tmp_path: Path) -> None:
    rng = random.Random(20240611)
    redis_server = RedisServer(data_dir=tmp_path / "redis")
    redis_server.start()
    chaos_dir = tmp_path / "chaos"
    chaos_dir.mkdir()
    forward_count = TOTAL // 2
    pull_ids = sim.inject(generate=TOTAL - forward_count)
    forward_ids = [f"fwd-{i:06d}" for i in range(forward_count)]
    kill_calls = sorted(rng.sample(range(500, TOTAL // 2), 2))
    env = {
        "INBOUND_REDIS_URL": redis_server.url,
        "INBOUND_FORWARD_TOKENS": TOKEN,
        "INBOUND_DEFAULT_HANDLERS": '["tests.chaos.handlers:first", "tests.chaos.handlers:second"]',
        "INBOUND_HANDLER_RETRY_DEFAULT": '{"max_tries": 999, "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.5}',
        "INBOUND_JOB_VISIBILITY_SECONDS": "3",
        "INBOUND_REDIS_SOCKET_TIMEOUT": "2",
        "INBOUND_LOG_LEVEL": "WARNING",
        "INBOUND_INFOBIP_BASE_URL": sim.base_url,
        "INBOUND_INFOBIP_API_KEY": API_KEY,
        "INBOUND_POLL_INTERVAL_SECONDS": "0.2",
        "INBOUND_POLL_LIMIT": "500",
        "INBOUND_POLL_LEASE_SECONDS": "6",
        "INBOUND_POLL_TIMEOUT_SECONDS": "1",
        "INBOUND_POLL_SPILL_DIR": str(tmp_path / "spill"),
        "CHAOS_DIR": str(chaos_dir),
        "CHAOS_KILL_AT_CALLS": ",".join(map(str, kill_calls)),
    }
    faults: Counter[str] = Counter()
    roles: dict[str, Role] = {}
    lock = threading.Lock()

    def start(name: str, role: Role) -> None:
        role.start()
        roles[name] = role

    def alive(name: str) -> bool:
        process = roles[name].process
        return process is not None and process.poll() is None

    start("receiver", ReceiverProcess(env, tmp_path / "receiver.log"))
    for n in range(2):
        start(f"worker{n}", Role(["worker"], env, tmp_path / f"worker{n}.log"))
    start("poller", Role([], {**env, "CRASH_AT": "random", "CRASH_SEED": "1"}, tmp_path / "poller.log",
                         module="tests.crash_poller"))  # fmt: skip

    def post_all() -> None:
        with httpx.Client(timeout=5) as client:
            for start_at in range(0, forward_count, 20):
                body = orjson.dumps(envelope(*(result(i) for i in forward_ids[start_at : start_at + 20])))
                for _ in range(2000):  # as Infobip does: retry until a 200
                    with lock:
                        url = roles["receiver"].base_url  # type: ignore[attr-defined]
                    try:
                        answer = client.post(f"{url}/infobip/forward/{TOKEN}", content=body,
                                             headers={"Content-Type": "application/json"})  # fmt: skip
                        if answer.status_code == 200:
                            break
                    except httpx.TransportError:
                        pass  # the receiver is being killed or restarted: retry, as Infobip would
                    time.sleep(0.05)
                else:
                    raise AssertionError("a forward batch was never accepted")

    poster = threading.Thread(target=post_all)
    poster.start()
    first_log, second_log = chaos_dir / "first.log", chaos_dir / "second.log"
    deadline = time.monotonic() + 400
    redis_restarted = receiver_kills = 0
    poller_crashes = 0
    while time.monotonic() < deadline:
        handled = len(counts(first_log))
        if handled >= TOTAL and len(counts(second_log)) >= TOTAL and not poster.is_alive():
            break
        # Restart what died (killed workers, crashed pollers); inject the other faults along the way.
        for n in range(2):
            if not alive(f"worker{n}"):
                faults["worker_sigkill"] += 1
                start(f"worker{n}", Role(["worker"], env, tmp_path / f"worker{n}.log"))
        if not alive("poller"):
            poller_crashes += 1
            faults["poller_kill_at_code_point"] += 1
            crash = {"CRASH_AT": "random", "CRASH_SEED": str(rng.randrange(1 << 30)), "CRASH_PULLS_MAX": "4"}
            if poller_crashes >= 4:  # then a poller that runs to the end
                start("poller", Role(["poller"], env, tmp_path / "poller.log"))
            else:
                start("poller", Role([], {**env, **crash}, tmp_path / "poller.log", module="tests.crash_poller"))
        if redis_restarted == 0 and handled > TOTAL // 3:
            redis_server.stop()
            time.sleep(rng.uniform(0.5, 2.0))
            redis_server.start()
            redis_restarted = 1
            faults["redis_restart"] += 1
        if receiver_kills < 3 and poster.is_alive() and rng.random() < 0.6:
            roles["receiver"].stop(kill=True)
            with lock:
                start("receiver", ReceiverProcess(env, tmp_path / "receiver.log"))
            receiver_kills += 1
            faults["receiver_sigkill"] += 1
        time.sleep(0.3)
    poster.join(timeout=60)
    first, second = counts(first_log), counts(second_log)
    produced = set(forward_ids) | set(pull_ids)
    report = {
        "messages": len(produced),
        "forward": len(forward_ids),
        "pull": len(pull_ids),
        "faults": dict(faults),
        "lost_first": len(produced - set(first)),
        "lost_second": len(produced - set(second)),
        "duplicated_first": sum(1 for c in first.values() if c > 1),
        "duplicated_second": sum(1 for c in second.values() if c > 1),
    }
    print("\nCHAOS", orjson.dumps(report).decode())
    for role in roles.values():
        role.stop()
    redis_server.cleanup()
    assert faults["worker_sigkill"] >= 1 and faults["redis_restart"] == 1 and faults["receiver_sigkill"] >= 1
    assert report["lost_first"] == report["lost_second"] == 0
    assert report["duplicated_first"] == report["duplicated_second"] == 0
