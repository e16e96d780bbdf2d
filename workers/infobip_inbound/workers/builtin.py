"""Built-in handlers: `log` (one structured line per response), `jsonl` (append to a file), `auto_reply`
(a push back to the responding device, infobip_inbound.workers.auto_reply), `http_relay` (a signed POST,
infobip_inbound.workers.http_relay) and `redis_stream` (XADD, infobip_inbound.workers.redis_stream)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from functools import cache

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.contract.settings import Settings
from infobip_inbound.workers.auto_reply import auto_reply_handler
from infobip_inbound.workers.http_relay import http_relay_handler
from infobip_inbound.workers.redis_stream import redis_stream_handler
from infobip_inbound.workers.registry import SettingsFactory

__all__ = ["auto_reply_handler", "http_relay_handler", "jsonl_handler", "log_handler", "redis_stream_handler"]

_log = logging.getLogger("infobip_inbound.handlers.log")


def log_handler(response: UserResponse) -> None:
    _log.info("user response", extra={"response": response.model_dump(mode="json")})


class _JsonlFile:
    """One O_APPEND descriptor per process: each line goes out in one write, so processes never interleave."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._lock = threading.Lock()

    def append(self, line: bytes) -> None:
        with self._lock:
            written = os.write(self._fd, line)
        if written != len(line):
            raise OSError(f"short write to jsonl file ({written} of {len(line)} bytes)")


@cache
def _jsonl_file(path: str) -> _JsonlFile:
    # Opened on the first response, in the process that writes: a WorkerPool parent forks before any.
    return _JsonlFile(path)


class JsonlHandler(SettingsFactory):
    """`jsonl`: each response as one JSON line, appended to the worker's `jsonl.path`."""

    name = "jsonl"

    def for_settings(self, settings: Settings) -> Callable[[UserResponse], None]:
        path = str(settings.jsonl.path)

        def jsonl(response: UserResponse) -> None:
            _jsonl_file(path).append(response.model_dump_json().encode() + b"\n")

        return jsonl


jsonl_handler = JsonlHandler()
