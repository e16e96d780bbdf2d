"""The RQ job that drains a queue's inbox: claim a batch of responses, run the routed handlers over it.

`drain_inbox` claims up to `worker_claim_max` responses into the job's own batch list (atomically; a retry
of the job keeps the batch it claimed), then `run_batch` runs every (message, handler) pair. Each pair
that succeeds is recorded in the batch's done-set before the next message starts, so a retried or
re-delivered job runs only the pairs that have not succeeded yet. When every pair has succeeded the batch
is deleted; otherwise the job raises and RQ's retry policy takes over.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cache

from redis import Redis
from rq import get_current_job

from infobip_inbound.inbox import CLAIM_LUA, DrainJobs, batch_key, inbox_key, pending_key, queue_keys
from infobip_inbound.model import UserResponse
from infobip_inbound.routing import Router
from infobip_inbound.settings import Settings, load_settings
from workers.registry import HandlerRegistry

log = logging.getLogger("infobip_inbound.worker")

DONE_SUFFIX = ":done"
_IDLE_POLL_SECONDS = 0.002


@dataclass(frozen=True, slots=True)
class HandlerContext:
    settings: Settings
    router: Router
    registry: HandlerRegistry
    drain_jobs: DrainJobs

    @classmethod
    def build(cls, settings: Settings) -> HandlerContext:
        router = Router.from_settings(settings)
        return cls(settings, router, HandlerRegistry(router.handler_names), DrainJobs(settings))


@cache
def current_context() -> HandlerContext:
    """The process's context, built once (the worker entry builds it at start so bad config fails early)."""
    return HandlerContext.build(load_settings())


class HandlerFailures(Exception):
    """Some (message, handler) pairs of a batch failed; the others are recorded as done."""

    def __init__(self, failures: list[tuple[str, str, str]]) -> None:
        summary = ", ".join(f"{message_id}/{handler}: {error}" for message_id, handler, error in failures[:10])
        more = f" (+{len(failures) - 10} more)" if len(failures) > 10 else ""
        super().__init__(f"{len(failures)} handler call(s) failed: {summary}{more}")
        self.failures = failures


def pair_id(message_id: str, handler: str) -> str:
    return f"{handler}\x1f{message_id}"


def drain_inbox(queue: str) -> dict[str, int]:
    job = get_current_job()
    if job is None:
        raise RuntimeError("drain_inbox runs only inside an RQ worker")
    context = current_context()
    # Keep claiming while responses keep coming, within a time budget, and wait a moment for more before
    # ending: RQ's cost per job (several round trips) is then paid once per busy spell, and a response that
    # arrives mid-job waits one short poll, not a new job.
    settings = context.settings
    deadline = time.monotonic() + settings.worker_job_budget_seconds
    idle_until = time.monotonic() + settings.worker_idle_wait_ms / 1000
    totals = {"responses": 0, "handled": 0, "skipped": 0}
    while time.monotonic() < deadline:
        if claim_batch(job.connection, queue, job.id, context) == 0:
            if time.monotonic() >= idle_until:
                break
            time.sleep(_IDLE_POLL_SECONDS)
            continue
        outcome = run_batch(job.connection, batch_key(job.id), context)
        for name, count in outcome.items():
            totals[name] += count
        idle_until = time.monotonic() + settings.worker_idle_wait_ms / 1000
    return totals


def claim_batch(connection: Redis, queue: str, job_id: str, context: HandlerContext) -> int:
    """Move up to `worker_claim_max` responses from the inbox to this job's batch; -1 if it holds an
    unfinished batch already (a retried job: that batch is handled first)."""
    followup = context.drain_jobs.prepare(queue)
    keys = [inbox_key(queue), pending_key(queue), batch_key(job_id), *queue_keys(queue), followup.key]
    args = [context.settings.worker_claim_max, job_id, followup.id, followup.field_count, *followup.fields]
    return int(connection.register_script(CLAIM_LUA)(keys=keys, args=args))


def handle_batch(batch_key: str) -> dict[str, int]:
    """Run the handlers over an existing batch (a redriven one, for instance)."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("handle_batch runs only inside an RQ worker")
    return run_batch(job.connection, batch_key, current_context())


def run_batch(connection: Redis, batch_key: str, context: HandlerContext) -> dict[str, int]:
    done_key = batch_key + DONE_SUFFIX
    raw_responses, done_raw = _load(connection, batch_key, done_key)
    done = {member.decode() for member in done_raw}
    ttl = context.settings.dedup_window_seconds
    failures: list[tuple[str, str, str]] = []
    handled = skipped = 0
    for raw in raw_responses:
        response = UserResponse.model_validate_json(raw)
        succeeded: list[str] = []
        for handler in context.router.destination(response).handlers:
            pair = pair_id(response.message_id, handler)
            if pair in done:
                skipped += 1
                continue
            started = time.perf_counter()
            try:
                context.registry.call(handler, response)
            except Exception as exc:
                failures.append((response.message_id, handler, f"{type(exc).__name__}: {exc}"))
                log.warning(
                    "handler failed",
                    exc_info=True,
                    extra={"message_id": response.message_id, "handler": handler, "outcome": "failed"},
                )
                continue
            succeeded.append(pair)
            handled += 1
            log.debug(
                "handled",
                extra={
                    "message_id": response.message_id,
                    "application_code": response.application_code,
                    "handler": handler,
                    "outcome": "ok",
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )
        if succeeded:
            # Recorded before the next message, so a crash re-runs at most this message's pairs.
            pipe = connection.pipeline(transaction=True)
            pipe.sadd(done_key, *succeeded)
            pipe.expire(done_key, ttl)
            pipe.execute()
    if failures:
        raise HandlerFailures(failures)
    connection.delete(batch_key, done_key)
    return {"responses": len(raw_responses), "handled": handled, "skipped": skipped}


def _load(connection: Redis, batch_key: str, done_key: str) -> tuple[list[bytes], set[bytes]]:
    pipe = connection.pipeline(transaction=False)
    pipe.lrange(batch_key, 0, -1)
    pipe.smembers(done_key)
    raw_responses, done = pipe.execute()
    return raw_responses, done
