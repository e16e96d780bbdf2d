"""The receiver's HTTP limits against a real uvicorn on a port, driven with raw sockets as an attacker would:
oversized and unfinished heads, many slow heads, slow and stalled bodies, more connections than allowed.
No credentials are needed to try a head; the body cases present the token. Bounds are generous: each case
asserts that the connection was closed (with the documented answer) before a deadline, not when."""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections.abc import Callable, Iterator

import orjson
import pytest

from tests.conftest import TOKEN
from tests.support import ReceiverProcess, envelope, result

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
KEEPALIVE = 1.0
MAX_CONNECTIONS = 300
GENEROUS = 20.0  # far above any timeout here: only a connection held past it fails a case
SLOW_HEADS = 200  # the review held 2,000 half-open requests for 30 s; 200 keep CI's file descriptors modest
LIMITS = {
    "INBOUND_HTTP_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
    "INBOUND_HTTP_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
    "INBOUND_HTTP_KEEPALIVE_SECONDS": str(KEEPALIVE),
    "INBOUND_HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
}
HEAD = f"POST /infobip/forward/{TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


@pytest.fixture
def receiver(base_env: dict[str, str], start_receiver: Callable[..., ReceiverProcess]) -> ReceiverProcess:
    return start_receiver({**base_env, **LIMITS, "INBOUND_LOG_LEVEL": "WARNING"})


def connect(receiver: ReceiverProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", receiver.port), timeout=GENEROUS)


def send_all(sock: socket.socket, data: bytes) -> bool:
    """Send as much of `data` as the receiver takes; False once it closed the connection."""
    try:
        sock.sendall(data)
    except OSError:
        return False
    return True


def answer_of(sock: socket.socket) -> bytes:
    """Everything the receiver sends until it closes the connection (bounded by the socket's timeout)."""
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def rss_kib(receiver: ReceiverProcess) -> int:
    assert receiver.process is not None
    with open(f"/proc/{receiver.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def still_serves(receiver: ReceiverProcess, message_id: str) -> None:
    body = orjson.dumps(envelope(result(message_id)))
    with connect(receiver) as sock:
        sock.sendall(f"{HEAD}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        assert answer_of(sock).startswith(b"HTTP/1.1 200 ")


def test_an_oversized_head_is_refused_and_unfinished_heads_hold_no_memory(receiver: ReceiverProcess) -> None:
    # One 32 MB header: 431, the connection closed long before it is all sent.
    with connect(receiver) as sock:
        line = b"X-Big: " + b"a" * (1 << 20)
        sent = 0
        while sent < 32 and send_all(sock, (HEAD.encode() if not sent else b"") + line):
            sent += 1
        assert sent < 32  # refused on the way
        assert answer_of(sock).startswith(b"HTTP/1.1 431 ")

    # Eight connections each sending an unfinished 24 MB header, side by side.
    before = rss_kib(receiver)
    socks = [connect(receiver) for _ in range(8)]
    try:
        for sock in socks:
            sock.settimeout(5)
            send_all(sock, HEAD.encode() + b"X-Big: ")
        chunk = b"b" * (1 << 20)
        for _ in range(24):
            for sock in socks:
                send_all(sock, chunk)
        grown = rss_kib(receiver) - before
        assert grown < 20 * 1024, f"RSS grew by {grown} KiB"
        for sock in socks:
            sock.settimeout(GENEROUS)
            assert answer_of(sock).startswith(b"HTTP/1.1 431 ")
    finally:
        for sock in socks:
            sock.close()
    still_serves(receiver, "after-big-heads")


def test_slow_heads_slow_bodies_and_idle_connections_are_closed(receiver: ReceiverProcess) -> None:
    selector = selectors.DefaultSelector()
    started = time.monotonic()
    # Many heads sent a line at a time, never finished.
    slow = [connect(receiver) for _ in range(SLOW_HEADS)]
    for sock in slow:
        sock.sendall(b"GET /health/live HTTP/1.1\r\n")
    # A body of 1 byte each 0.4 s, with a valid token; a body that stops after ten bytes; a kept-alive
    # connection left idle after its answer.
    trickle, stalled, idle = connect(receiver), connect(receiver), connect(receiver)
    trickle.sendall(f"{HEAD}Content-Length: 1000\r\n\r\n".encode())
    stalled.sendall(f"{HEAD}Content-Length: 1000\r\n\r\n".encode() + b'{"results"')
    idle.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

    everyone = [*slow, trickle, stalled, idle]
    answers: dict[socket.socket, bytes] = {sock: b"" for sock in everyone}
    open_ = set(everyone)
    for sock in everyone:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    beat = started
    while open_ and time.monotonic() - started < GENEROUS:
        for key, _ in selector.select(timeout=0.1):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(65536)
            except (BlockingIOError, ConnectionResetError):
                data = b""
            if data:
                answers[sock] += data
            else:
                selector.unregister(sock)
                open_.discard(sock)
        if time.monotonic() - beat >= 0.4:
            beat = time.monotonic()
            for sock in slow:
                if sock in open_:
                    with contextlib.suppress(OSError):
                        sock.send(b"X-Slow: 1\r\n")
            if trickle in open_:
                with contextlib.suppress(OSError):
                    trickle.send(b" ")
    try:
        assert not open_, f"{len(open_)} connections still open after {GENEROUS} s"
        assert all(answers[sock].startswith(b"HTTP/1.1 408 ") for sock in slow)
        assert answers[trickle].startswith(b"HTTP/1.1 408 ")
        assert answers[stalled].startswith(b"HTTP/1.1 408 ")
        assert answers[idle].startswith(b"HTTP/1.1 200 ")  # answered, then closed once idle
    finally:
        selector.close()
        for sock in everyone:
            sock.close()
    still_serves(receiver, "after-slow-clients")


@pytest.fixture
def crowd() -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    yield socks
    for sock in socks:
        sock.close()


def test_connections_past_the_limit_are_refused(receiver: ReceiverProcess, crowd: list[socket.socket]) -> None:
    crowd += [connect(receiver) for _ in range(MAX_CONNECTIONS)]
    # Past the limit: a 503 and a closed connection, before any request is read.
    with connect(receiver) as extra:
        assert answer_of(extra).startswith(b"HTTP/1.1 503 ")
    for sock in crowd:
        sock.close()
    crowd.clear()
    deadline = time.monotonic() + GENEROUS
    while True:  # the receiver sees the crowd's connections close on its next turns of the loop
        try:
            still_serves(receiver, "after-the-crowd")
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
