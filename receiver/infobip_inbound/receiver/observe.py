"""Instrumentation of the forward endpoint: request ids and pre-bound metric children (nothing built per request)."""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from infobip_inbound.receiver.edge.body import TYPE_LABELS
from infobip_inbound.receiver.edge.errors import REFUSALS
from infobip_inbound.runtime.metrics import HTTP_REQUESTS, MESSAGES, REJECTED, UNUSUAL_CONTENT_TYPES

log = logging.getLogger("infobip_inbound.receiver")

REQUEST_ID_HEADER = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The caller's X-Request-ID when it is a plain token (no log injection), else a new one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _SAFE_REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return f"{_ID_PREFIX}{next(_ID_COUNTER):x}"


# A new request id: a random prefix per process and a counter (a fresh random id per request costs more).
_ID_PREFIX = os.urandom(8).hex() + "-"
_ID_COUNTER = itertools.count(1)


class ForwardMetrics:
    """Counts of the forward endpoint, tallied in memory and added to the metrics by `flush` (the receiver
    calls it a few times a second): a multiprocess-mode increment costs a file write and a pid check.
    Not thread-safe: every call is made on the event loop.

    Every status and refusal reason is bound at start, so each shows in /metrics (at 0) before it happens."""

    def __init__(self, route: str) -> None:
        self._route = route
        statuses = (200, *sorted(set(REFUSALS.values())))
        self._requests: dict[int, Counter] = {s: HTTP_REQUESTS.labels(route, str(s)) for s in statuses}
        self._rejected: dict[str, Counter] = {reason: REJECTED.labels(reason) for reason in REFUSALS}
        self._accepted = MESSAGES.labels("accepted")
        self._duplicate = MESSAGES.labels("duplicate")
        self._quarantined = MESSAGES.labels("quarantined")
        self._statuses: Tally[int] = Tally()
        self._refusals: Tally[str] = Tally()
        self._stored = [0, 0, 0]
        self._types: dict[str, Counter] = {label: UNUSUAL_CONTENT_TYPES.labels(label) for label in TYPE_LABELS}
        self._unusual: Tally[str] = Tally()
        self._logged: set[str] = set()

    def unusual_type(self, label: str) -> None:
        """A forward read as JSON whatever its Content-Type (`label`: body.unusual_type's); the first of each
        type in this process is logged."""
        if label not in self._logged:
            self._logged.add(label)
            log.warning("forward with a Content-Type other than JSON, read as JSON", extra={"content_type": label})
        self._unusual[label] += 1

    def answered(self, status: int, refused: str | None) -> None:
        """One answer sent; `refused` is the reason the request was refused for, as decided (None: it was not)."""
        self._statuses[status] += 1
        if refused is not None:
            self._refusals[refused] += 1

    def stored(self, accepted: int, duplicates: int, quarantined: int = 0) -> None:
        self._stored[0] += accepted
        self._stored[1] += duplicates
        self._stored[2] += quarantined

    def flush(self) -> None:
        statuses, self._statuses = self._statuses, Tally()
        refusals, self._refusals = self._refusals, Tally()
        (accepted, duplicates, quarantined), self._stored = self._stored, [0, 0, 0]
        unusual, self._unusual = self._unusual, Tally()
        for label, count in unusual.items():
            self._types[label].inc(count)
        for status, count in statuses.items():
            requests = self._requests.get(status)
            if requests is None:
                requests = self._requests[status] = HTTP_REQUESTS.labels(self._route, str(status))
            requests.inc(count)
        for reason, count in refusals.items():
            self._rejected[reason].inc(count)
        if accepted:
            self._accepted.inc(accepted)
        if duplicates:
            self._duplicate.inc(duplicates)
        if quarantined:
            self._quarantined.inc(quarantined)


def counted(route: Route) -> Route:
    """Count a (non-hot-path) route's answers in infobip_inbound_http_requests_total, by the status sent."""
    app = route.app
    path = route.path

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                HTTP_REQUESTS.labels(path, str(message["status"])).inc()
            await send(message)

        await app(scope, receive, sending)

    route.app = counting
    return route
