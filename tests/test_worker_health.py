"""Health endpoints of `infobip-inbound worker` (INBOUND_HEALTH_PORT), served by real worker processes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from infobip_inbound.contract.settings import load_settings
from infobip_inbound.shell.redis_server import RedisServer, free_port
from infobip_inbound.workers.worker import WorkerHealth
from tests.support import Role, wait_until

StartWorker = Callable[..., Role]


def get(port: int, path: str) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10)
    except httpx.TransportError:
        return None


def status(port: int, path: str) -> int | None:
    answer = get(port, path)
    return None if answer is None else answer.status_code


@pytest.mark.parametrize("processes", ["1", "3"])
def test_live_and_ready_follow_the_work_loop_and_redis(
    start_worker: StartWorker, base_env: dict[str, str], tmp_path: Path, processes: str
) -> None:
    own = RedisServer(data_dir=tmp_path / "redis")
    own.start()
    try:
        port = free_port()
        env = {**base_env, "INBOUND_REDIS_URL": own.url, "INBOUND_HEALTH_PORT": str(port), "INBOUND_HOST": "127.0.0.1"}
        worker = start_worker(env, "--processes", processes)

        def answers(path: str, code: int) -> Callable[[], bool]:
            def check() -> bool:
                assert worker.process is not None
                if worker.process.poll() is not None:
                    raise AssertionError(f"worker exited {worker.process.returncode}:\n{worker.log()}")
                return status(port, path) == code

            return check

        wait_until(answers("/health/live", 200), timeout=30)
        live = get(port, "/health/live")
        assert live is not None and live.json()["status"] == "ok" and "loop_age_s" in live.json()
        ready = get(port, "/health/ready")
        assert ready is not None and ready.status_code == 200 and ready.json()["redis"] == "ok"
        assert status(port, "/health/other") == 404

        own.stop()
        wait_until(answers("/health/ready", 503), timeout=30)
        down = get(port, "/health/ready")
        assert down is not None and down.json()["redis"] == "unavailable"
        # Restarting the worker would not bring Redis back: the loop keeps retrying and stays live.
        assert status(port, "/health/live") == 200

        own.start()  # same port, same data
        wait_until(answers("/health/ready", 200), timeout=60)
        assert status(port, "/health/live") == 200
        assert worker.stop() == 0, worker.log()
    finally:
        own.cleanup()


def test_without_a_health_port_nothing_listens(start_worker: StartWorker, base_env: dict[str, str]) -> None:
    port = free_port()
    worker = start_worker(base_env)
    wait_until(lambda: "Listening on" in worker.log(), timeout=30)
    assert get(port, "/health/live") is None


def test_live_fails_when_the_loop_has_not_turned_for_too_long(redis_url: str) -> None:
    settings = load_settings(redis_url=redis_url)
    ages: list[float | None] = [None]
    health = WorkerHealth(settings, stale_after=60.0, loop_age=lambda: ages[0])
    assert health.live() == (False, {"loop": "starting"})
    ages[0] = 59.0
    assert health.live()[0] is True
    ages[0] = 61.0
    assert health.live()[0] is False
    assert health.ready() == (True, {"redis": "ok"})
