"""`infobip-inbound status` and the receiver's status page against a real Redis holding jobs in several states:
dead-lettered, scheduled for retry, running, waiting; a real poller holding the lease; a real browser."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import redis
from rq.registry import StartedJobRegistry

from tests.simulator_support import API_KEY, SimulatorProcess
from tests.support import ROOT, ReceiverProcess, Role, forward, headless_chromium, result, run_cli, wait_until

pytest_plugins = ["tests.simulator_fixtures"]

ADMIN_TOKEN = "status-admin-token-1c9e"
FAILING = "tests.handlers:always_fail"
WAITING = "tests.handlers:wait_for_file"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def env(base_env: dict[str, str], sim: SimulatorProcess, tmp_path: Path) -> dict[str, str]:
    import os

    routes = [
        {"name": "payments", "match": {"keyword": ["PAY"]}, "handlers": [FAILING], "queue": "payments"},
        {"name": "slow", "match": {"keyword": ["WAIT"]}, "handlers": [WAITING], "queue": "slow"},
    ]
    return {
        **os.environ,
        **base_env,
        "INBOUND_ROUTES": orjson.dumps(routes).decode(),
        "INBOUND_ADMIN_TOKENS": ADMIN_TOKEN,
        "INBOUND_INFOBIP_BASE_URL": sim.base_url,
        "INBOUND_INFOBIP_API_KEY": API_KEY,
        "INBOUND_POLL_INTERVAL_SECONDS": "0.2",
        "INBOUND_POLL_TIMEOUT_SECONDS": "2",
        "INBOUND_POLL_LEASE_SECONDS": "30",
        "TEST_RELEASE_FILE": str(tmp_path / "release"),
    }


@pytest.fixture
def roles(tmp_path: Path) -> Iterator[Callable[..., Role]]:
    started: list[Role] = []

    def start(env: dict[str, str], *args: str) -> Role:
        role = Role(list(args), env, tmp_path / f"{args[0]}-{len(started)}.log")
        started.append(role)
        role.start()
        return role

    yield start
    for role in reversed(started):
        role.stop()


def test_status_command_and_page_with_jobs_in_several_states(
    env: dict[str, str],
    sim: SimulatorProcess,
    roles: Callable[..., Role],
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    # Dead letters: one try only, three responses whose handler always fails; four handled fine.
    first = ReceiverProcess(env, tmp_path / "receiver-1.log")
    first.start()
    try:
        forward(first, *(result(f"pay-{i}", keyword="PAY") for i in range(3)))
        forward(first, *(result(f"ok-{i}") for i in range(4)))
    finally:
        first.stop()
    one_try = {**env, "INBOUND_HANDLER_RETRY_DEFAULT": '{"max_tries": 1}'}
    run_cli(one_try, "worker", "--burst", "--queue", "payments", "--queue", "infobip-inbound")

    receiver = ReceiverProcess(env, tmp_path / "r2.log")
    receiver.start()
    try:
        # Scheduled: fails once, its retry waits an hour.
        forward(receiver, *(result(f"later-{i}", keyword="PAY") for i in range(2)))
        retry_later = {
            **env,
            "INBOUND_HANDLER_RETRY_DEFAULT": '{"max_tries": 2, "backoff_base_seconds": 3600, "jitter": 0}',
        }
        run_cli(retry_later, "worker", "--burst", "--queue", "payments")
        # Running: a handler holding its job until released.
        forward(receiver, result("hold-1", keyword="WAIT"))
        roles(env, "worker", "--queue", "slow")
        wait_until(lambda: StartedJobRegistry("slow", connection=redis_client).count == 1, timeout=60)
        # Waiting: no worker on the default queue now; two of them duplicates.
        assert forward(receiver, *(result(f"wait-{i}") for i in range(5))) == {
            "accepted": 5,
            "duplicates": 0,
            "quarantined": 0,
        }
        assert forward(receiver, result("wait-0"), result("ok-1")) == {"accepted": 0, "duplicates": 2, "quarantined": 0}
        # PULL: a real poller takes the lease and drains three messages into the default queue.
        sim.enable_pull()
        sim.inject(generate=3)
        roles(env, "poller")

        def drained() -> bool:
            status = orjson.loads(run_cli(env, "status", "--json"))
            return bool(status["poller"]["leader"] and status["poller"]["last_drain_at"])

        wait_until(drained, timeout=60, interval=0.3)

        figures = orjson.loads(run_cli(env, "status", "--json"))
        queues = {q["queue"]: q for q in figures["queues"]}
        assert set(queues) == {"infobip-inbound", "payments", "slow"}
        assert queues["payments"]["failed"] == 0  # failed handler calls are dead-lettered, not failed jobs
        assert queues["payments"]["scheduled"] == 1
        assert queues["payments"]["depth"] == 0
        assert queues["slow"]["started"] == 1
        assert queues["infobip-inbound"]["depth"] >= 2  # the forwarded and the pulled jobs, never worked
        assert queues["infobip-inbound"]["oldest_job_age_seconds"] >= 0
        assert figures["handlers"][FAILING]["dead_letters"] == 3
        assert figures["handlers"]["jsonl"]["dead_letters"] == 0
        assert figures["workers"] == {"alive": 1, "busy": 1}
        poller = figures["poller"]
        assert poller["leader"] is not None and poller["fencing_token"] >= 1
        assert poller["pollers"][0]["accounts"]["default"]["pulled"] == 3
        assert figures["dedup"] == {"accepted": 18, "duplicates": 2, "hit_rate": 0.1}
        hour = figures["last_hour"]
        assert sum(m["accepted"] for m in hour) == 18
        assert sum(m["duplicates"] for m in hour) == 2
        assert sum(m["handled"] for m in hour) == 4
        assert sum(m["failed"] for m in hour) == 5  # three dead-lettered, two awaiting their retry
        assert figures["last_minute"]["accepted"] <= 18

        text = run_cli(env, "status")
        assert "payments" in text and "slow" in text
        assert f"{poller['leader']} holds the lease" in text
        assert "Workers: 1 alive, 1 busy" in text
        assert "hit rate 10.0%" in text
        watched = run_cli(env, "status", "--watch", "--count", "2", "--interval", "0.5")
        assert watched.count("infobip-inbound status at") == 2

        check_page(receiver, tmp_path)
    finally:
        (tmp_path / "release").touch()
        receiver.stop()


def check_page(receiver: ReceiverProcess, tmp_path: Path) -> None:
    page_url = receiver.base_url + "/admin/status"
    assert httpx.get(page_url, timeout=10).status_code == 401
    assert httpx.get(page_url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    bearer = httpx.get(page_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    assert bearer.status_code == 200
    assert "default-src 'none'" in bearer.headers["content-security-policy"]
    basic = "Basic " + base64.b64encode(f"ops:{ADMIN_TOKEN}".encode()).decode()
    html = httpx.get(page_url, headers={"Authorization": basic}, timeout=10).text
    for text in ("payments", "slow", FAILING, "holds the lease", "Received per minute", "<svg"):
        assert text in html
    figures = httpx.get(page_url + ".json", headers={"Authorization": basic}, timeout=10).json()
    assert figures["handlers"][FAILING]["dead_letters"] == 3

    browser = headless_chromium(tmp_path / "chromium", "--window-size=1280,1500", "--virtual-time-budget=3000")
    authed_url = page_url.replace("http://", f"http://ops:{ADMIN_TOKEN}@")
    dom = subprocess.run([*browser, "--dump-dom", authed_url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-rendered="yes"' in dom.stdout  # the page's script ran under its Content-Security-Policy
    assert "payments" in dom.stdout and "Received per minute" in dom.stdout
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "status-page.png"
    screenshot.unlink(missing_ok=True)
    shot = subprocess.run(
        [*browser, f"--screenshot={screenshot}", authed_url], capture_output=True, text=True, timeout=120
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10_000
