"""Test helpers: real processes (receiver under uvicorn, RQ workers) on loopback, with bounded waits."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from infobip_inbound.runtime.process import die_with_parent, stop
from infobip_inbound.shell.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent

# httpx builds a TLS context for each top-level call (httpx.get, httpx.post): about 30 ms of CPU loading the CA
# bundle, even for plain HTTP. The helpers' loopback calls, many of them in polling loops, share this one.
LOOPBACK_TLS = ssl.create_default_context()


def envelope(*results: dict[str, object], **extra: object) -> dict[str, object]:
    return {"results": list(results), "messageCount": len(results), "pendingMessageCount": 0, **extra}


def result(message_id: str, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "messageId": message_id,
        "from": f"REG-{message_id}",
        "to": "app-1",
        "applicationCode": "app-1",
        "receivedAt": "2017-01-05T12:47:56.221+0000",
        "text": "KEY hello",
        "cleanText": "hello",
        "keyword": "KEY",
    }
    base.update(fields)
    return base


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class Role:
    """`infobip-inbound <role>` as a child process with the given INBOUND_ environment."""

    def __init__(
        self, args: list[str], env: dict[str, str], log_path: Path, module: str = "infobip_inbound.shell.cli"
    ) -> None:
        self.args = args
        self.module = module
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        log.close()

    def stop(self, kill: bool = False, timeout: float = 20.0) -> int | None:
        if self.process is None:
            return None
        code = stop(self.process, kill=kill, timeout=timeout)
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class ReceiverProcess(Role):
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        super().__init__(["serve"], {**env, "INBOUND_HOST": "127.0.0.1", "INBOUND_PORT": str(self.port)}, log_path)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        super().start()

        def live() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"receiver exited {self.process.returncode}:\n{self.log()}")
            try:
                return httpx.get(self.base_url + "/health/live", timeout=1, verify=LOOPBACK_TLS).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(live, timeout=30)


def run_cli_raw(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `infobip-inbound ARGS` in a fresh process, whatever its exit status."""
    return subprocess.run(
        [sys.executable, "-m", "infobip_inbound.shell.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_cli(env: dict[str, str], *args: str) -> str:
    """Run `infobip-inbound ARGS` in a fresh process; its stdout, asserting it exited 0."""
    done = run_cli_raw(env, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def handled_ids(path: Path) -> list[str]:
    """Message ids in a jsonl handler's file, read while workers append to it: a line still being written is
    left out."""
    if not path.exists():
        return []
    return [orjson.loads(line)["message_id"] for line in path.read_text().rpartition("\n")[0].splitlines()]


def forward(receiver: ReceiverProcess, *results: dict[str, object]) -> dict[str, Any]:
    """POST the results in one envelope to the receiver's forward endpoint; its JSON answer (asserted 200)."""
    from tests.conftest import TOKEN

    answer = httpx.post(
        f"{receiver.base_url}/infobip/forward/{TOKEN}",
        content=orjson.dumps(envelope(*results)),
        headers={"Content-Type": "application/json"},
        timeout=30,
        verify=LOOPBACK_TLS,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def headless_chromium(profile: Path, *flags: str) -> list[str]:
    """The command of a headless Chromium with its own profile, for the pages' browser checks; skips the
    calling test where Chromium is not installed (CI installs it: .ci/run)."""
    import pytest

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium); pages checked over HTTP only")
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *flags,
    ]
