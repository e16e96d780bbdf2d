"""Handlers at two speeds for the lane tests: each appends the message id to its own file in LANE_DIR; `slow`
takes 30 ms a call and SIGKILLs its worker process before its effect on call LANE_KILL_AT (once, marked by a
file). While a file `hold` is in LANE_DIR, a `slow` call writes its message id to `holding` and waits (a minute
at most) until a file `release` is there."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from infobip_inbound.contract.model import UserResponse

_calls = 0


def _append(name: str, response: UserResponse) -> None:
    fd = os.open(Path(os.environ["LANE_DIR"]) / f"{name}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (response.message_id + "\n").encode())
    finally:
        os.close(fd)


def fast(response: UserResponse) -> None:
    _append("fast", response)


def slow(response: UserResponse) -> None:
    global _calls
    _calls += 1
    time.sleep(0.03)
    folder = Path(os.environ["LANE_DIR"])
    if (folder / "hold").exists():
        (folder / "holding").write_text(response.message_id)
        deadline = time.monotonic() + 60
        while not (folder / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    at = os.environ.get("LANE_KILL_AT", "")
    mark = folder / "killed"
    if at and _calls == int(at) and not mark.exists():
        mark.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    _append("slow", response)
