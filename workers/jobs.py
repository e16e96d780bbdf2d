"""The RQ job the receiver enqueues: run the routed handlers over one stored batch of responses.

Each (message, handler) pair that succeeds is recorded in the batch's done-set before the next message
starts, so a retried or re-delivered job runs only the pairs that have not succeeded yet. When every pair
has succeeded the batch is deleted; otherwise the job raises and RQ's retry policy takes over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

from redis import Redis
from rq import get_current_job

from infobip_inbound.model import UserResponse
from infobip_inbound.routing import Router
from infobip_inbound.settings import Settings, load_settings
from workers.observe import BatchObserver
from workers.registry import HandlerRegistry

log = logging.getLogger("infobip_inbound.worker")

DONE_SUFFIX = ":done"


@dataclass(frozen=True, slots=True)
class HandlerContext:
    settings: Settings
    router: Router
    registry: HandlerRegistry

    @classmethod
    def build(cls, settings: Settings) -> HandlerContext:
        router = Router.from_settings(settings)
        return cls(settings, router, HandlerRegistry(router.handler_names))


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


def handle_batch(batch_key: str) -> dict[str, int]:
    job = get_current_job()
    if job is None:
        raise RuntimeError("handle_batch runs only inside an RQ worker")
    context = current_context()
    return run_batch(job.connection, batch_key, context, BatchObserver(job, context.settings.job_retries))


def run_batch(
    connection: Redis, batch_key: str, context: HandlerContext, observer: BatchObserver | None = None
) -> dict[str, int]:
    observer = observer or BatchObserver()
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
            try:
                observer.call(context.registry, handler, response)  # logs and counts the call
            except Exception as exc:
                failures.append((response.message_id, handler, f"{type(exc).__name__}: {exc}"))
                continue
            succeeded.append(pair)
            handled += 1
        if succeeded:
            # Recorded before the next message, so a crash re-runs at most this message's pairs.
            pipe = connection.pipeline(transaction=True)
            pipe.sadd(done_key, *succeeded)
            pipe.expire(done_key, ttl)
            pipe.execute()
    observer.finish(connection)
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
