"""OpenTelemetry tracing (infobip_inbound.runtime.tracing), on and off, across real processes.

The SDK's in-memory exporter holds the spans of the one process it lives in, and the point here is a trace that
crosses processes (receiver or poller, then worker). So each role runs as a real process configured only through
the standard OTEL_* variables, exporting with the `otel` extra's own OTLP/HTTP exporter (what production uses) to
a collector this test runs on loopback; it decodes the OTLP protobuf into plain records, and the assertions read
the spans exactly as the processes exported them. No test-only code runs in the roles.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from infobip_inbound.contract.store.entries import decode_entry, decode_traced_entry, encode_entry
from infobip_inbound.runtime.tracing import wanted
from tests.conftest import TOKEN, _roles
from tests.simulator_support import API_KEY, SimulatorProcess
from tests.support import ROOT, ReceiverProcess, Role, envelope, handled_ids, result, wait_until

pytest_plugins = ["tests.simulator_fixtures"]

JSON = {"Content-Type": "application/json"}
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


# The inbox entry and the switch: plain functions


def test_an_entry_carries_its_trace_context_and_entries_without_one_read_as_before() -> None:
    body = b'{"message_id":"m1"}'
    traced = encode_entry(body, "req-1", f"{TRACEPARENT} vendor=a b")
    assert decode_traced_entry(traced) == ("req-1", f"{TRACEPARENT} vendor=a b", body)
    assert decode_entry(traced) == ("req-1", body)
    pulled = encode_entry(body, None, TRACEPARENT)  # a pulled message: no request id
    assert decode_traced_entry(pulled) == (None, TRACEPARENT, body)
    assert decode_entry(pulled) == (None, body)
    # Entries as written before trace contexts were carried, and as written with tracing off.
    for old in (b"req-2\n" + body, encode_entry(body, "req-2")):
        assert decode_entry(old) == ("req-2", body)
        assert decode_traced_entry(old) == ("req-2", None, body)
    assert encode_entry(body, None) == body
    assert decode_entry(body) == (None, body)
    assert decode_traced_entry(body) == (None, None, body)


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "false"}, True),
    ],
)
def test_tracing_is_on_only_when_the_otel_variables_ask_for_traces(environ: dict[str, str], on: bool) -> None:
    assert wanted(environ) is on


# Off: nothing of OpenTelemetry is imported

_OFF_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import redis  # redis-py (8+) imports its own OpenTelemetry metrics support whenever the SDK is installed
    before = {m for m in sys.modules if m.startswith("opentelemetry")}
    from starlette.testclient import TestClient
    from infobip_inbound.contract.settings import load_settings
    from infobip_inbound.receiver.app import create_app
    from infobip_inbound.runtime import tracing
    from infobip_inbound.workers.worker import run_worker
    from tests.support import envelope, result
    settings = load_settings()
    with TestClient(create_app(settings)) as client:
        answer = client.post("/infobip/forward/" + sys.argv[1], json=envelope(result("off-1")))
    run_worker(settings, burst=True)
    after = {m for m in sys.modules if m.startswith("opentelemetry")}
    print(json.dumps({"status": answer.status_code, "enabled": tracing.enabled, "imported": sorted(after - before)}))
    """
)


