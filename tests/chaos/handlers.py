"""Chaos handlers: each appends the message id to its own file; `first` SIGKILLs its worker process
before its effect on the calls listed in CHAOS_KILL_AT_CALLS (each once, marked by a file)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from infobip_inbound.contract.model import UserResponse

_calls = 0


def _append(name: str, response: UserResponse) -> None:
    fd = os.open(Path(os.environ["CHAOS_DIR"]) / f"{name}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (response.message_id + "\n").encode())
    finally:
        os.close(fd)


def first(response: UserResponse) -> None:
    global _calls
    _calls += 1
    for at in os.environ.get("CHAOS_KILL_AT_CALLS", "").split(","):
        mark = Path(os.environ["CHAOS_DIR"]) / f"killed-{at}"
        if at and _calls == int(at) and not mark.exists():
            mark.touch()
            os.kill(os.getpid(), signal.SIGKILL)
    _append("first", response)


def second(response: UserResponse) -> None:
    _append("second", response)
