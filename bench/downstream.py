"""The I/O-bound benchmark's downstream: answers every request after BENCH_DOWNSTREAM_DELAY_MS (20 by default).

A bare ASGI app, served by uvicorn (uvloop, httptools) in a process of its own, so its cost stays off the
worker's core as far as the machine allows.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

DELAY = float(os.environ.get("BENCH_DOWNSTREAM_DELAY_MS", "20")) / 1000

Message = dict[str, Any]


async def app(
    scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    if scope["type"] != "http":
        return
    more_body = True
    while more_body:  # read the whole request before answering
        more_body = (await receive()).get("more_body", False)
    await asyncio.sleep(DELAY)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})
