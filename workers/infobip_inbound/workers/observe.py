"""Instrumentation of the handler calls: one log line per (message, handler), metrics, throughput, dead letters.

The receiver records which request brought each message (in its inbox entry, infobip_inbound.contract.store.entries);
handlers see only the UserResponse, so the request id goes on the log lines written around the call, and on
any line the handler logs itself while it runs (see infobip_inbound.runtime.logs, `request_id_var`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from redis.client import Pipeline

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.contract.store import throughput
from infobip_inbound.runtime import tracing
from infobip_inbound.runtime.logs import request_id_var
from infobip_inbound.runtime.metrics import HANDLED, HANDLER_SECONDS, JOB_RETRIES
from infobip_inbound.workers.registry import HandlerRegistry

log = logging.getLogger("infobip_inbound.worker")

# The handler running now, by its configured name: what the pair of a handler's own effects is keyed by
# (infobip_inbound.workers.reply). An async handler's task copies it when it starts.
current_handler: ContextVar[str | None] = ContextVar("current_handler", default=None)


class BatchObserver:
    """Observes one run of one batch job; `finish` adds the batch's counts to the pipeline that ends the batch."""

    def __init__(self, job: Any = None, claimed_at: int | None = None) -> None:
        self._job_id = job.id if job is not None else None
        self._queue = job.origin if job is not None else ""
        self._request_ids: dict[str, str] = {}
        self._started_ns = claimed_at or time.time_ns()
        self._traces: dict[str, str] = {}  # message id: the trace context its entry carried (when traced)
        self._trace: tracing.BatchTrace | None = None
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def brought_by(self, message_id: str, request_id: str | None, trace: str | None = None) -> None:
        if request_id:
            self._request_ids[message_id] = request_id
        if trace:
            self._traces[message_id] = trace

    def claimed(self, messages: int) -> None:
        """The batch is read (when tracing is on): its claim span, linked to the contexts its messages carried."""
        if tracing.enabled:
            self._trace = tracing.BatchTrace(self._queue, self._job_id, messages, self._traces, self._started_ns)

    def retrying(self, pairs: int) -> None:
        """Failed pairs handed to a retry batch."""
        if pairs:
            JOB_RETRIES.labels(self._queue).inc(pairs)

    def call(self, registry: HandlerRegistry, handler: str, response: UserResponse, try_number: int = 1) -> None:
        """Run one handler on one response; log and count it. Re-raises the handler's exception."""
        with self._observed(handler, response) as request_id:
            registry.call(handler, response, try_number=try_number, request_id=request_id, queue=self._queue or None)

    async def acall(self, registry: HandlerRegistry, handler: str, response: UserResponse, try_number: int = 1) -> None:
        """`call` for an async handler, as a task of the worker's loop (a task runs in a copy of the context, so
        the context variables set here are its own)."""
        with self._observed(handler, response) as request_id:
            queue = self._queue or None
            await registry.acall(handler, response, try_number=try_number, request_id=request_id, queue=queue)

    @contextmanager
    def _observed(self, handler: str, response: UserResponse) -> Iterator[str | None]:
        """Around one call: the request id and handler name in context, then its log line and counts. Yields
        the id of the request that brought the response."""
        request_id = self._request_ids.get(response.message_id)
        token = request_id_var.set(request_id)
        handler_token = current_handler.set(handler)
        started = time.perf_counter()
        outcome = "ok"
        try:
            if self._trace is None:
                yield request_id
            else:
                # The exception leaving the span is recorded on it, with status ERROR.
                with self._trace.handler_span(handler, response.message_id, self._span_attributes(handler, request_id)):
                    yield request_id
        except Exception:
            outcome = "failed"
            raise
        finally:
            request_id_var.reset(token)
            current_handler.reset(handler_token)
            duration = time.perf_counter() - started
            HANDLER_SECONDS.labels(handler).observe(duration)
            HANDLED.labels(handler, outcome).inc()
            kind = "handled" if outcome == "ok" else "failed"
            with self._lock:  # calls of a thread pool count here too
                self._counts[kind] += 1
                self._counts[f"{kind}:{handler}"] += 1
            fields = {
                "message_id": response.message_id,
                "application_code": response.application_code,
                "handler": handler,
                "outcome": outcome,
                "duration_ms": round(duration * 1000, 3),
                "request_id": request_id,
                "job_id": self._job_id,
            }
            if outcome == "ok":
                log.info("handled", extra=fields)
            else:
                log.warning("handler failed", exc_info=True, extra=fields)

    def _span_attributes(self, handler: str, request_id: str | None) -> dict[str, str]:
        attributes = {"infobip_inbound.handler.name": handler}
        if request_id:
            attributes["infobip_inbound.request_id"] = request_id
        if self._job_id:
            attributes["infobip_inbound.job_id"] = self._job_id
        return attributes

    def finish(self, pipe: Pipeline) -> None:
        """Throughput counts of this run, added to the caller's pipeline."""
        throughput.add(pipe, self._counts)
