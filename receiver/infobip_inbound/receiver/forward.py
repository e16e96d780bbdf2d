"""POST /infobip/forward[/{token}]: Infobip's HTTP_FORWARD of a `results` envelope.

Answers 200 once every result of the request is durably queued (or known as a duplicate) or, when it cannot
be made into a UserResponse, quarantined with why; 503 with Retry-After when Redis cannot take them, so
Infobip retries; 4xx with a JSON body for a request that is refused as a whole (not an envelope at all).
A plain ASGI app rather than a Starlette endpoint: it is the hot path, and Request/Response objects
are allocations it does not need.
"""

from __future__ import annotations

import logging
import time

from redis.exceptions import RedisError
from starlette.types import Receive, Scope, Send

from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store.quarantine import QuarantineEntry
from infobip_inbound.infobip.envelope import InvalidEnvelope, Normalized, read_envelope
from infobip_inbound.infobip.forward_url import FORWARD_PATH
from infobip_inbound.receiver.auth import ForwardAuth
from infobip_inbound.receiver.edge.body import BodyTooLarge, ClientGone, read_limited, unusual_type
from infobip_inbound.receiver.edge.errors import INTERNAL_ERROR, INTERNAL_ERROR_STATUS, Answer, refusal
from infobip_inbound.receiver.edge.limits import EnvelopeLimits, too_deep_to_parse
from infobip_inbound.receiver.edge.request_guard import RequestGuard
from infobip_inbound.receiver.edge.security_headers import SECURITY_HEADERS
from infobip_inbound.receiver.enqueue import Committer, EnqueueResult
from infobip_inbound.receiver.ingest import Origin, ingest_async
from infobip_inbound.receiver.observe import ForwardMetrics, request_id_of
from infobip_inbound.runtime import tracing

log = logging.getLogger("infobip_inbound.receiver")

_STATIC_HEADERS = ((b"content-type", b"application/json"), *SECURITY_HEADERS)


class ForwardEndpoint:
    def __init__(self, settings: Settings, auth: ForwardAuth, committer: Committer) -> None:
        self._auth = auth
        self._committer = committer
        self.metrics = ForwardMetrics(FORWARD_PATH)
        self._max_body = settings.max_body_bytes
        self._guard = RequestGuard.from_settings(settings)
        self._limits = EnvelopeLimits(settings.max_results, settings.max_json_depth)
        # Every refusal is decided below and carries its reason, counted as such in ForwardMetrics.
        self._unauthorized = refusal(
            "unauthorized",
            "missing or invalid credentials",
            {"WWW-Authenticate": 'Basic realm="infobip-inbound"'} if auth.uses_basic else None,
        )
        self._too_large = refusal("payload_too_large", f"request body exceeds {self._max_body} bytes")
        self._unavailable = refusal(
            "unavailable",
            "messages could not be stored; retry later",
            {"Retry-After": str(settings.retry_after_seconds)},
        )
        # Traced or not is decided once, here: with tracing off a request runs exactly the untraced code.
        self._respond = self._traced_answer if tracing.enabled else self._answer
        self._submit = self._traced_submit if tracing.enabled else committer.submit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = request_id_of(scope["headers"])
        try:
            status, body, headers, refused = await self._respond(scope, receive, request_id)
        except ClientGone:
            return
        except Exception:
            # Our own fault: 500 without details (Infobip retries); the error goes to the log.
            log.error("unexpected error answering a forward", exc_info=True, extra={"request_id": request_id})
            status, body, headers, refused = INTERNAL_ERROR_STATUS, INTERNAL_ERROR, [], None
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode()),
                    *headers,
                    *_STATIC_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.metrics.answered(status, refused)
        if log.isEnabledFor(logging.INFO):
            # The route, never the path: the path carries the secret token.
            log.info(
                "forward request",
                extra={
                    "route": FORWARD_PATH,
                    "status": status,
                    "request_id": request_id,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    async def _answer(self, scope: Scope, receive: Receive, request_id: str) -> Answer:
        if self._guard is not None and (refused := self._guard.check(scope)) is not None:
            return refused
        authorization = content_type = content_length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                content_length = value
        token = scope.get("path_params", {}).get("token")
        if not self._auth.allows(token, authorization.decode("latin-1") if authorization else None):
            return self._unauthorized
        if (unusual := unusual_type(content_type)) is not None:
            self.metrics.unusual_type(unusual)
        try:
            raw = await read_limited(receive, self._max_body, content_length)
        except BodyTooLarge:
            return self._too_large
        try:
            read = read_envelope(raw)
        except InvalidEnvelope as exc:
            if too_deep_to_parse(exc):
                return self._limits.too_deep
            return refusal(
                "invalid_envelope",
                "the body is not a valid Infobip results envelope",
                fields=[e.model_dump() for e in exc.errors],
            )
        if (exceeded := self._limits.check(read)) is not None:
            return exceeded
        try:
            ingested = await ingest_async(
                read, Origin("forward", request_id=request_id), lambda rs, qs: self._submit(rs, request_id, qs)
            )
        except (RedisError, OSError, ConnectionError) as exc:
            log.warning("forward not stored, answering 503: %s", type(exc).__name__, extra={"request_id": request_id})
            return self._unavailable
        result = ingested.result
        self.metrics.stored(result.accepted, result.duplicates, result.quarantined)
        body = b'{"accepted":%d,"duplicates":%d,"quarantined":%d}' % (
            result.accepted,
            result.duplicates,
            result.quarantined,
        )
        return 200, body, [], None

    async def _traced_answer(self, scope: Scope, receive: Receive, request_id: str) -> Answer:
        """`_answer` in the request's SERVER span (the start of the message's trace)."""
        with tracing.request_span("POST", FORWARD_PATH, scope["headers"]) as span:
            span.set_attribute("infobip_inbound.request_id", request_id)
            answer = await self._answer(scope, receive, request_id)
            tracing.answered(span, answer[0])
            if answer[3] is not None:
                span.set_attribute("infobip_inbound.refused", answer[3])
            return answer

    async def _traced_submit(
        self, responses: list[Normalized], request_id: str, quarantine: list[QuarantineEntry]
    ) -> EnqueueResult:
        """`Committer.submit` in an `enqueue` span, whose context every entry carries to the worker."""
        with tracing.span("enqueue", {"messaging.batch.message_count": len(responses)}, kind="PRODUCER") as span:
            result = await self._committer.submit(responses, request_id, quarantine, tracing.carried())
            if span is not None:
                span.set_attribute("infobip_inbound.accepted", result.accepted)
                span.set_attribute("infobip_inbound.duplicates", result.duplicates)
            return result
