"""HTTP limits the ASGI layer cannot see: the request head's size and read time, the body's read time, the
connections a process holds. Enforced in the HTTP protocol, as uvicorn's httptools protocol extended
(`BoundedHttpProtocol`, what `serve` runs): an ASGI app is called only once the head is complete, and neither
of uvicorn's protocols bounds the head's read time, nor does httptools bound its size (h11 bounds only its size).

    head over INBOUND_HTTP_MAX_HEADER_BYTES           431, connection closed
    head not complete INBOUND_HTTP_HEADER_TIMEOUT_SECONDS after the connection opened or the request began
                                                      408, connection closed
    body not complete INBOUND_HTTP_BODY_TIMEOUT_SECONDS after the head      408 (if no answer started), closed
    a connection over INBOUND_HTTP_MAX_CONNECTIONS in this process          503, connection closed
    idle between requests longer than INBOUND_HTTP_KEEPALIVE_SECONDS        connection closed (uvicorn's own)

Bytes of a head are counted as they arrive, before they reach the parser (which keeps a header's value whole
while it is incomplete), so one connection's head holds at most the limit in memory.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from infobip_inbound.contract.settings import Settings


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_header_bytes: int
    header_timeout: float
    body_timeout: float
    keepalive: float
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_header_bytes=settings.http_max_header_bytes,
            header_timeout=settings.http_header_timeout_seconds,
            body_timeout=settings.http_body_timeout_seconds,
            keepalive=settings.http_keepalive_seconds,
            max_connections=settings.http_max_connections,
        )

    def uvicorn_options(self) -> dict[str, Any]:
        """What `uvicorn.run` takes for these limits: the protocol, and the keep-alive uvicorn enforces itself."""
        # By name: a process of `serve --workers N` imports it once it answers its supervisor's health checks
        # (a class given as such is imported while the process starts, before it can answer them).
        return {"http": f"{__name__}:{BoundedHttpProtocol.__name__}", "timeout_keep_alive": self.keepalive}


# The limits of this process's connections: set by `use` when the app is built from its settings (each process
# of `serve --workers N` builds its own), read by each connection as it opens.
_in_force: HttpLimits | None = None


def use(limits: HttpLimits) -> None:
    global _in_force
    _in_force = limits


def in_force() -> HttpLimits:
    if _in_force is None:
        raise RuntimeError("the HTTP limits are set when the app is built, before any connection")
    return _in_force


def _answer(status: bytes, text: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: " + str(len(text)).encode() + b"\r\n\r\n" + text
    )


HEADER_TOO_LARGE = _answer(
    b"431 Request Header Fields Too Large", b'{"error":"header_too_large","message":"request head over the limit"}'
)
HEADER_TIMEOUT = _answer(b"408 Request Timeout", b'{"error":"timeout","message":"request head not sent in time"}')
BODY_TIMEOUT = _answer(b"408 Request Timeout", b'{"error":"timeout","message":"request body not sent in time"}')
TOO_MANY_CONNECTIONS = _answer(
    b"503 Service Unavailable", b'{"error":"too_many_connections","message":"too many connections; retry later"}'
)


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above. One deadline at a time per connection: the head's
    from the connection's start (or the next request's first byte), then the body's from the head's end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = in_force()
        self._head_bytes = 0  # bytes of the request head read so far
        self._in_head = True  # between a request's end (or the connection's start) and its head's end
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections:
            self._close_with(TOO_MANY_CONNECTIONS)
            return
        self._deadline = self.loop.call_later(self._limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_head:
            super().data_received(data)
            return
        room = self._limits.max_header_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        # Only what fits reaches the parser; if the head ends within it, the rest is the body (or the next request).
        super().data_received(data[:room])
        if self._in_head:
            self._close_with(HEADER_TOO_LARGE)
        elif not self.transport.is_closing():
            super().data_received(data[room:])

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a following request on a kept-alive connection
            self._deadline = self.loop.call_later(self._limits.header_timeout, self._head_timed_out)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        self._deadline = self.loop.call_later(self._limits.body_timeout, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_timed_out(self) -> None:
        self._deadline = None
        busy = self.cycle is not None and not self.cycle.response_complete  # an earlier request still answering
        self._close_with(b"" if busy else HEADER_TIMEOUT)

    def _body_timed_out(self) -> None:
        self._deadline = None
        cycle = self.cycle
        self._close_with(b"" if cycle is None or cycle.response_started else BODY_TIMEOUT)
        if cycle is not None:
            # The app waiting for the body reads a disconnect now; whatever it sends after is dropped.
            cycle.disconnected = True
            cycle.message_event.set()

    def _close_with(self, answer: bytes) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        if answer:
            self.transport.write(answer)
        self.transport.close()
