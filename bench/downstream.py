"""The I/O-bound benchmark's downstream: answers every request `--delay-ms` (20 by default) after reading it.

    python -m bench.downstream --port PORT [--delay-ms 20]

A measuring instrument, so it must never be what bounds the worker: one asyncio protocol on uvloop, in a
process of its own, that reads each HTTP/1.1 request whole (head and `Content-Length` body, pipelined or
not) and writes a fixed answer after the delay with a timer, no task per request: thousands of requests/s
at 20 ms on one core. `GET /ready` answers at once.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

import uvloop

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
READY = b"GET /ready "


class Delayed(asyncio.Protocol):
    """One connection: each complete request is answered `delay` seconds after its last byte came in."""

    def __init__(self, delay: float) -> None:
        self._delay = delay
        self._buffer = bytearray()
        self._transport: asyncio.WriteTransport | None = None
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.WriteTransport, transport)  # uvloop's TCP transport, not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self._buffer[:end]).lower()
            length = _content_length(head)
            if len(self._buffer) < end + 4 + length:
                return  # the body is still coming
            del self._buffer[: end + 4 + length]
            if head.startswith(READY.lower()):
                self._answer()
            else:
                self._loop.call_later(self._delay, self._answer)

    def _answer(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(ANSWER)


def _content_length(head: bytes) -> int:
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    start = at + len(b"\r\ncontent-length:")
    end = head.find(b"\r\n", start)
    return int(head[start : end if end >= 0 else len(head)])


async def serve(port: int, delay: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Delayed(delay), "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.delay_ms / 1000))


if __name__ == "__main__":
    main()
