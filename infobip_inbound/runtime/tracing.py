"""Tracing with OpenTelemetry, optional: the only module that imports `opentelemetry`, and only when tracing is on.

On when the `otel` extra is installed (`infobip-inbound[otel]`) and the standard variables ask for traces:
`OTEL_TRACES_EXPORTER` set to an exporter (not `none`), or an OTLP endpoint set (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; the exporter is then `otlp`). `OTEL_SDK_DISABLED=true` turns it off whatever
else is set. The rest is the SDK's own reading of the standard variables: resource (`OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`), sampler (`OTEL_TRACES_SAMPLER[_ARG]`), batching (`OTEL_BSP_*`), the exporter's
endpoint, headers and timeout (`OTEL_EXPORTER_OTLP_*`), and the propagators of incoming headers (`OTEL_PROPAGATORS`).
Exporters are found by name in the `opentelemetry_traces_exporter` entry points, as the SDK documents; `otlp` is
OTLP over HTTP/protobuf (the extra's exporter) unless `OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL` is `grpc`.

When off, `enabled` is False, every function here is a no-op, and nothing of OpenTelemetry is imported: the
roles choose their traced paths once, at start, from `enabled`.

What is traced: a trace per forward request (a SERVER span, continuing an incoming `traceparent` if any) and per
pull, each with an `enqueue` span whose context travels with every message it queued (the inbox entry,
infobip_inbound.contract.store.entries); in the worker, a `claim` span per batch, linked to its messages' contexts,
and a span per handler call, a child of its message's context (so one trace runs from the request to the handler),
with the handler's exception recorded and status ERROR.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, SpanContext, Tracer

log = logging.getLogger(__name__)

enabled = False  # set once by `setup`; the roles read it when they start
_tracer: Tracer | None = None
_set_up = False

Attributes = Mapping[str, str | int | float | bool]
_TRACER_NAME = "infobip_inbound"


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the OTEL_* variables ask for traces (without looking at what is installed)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def setup(environ: Mapping[str, str] | None = None) -> bool:
    """Turn tracing on in this process if the OTEL_* variables ask for it and the `otel` extra is installed (once
    per process; a role's entry calls it). Returns `enabled`."""
    global enabled, _tracer, _set_up
    if _set_up:
        return enabled
    _set_up = True
    environ = os.environ if environ is None else environ
    if not wanted(environ):
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "OTEL_* variables ask for traces, but OpenTelemetry is not installed: install infobip-inbound[otel]"
        )
        return False
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, TracerProvider the sampler.
        provider = TracerProvider(resource=Resource.create())
        for exporter in _exporters(environ):
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
    # else: a provider is set already (the process runs under `opentelemetry-instrument`, say): spans go there.
    _tracer = trace.get_tracer(_TRACER_NAME)
    enabled = True
    return True


def _exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    from importlib.metadata import entry_points

    names = [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip()
    exporters = []
    for name in names:
        if name == "otlp":
            name = "otlp_proto_grpc" if protocol == "grpc" else "otlp_proto_http"
        found = entry_points(group="opentelemetry_traces_exporter", name=name)
        if not found:
            raise ValueError(f"OTEL_TRACES_EXPORTER names {name!r}, which no installed package provides")
        exporters.append(next(iter(found)).load()())
    return exporters


def flush() -> None:
    """Export the spans still buffered. The SDK does at exit, but a process that ends with `os._exit` (a
    WorkerPool's worker) must ask."""
    if enabled:
        from opentelemetry import trace

        provider: Any = trace.get_tracer_provider()
        with contextlib.suppress(Exception):  # never let tracing fail a shutdown
            provider.force_flush()


# Spans


def request_span(method: str, route: str, headers: Iterable[tuple[bytes, bytes]]) -> AbstractContextManager[Span]:
    """The SERVER span of one HTTP request, current while it is answered; it continues the caller's trace when the
    request carries one (OTEL_PROPAGATORS: W3C trace context by default)."""
    assert _tracer is not None
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers}
    return _tracer.start_as_current_span(
        f"{method} {route}",
        context=propagate.extract(carrier),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "http.route": route},
    )


