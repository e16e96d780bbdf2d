"""A real HTTP downstream for handler tests: counts calls, the calls in flight at once (per handler), and can
hold calls until released."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support import free_port, wait_until


class Downstream:
    """POST /call/{handler} with {"message_id", "handler_seen"}: answers after `delay` seconds; once `hold_after`
    calls have been answered, holds every further call until `release()`. `fail` message ids answer 500, as
    does every call with `fail_all`, and each message's first call with `fail_first_call`."""

    def __init__(self, delay: float = 0.0, hold_after: int | None = None) -> None:
        self.port = free_port()
        self.delay = delay
        self.hold_after = hold_after
        self.calls: list[dict[str, Any]] = []
        self.answered: list[str] = []
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.held = 0
        self.fail: set[str] = set()
        self.fail_all = False
        self.fail_first_call = False  # each message's first call answers 500
        self._lock = threading.Lock()
        self._released: asyncio.Event | None = None
        app = Starlette(routes=[Route("/call/{handler}", self._call, methods=["POST"])])
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", backlog=2048)
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/call"

    async def _call(self, request: Request) -> Response:
        handler = request.path_params["handler"]
        body = await request.json()
        if self._released is None:  # created on the server's loop, where the calls wait on it
            self._loop = asyncio.get_running_loop()
            self._released = asyncio.Event()
        with self._lock:
            first = not any(call["message_id"] == body["message_id"] for call in self.calls)
            failing = self.fail_all or body["message_id"] in self.fail or (self.fail_first_call and first)
            self.calls.append({"handler": handler, "failed": failing, "at": time.time(), **body})
            self.in_flight[handler] += 1
            self.max_in_flight[handler] = max(self.max_in_flight[handler], self.in_flight[handler])
            hold = self.hold_after is not None and len(self.answered) >= self.hold_after
            if hold:
                self.held += 1
        try:
            if hold:
                assert self._released is not None
                await self._released.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
            with self._lock:
                self.answered.append(body["message_id"])
            return Response(status_code=500 if failing else 200)
        finally:
            with self._lock:
                self.in_flight[handler] -= 1

    def release(self) -> None:
        """Answer the held calls, and hold no more."""
        assert self._loop is not None and self._released is not None
        self.hold_after = None
        self._loop.call_soon_threadsafe(self._released.set)

    def calls_of(self, message_id: str) -> int:
        with self._lock:
            return sum(1 for call in self.calls if call["message_id"] == message_id)

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: self._server.started, timeout=10)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
