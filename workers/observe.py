"""Instrumentation of the handler calls: one log line per (message, handler), metrics, throughput, dead letters.

The receiver records which request brought each message (job meta `request_ids`); handlers see only the
UserResponse, so the request id goes on the log lines written around the call, and on any line the handler
logs itself while it runs (see infobip_inbound/logs.py, `request_id_var`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from redis import Redis

from infobip_inbound import throughput
from infobip_inbound.logs import request_id_var
from infobip_inbound.metrics import HANDLED, HANDLER_SECONDS, JOB_RETRIES
from infobip_inbound.model import UserResponse
from infobip_inbound.status import FAILED_HANDLERS_META
from receiver.enqueue import REQUEST_IDS_META
from workers.registry import HandlerRegistry

log = logging.getLogger("infobip_inbound.worker")


class BatchObserver:
    """Observes one run of one batch job; `finish` writes the batch's counts to Redis in one round trip."""

    def __init__(self, job: Any = None, configured_retries: int = 0) -> None:
        self._job = job
        self._job_id = job.id if job is not None else None
        self._request_ids: dict[str, str] = {}
        self._counts: Counter[str] = Counter()
        self._failed: Counter[str] = Counter()
        if job is not None:
            for request_id, message_ids in (job.meta or {}).get(REQUEST_IDS_META, {}).items():
                for message_id in message_ids:
                    self._request_ids[message_id] = request_id
            retries_left = job.retries_left
            if retries_left is not None and retries_left < configured_retries:
                JOB_RETRIES.labels(job.origin).inc()

    def call(self, registry: HandlerRegistry, handler: str, response: UserResponse) -> None:
        """Run one handler on one response; log and count it. Re-raises the handler's exception."""
        request_id = self._request_ids.get(response.message_id)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        outcome = "ok"
        try:
            registry.call(handler, response)
        except Exception:
            outcome = "failed"
            raise
        finally:
            request_id_var.reset(token)
            duration = time.perf_counter() - started
            HANDLER_SECONDS.labels(handler).observe(duration)
            HANDLED.labels(handler, outcome).inc()
            kind = "handled" if outcome == "ok" else "failed"
            self._counts[kind] += 1
            self._counts[f"{kind}:{handler}"] += 1
            if outcome == "failed":
                self._failed[handler] += 1
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

    def finish(self, connection: Redis) -> None:
        """Throughput counts of this run, and which handlers failed (read for the dead-letter figures)."""
        pipe = connection.pipeline(transaction=False)
        throughput.add(pipe, self._counts)
        pipe.execute()
        if self._job is not None and self._failed:
            self._job.meta[FAILED_HANDLERS_META] = dict(self._failed)
            self._job.save_meta()