def answered(span: Span, status: int) -> None:
    """The status sent for the request of `span`; a 5xx marks it as an error (a 4xx is the client's)."""
    from opentelemetry.trace import StatusCode

    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(StatusCode.ERROR)


@contextlib.contextmanager
def span(
    name: str, attributes: Attributes | None = None, *, root: bool = False, kind: str = "INTERNAL"
) -> Iterator[Span | None]:
    """A span around a step, child of the current one (or, with `root`, the start of a new trace). Yields None
    when tracing is off. An exception leaving it is recorded and sets status ERROR."""
    if _tracer is None:
        yield None
        return
    from opentelemetry import context as context_api
    from opentelemetry.trace import SpanKind

    parent = context_api.Context() if root else None
    with _tracer.start_as_current_span(name, context=parent, kind=SpanKind[kind], attributes=attributes) as current:
        yield current


def failed(span: Span | None, exc: BaseException) -> None:
    """Record a failure that was handled (so it left no span by an exception): the exception and status ERROR."""
    if span is not None:
        from opentelemetry.trace import StatusCode

        span.record_exception(exc)
        span.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")


def carried() -> str | None:
    """The current span's context in the form an inbox entry carries (infobip_inbound.contract.store.entries):
    `traceparent`, then a space and `tracestate` when there is one. None when tracing is off or nothing is current."""
    if _tracer is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    traceparent = carrier.get("traceparent")
    if traceparent is None:
        return None
    tracestate = carrier.get("tracestate")
    return f"{traceparent} {tracestate}" if tracestate else traceparent


def _context_of(trace: str) -> Context:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    traceparent, _, tracestate = trace.partition(" ")
    carrier = {"traceparent": traceparent, "tracestate": tracestate} if tracestate else {"traceparent": traceparent}
    return TraceContextTextMapPropagator().extract(carrier)


class BatchTrace:
    """The tracing of one batch in a worker: its `claim` span (from the claim to the batch read, linked to each
    message's carried context) and a span per handler call, a child of its message's context (of the claim span
    for a message that carried none), linked to the claim."""

    def __init__(
        self, queue: str, job_id: str | None, messages: int, traces: Mapping[str, str], started_ns: int
    ) -> None:
        assert _tracer is not None
        from opentelemetry.trace import Link, SpanKind, get_current_span

        self._parents = {message_id: _context_of(trace) for message_id, trace in traces.items()}
        links = []
        for parent in self._parents.values():
            context = get_current_span(parent).get_span_context()
            if context.is_valid:
                links.append(Link(context))
        attributes: dict[str, str | int] = {
            "messaging.destination.name": queue,
            "messaging.batch.message_count": messages,
        }
        if job_id:
            attributes["messaging.message.conversation_id"] = job_id
        claim = _tracer.start_span(
            f"claim {queue}", context=_root(), kind=SpanKind.CONSUMER, links=links, start_time=started_ns
        )
        claim.set_attributes(attributes)
        claim.end()
        self._claim: SpanContext = claim.get_span_context()
        self._queue = queue

    def handler_span(self, handler: str, message_id: str, attributes: Attributes) -> AbstractContextManager[Span]:
        assert _tracer is not None
        from opentelemetry.trace import Link, NonRecordingSpan, SpanKind, set_span_in_context

        parent = self._parents.get(message_id) or set_span_in_context(NonRecordingSpan(self._claim))
        return _tracer.start_as_current_span(
            f"handle {handler}",
            context=parent,
            kind=SpanKind.CONSUMER,
            links=[Link(self._claim)],
            attributes={"messaging.destination.name": self._queue, "messaging.message.id": message_id, **attributes},
        )


def _root() -> Context:
    from opentelemetry import context as context_api

    return context_api.Context()