@pytest.mark.parametrize(
    "otel_env",
    [{}, {"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}],
    ids=["no-otel-variables", "sdk-disabled"],
)
def test_off_a_forward_request_and_a_handled_message_import_nothing_of_opentelemetry(
    base_env: dict[str, str], otel_env: dict[str, str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {**base_env, **otel_env, "INBOUND_LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-c", _OFF_SCRIPT, TOKEN], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"status": 200, "enabled": False, "imported": []}
    assert handled_ids(Path(base_env["INBOUND_JSONL__PATH"])) == ["off-1"]


# On: one trace from the forward request (or the pull) to the handler call in the worker process


@dataclass
class Span:
    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str
    status: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)


class Collector:
    """An OTLP/HTTP trace receiver on loopback: POST /v1/traces with a protobuf ExportTraceServiceRequest."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = ExportTraceServiceRequest()
                request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
                collector._add(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return None  # keep the test output to the roles' logs

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}/v1/traces"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _add(self, request: ExportTraceServiceRequest) -> None:
        def values(attributes: Any) -> dict[str, Any]:
            found = {}
            for kv in attributes:
                kind = kv.value.WhichOneof("value")
                found[kv.key] = getattr(kv.value, kind) if kind else None
            return found

        spans = []
        for resource_spans in request.resource_spans:
            service = values(resource_spans.resource.attributes).get("service.name", "")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        Span(
                            service=service,
                            name=span.name,
                            kind=type(span).SpanKind.Name(span.kind),
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            status=type(span.status).StatusCode.Name(span.status.code),
                            attributes=values(span.attributes),
                            events=[{"name": e.name, **values(e.attributes)} for e in span.events],
                            links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                        )
                    )
        with self._lock:
            self.spans += spans

    def named(self, name: str) -> list[Span]:
        with self._lock:
            return [span for span in self.spans if span.name == name]

    def by_id(self) -> dict[str, Span]:
        with self._lock:
            return {span.span_id: span for span in self.spans}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    server.start()
    yield server
    server.stop()


def otel_env(collector: Collector, service: str) -> dict[str, str]:
    """A role's tracing configuration: the standard variables only."""
    return {
        "OTEL_SERVICE_NAME": service,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.endpoint,
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within a tenth of a second, so the test waits little
    }


def ancestors(span: Span, spans: dict[str, Span]) -> list[Span]:
    """`span`'s parents, nearest first, as far as they were exported."""
    chain = []
    while span.parent_id and span.parent_id in spans:
        span = spans[span.parent_id]
        chain.append(span)
    return chain


def test_one_trace_links_the_forward_request_to_the_handler_call_in_the_worker_process(
    collector: Collector,
    base_env: dict[str, str],
    start_receiver: Callable[..., ReceiverProcess],
    start_worker: Callable[..., Role],
) -> None:
    env = {**base_env, "INBOUND_DEFAULT_HANDLERS": '["jsonl", "tests.handlers:always_fail"]'}
    env["INBOUND_HANDLER_RETRY_DEFAULT"] = '{"max_tries": 1}'  # a failed pair is dead-lettered at once
    receiver = start_receiver({**env, **otel_env(collector, "inbound-receiver")})
    start_worker({**env, **otel_env(collector, "inbound-worker")})

    url = f"{receiver.base_url}/infobip/forward/{TOKEN}"
    answer = httpx.post(url, content=orjson.dumps(envelope(result("t1"), result("t2"))), headers=JSON, timeout=10)
    assert answer.status_code == 200
    upstream = httpx.post(
        url,
        content=orjson.dumps(envelope(result("t3"))),
        headers={**JSON, "traceparent": TRACEPARENT},
        timeout=10,
    )
    assert upstream.status_code == 200
    failing = "handle tests.handlers:always_fail"
    wait_until(lambda: len(collector.named("handle jsonl")) == 3 and len(collector.named(failing)) == 3)
    wait_until(lambda: len(collector.named("POST /infobip/forward")) == 2)

    spans = collector.by_id()
    requests = {s.attributes["infobip_inbound.request_id"]: s for s in collector.named("POST /infobip/forward")}
    request = requests[answer.headers["x-request-id"]]
    assert request.service == "inbound-receiver"
    assert request.kind == "SPAN_KIND_SERVER"
    assert request.parent_id == ""  # no traceparent came with it: a new trace
    assert request.attributes["http.response.status_code"] == 200
    # A request that carries a trace context continues it.
    continued = requests[upstream.headers["x-request-id"]]
    assert continued.trace_id == TRACEPARENT.split("-")[1]
    assert continued.parent_id == TRACEPARENT.split("-")[2]

    enqueue = [s for s in collector.named("enqueue") if s.parent_id == request.span_id]
    assert len(enqueue) == 1
    assert enqueue[0].kind == "SPAN_KIND_PRODUCER"
    assert enqueue[0].attributes["messaging.batch.message_count"] == 2

    for handler in ("handle jsonl", failing):
        calls = {s.attributes["messaging.message.id"]: s for s in collector.named(handler)}
        for message_id in ("t1", "t2"):
            call = calls[message_id]
            assert call.service == "inbound-worker"  # exported by the other process
            assert call.trace_id == request.trace_id
            chain = ancestors(call, spans)
            assert [s.name for s in chain] == ["enqueue", "POST /infobip/forward"]
            assert chain[-1] is request
        assert calls["t3"].trace_id == continued.trace_id

    # The batch's claim span is linked to the contexts its messages carried.
    claims = collector.named("claim infobip-inbound")
    assert claims
    assert all(claim.service == "inbound-worker" and claim.kind == "SPAN_KIND_CONSUMER" for claim in claims)
    linked = {link for claim in claims for link in claim.links}
    assert (request.trace_id, enqueue[0].span_id) in linked
    claim_ids = {claim.span_id for claim in claims}
    assert all(len(call.links) == 1 and call.links[0][1] in claim_ids for call in collector.named("handle jsonl"))

    ok = next(s for s in collector.named("handle jsonl") if s.attributes["messaging.message.id"] == "t1")
    assert ok.status == "STATUS_CODE_UNSET"
    assert ok.events == []
    failed = next(s for s in collector.named(failing) if s.attributes["messaging.message.id"] == "t1")
    assert failed.status == "STATUS_CODE_ERROR"
    assert [event["name"] for event in failed.events] == ["exception"]
    assert failed.events[0]["exception.type"] == "RuntimeError"
    assert "always_fail refuses t1" in failed.events[0]["exception.message"]


@pytest.fixture
def start_poller(tmp_path: Path) -> Iterator[Callable[..., Role]]:
    yield from _roles(lambda n, env: Role(["poller"], env, tmp_path / f"poller-{n}.log"))


def test_one_trace_per_pull_continued_by_the_handler_call_in_the_worker_process(
    collector: Collector,
    base_env: dict[str, str],
    sim: SimulatorProcess,
    start_poller: Callable[..., Role],
    start_worker: Callable[..., Role],
) -> None:
    sim.enable_pull()
    ids = sim.inject(generate=3)
    env = {
        **base_env,
        "INBOUND_INFOBIP_BASE_URL": sim.base_url,
        "INBOUND_INFOBIP_API_KEY": API_KEY,
        "INBOUND_POLL_INTERVAL_SECONDS": "0.2",
        "INBOUND_POLL_TIMEOUT_SECONDS": "2",
        "INBOUND_POLL_LEASE_SECONDS": "6",
    }
    start_worker({**env, **otel_env(collector, "inbound-worker")})
    start_poller({**env, **otel_env(collector, "inbound-poller")})

    def pulls() -> list[Span]:
        return [s for s in collector.named("infobip pull") if s.attributes.get("infobip_inbound.messages") == 3]

    # The pull's span ends after its messages are queued, so a worker may export its calls first.
    wait_until(lambda: len(collector.named("handle jsonl")) == 3 and bool(pulls()))
    assert len(pulls()) == 1
    pull = pulls()[0]
    assert pull.service == "inbound-poller"
    assert pull.parent_id == ""
    spans = collector.by_id()
    for call in collector.named("handle jsonl"):
        assert call.service == "inbound-worker"
        assert call.attributes["messaging.message.id"] in ids
        assert call.trace_id == pull.trace_id
        assert [s.name for s in ancestors(call, spans)] == ["enqueue", "infobip pull"]
