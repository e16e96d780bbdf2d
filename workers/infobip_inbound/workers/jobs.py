"""The RQ jobs of the workers: drain a queue's inbox, or run a handler over a batch (a retry, a redrive).

`drain_inbox` claims up to `worker_claim_max` responses into the job's own batch list (atomically; a
re-delivered job keeps the batch it claimed), then `run_batch` runs every (message, handler) pair, and it
claims again while responses keep coming. The pairs run concurrently up to each handler's limit
(infobip_inbound.workers.pair_calls); each pair that succeeds is recorded (per pair, with the dedup window as
TTL, and in the batch's done-set; the successes of concurrent async calls in groups) before it counts, so a
re-delivered job, or the same message in another batch, runs only the pairs that have not succeeded yet.
Pairs of a paused handler, or of one whose circuit breaker is open, are held in a batch of their own without
spending a try, and a handler's rate limit paces its calls (infobip_inbound.workers.handler_flow). In a drain
batch, the pairs of a handler that is paused or would hold the other handlers back are set aside in that
handler's lane, which the drain job runs beside its batches (infobip_inbound.workers.lanes). Failed
pairs are handed, per handler, to a retry batch or the dead-letter store (infobip_inbound.workers.failed_pairs);
then the batch is deleted. A batch job carrying a handler name runs only that handler; `tries` counts the
tries of its pairs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from redis import Redis
from rq import get_current_job

from infobip_inbound.contract.redaction import Redactor, redactor_for
from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import Settings, load_settings
from infobip_inbound.contract.store import inbox, scripts
from infobip_inbound.contract.store import lanes as lanes_store
from infobip_inbound.contract.store.inbox import Batch
from infobip_inbound.contract.store.jobs import Jobs, PreparedJob
from infobip_inbound.workers.batch_run import BatchRun
from infobip_inbound.workers.lanes import Lanes
from infobip_inbound.workers.maintenance import job_lease
from infobip_inbound.workers.observe import BatchObserver
from infobip_inbound.workers.pair_calls import PairCalls
from infobip_inbound.workers.registry import HandlerRegistry

log = logging.getLogger("infobip_inbound.worker")


@dataclass(frozen=True, slots=True)
class HandlerContext:
    settings: Settings
    router: Router
    registry: HandlerRegistry
    jobs: Jobs
    calls: PairCalls
    redact: Redactor  # a handler's error and traceback, before they are stored or logged

    @classmethod
    def build(cls, settings: Settings) -> HandlerContext:
        router = Router.from_settings(settings)
        registry = HandlerRegistry(router.handler_names, settings)
        calls = PairCalls(registry, settings)
        return cls(settings, router, registry, Jobs(settings), calls, redactor_for(settings))


class NoJobContext(RuntimeError):
    """A job ran in a process that no worker set up."""


_context: HandlerContext | None = None


def install_context(settings: Settings) -> HandlerContext:
    """Build the process's context from the settings the worker was started with; the jobs of this process,
    and of the worker processes it forks, use it."""
    global _context
    _context = HandlerContext.build(settings)
    return _context


def current_context() -> HandlerContext:
    """The context installed by the worker. Never read from the environment: a worker started with explicit
    settings runs its jobs with those."""
    if _context is None:
        raise NoJobContext(
            "no job context in this process: jobs run in a worker started by "
            "infobip_inbound.workers.worker.run_worker(settings), which installs it"
        )
    return _context


def job_context() -> HandlerContext:
    """The context of this process's jobs: the one the worker installed or, in a process no worker set up (a
    plain `rq worker`), one built once from the environment, as `infobip-inbound worker` would build it. A worker
    started with explicit settings (run_worker) has installed its own before any job runs."""
    if _context is None:
        log.warning(
            "no job context in this process (a plain `rq worker`?): built from the INBOUND_ environment; run"
            " `infobip-inbound worker` somewhere too, for retries and recovery"
        )
        return install_context(load_settings())
    return _context


def drain_inbox(queue: str) -> dict[str, int]:
    job = get_current_job()
    if job is None:
        raise RuntimeError("drain_inbox runs only inside an RQ worker")
    context = job_context()
    # Keep claiming while responses keep coming, within a time budget, and wait a moment for more before
    # ending: RQ's cost per job (several round trips) is then paid once per busy spell. The wait blocks on the
    # inbox itself, so a response that arrives mid-job is taken the moment it lands, not at the next poll.
    settings = context.settings
    started = time.monotonic()
    deadline = started + settings.worker_job_budget_seconds
    # Past the budget the job stops its lanes but takes what arrives until their rounds in flight have ended
    # (a round is a quarter second of calls, or a few): the inbox never waits for a lane's round. A round still
    # running at half the job's timeout (a call that hangs) is waited for without taking (Lanes.close).
    wind_down_until = max(deadline, started + settings.job_timeout_seconds / 2)
    idle_until = time.monotonic() + settings.worker_idle_wait_ms / 1000
    # The follow-up job a claim pushes when it leaves entries behind: prepared once, again only once pushed.
    followup = context.jobs.drain(queue)
    totals: dict[str, int] = {}

    def run_round(handler: str, entries: list[bytes] | None) -> object:
        observer = BatchObserver(job)
        batch = lanes_store.lane_batch(job.id, handler)
        return run_batch(
            job.connection, batch, context, handler=handler, queue=queue, observer=observer, entries=entries
        )

    handlers = context.router.queue_handlers(queue)
    lanes = Lanes(
        job.connection,
        settings,
        queue,
        job.id,
        handlers,
        context.calls.limit,
        context.calls.seconds_per_pair,
        run_round,
    )
    with job_lease(job.connection, job.id, settings.job_visibility_seconds):
        try:
            lanes.look()
            while (now := time.monotonic()) < wind_down_until:
                winding_down = now >= deadline
                if winding_down:
                    lanes.stop()
                    if not lanes.busy():
                        break
                claimed_at = time.time_ns()  # the start of the batch's claim span, when traced
                claimed = claim_batch(job.connection, queue, job.id, context, followup)
                if claimed.followup_pushed:
                    followup = context.jobs.drain(queue)
                entries = claimed.entries
                if entries == []:
                    if winding_down:
                        # Wait on the lanes, not on the inbox: a blocked read's short timeout lasts until Redis'
                        # next tick (100 ms at its default hz) when nothing else wakes it.
                        lanes.wait(_WIND_DOWN_POLL_SECONDS)
                        continue
                    wait = min(idle_until, deadline) - time.monotonic()
                    if wait <= 0:
                        if not lanes.busy():
                            break
                        # A lane still runs: keep taking what arrives meanwhile.
                        idle_until = time.monotonic() + settings.worker_idle_wait_ms / 1000
                        continue
                    entry = take_next(job.connection, queue, job.id, wait)
                    if entry is None:
                        continue  # the wait ran out: one more claim, then the loop ends unless something came
                    claimed_at, entries = time.time_ns(), [entry]
                observer = BatchObserver(job, claimed_at)
                outcome = run_batch(
                    job.connection,
                    Batch.of_job(job.id),
                    context,
                    queue=queue,
                    observer=observer,
                    entries=entries,
                    lanes=lanes,
                )
                for name, count in outcome.items():
                    totals[name] = totals.get(name, 0) + count
                idle_until = time.monotonic() + settings.worker_idle_wait_ms / 1000
        finally:
            lanes.close(context.jobs)
    return totals


# How long a job whose budget is spent waits for its lanes' rounds before it claims again: what arrives meanwhile
# waits that long at most.
_WIND_DOWN_POLL_SECONDS = 0.005


def claim_batch(
    connection: Redis, queue: str, job_id: str, context: HandlerContext, followup: PreparedJob | None = None
) -> scripts.Claimed:
    """Move up to `worker_claim_max` responses from the inbox to this job's batch (entries None if it holds an
    unfinished batch already: a retried job handles that batch first)."""
    return scripts.claim(
        queue=queue,
        job_id=job_id,
        claim_max=context.settings.worker_claim_max,
        followup=followup or context.jobs.drain(queue),
    ).run(connection)


def take_next(connection: Redis, queue: str, job_id: str, timeout: float) -> bytes | None:
    """Wait up to `timeout` seconds for the inbox's next response and move it into this job's (empty) batch;
    None if none came. The move is atomic, as a claim is: a worker killed after it leaves the response in the
    batch of a job that RQ gives out again."""
    # The blocked read must end well before the connection's socket timeout would break it (RQ raises a
    # worker's to minutes; another client may have seconds).
    socket_timeout = connection.connection_pool.connection_kwargs.get("socket_timeout")
    if socket_timeout:
        timeout = min(timeout, socket_timeout / 2)
    return inbox.take_next(connection, queue, Batch.of_job(job_id), timeout)


def handle_batch(batch_key: str, handler: str | None = None, tries: int = 1) -> dict[str, int]:
    """Run one handler (or the routed ones) over an existing batch: a retry or a redrive."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("handle_batch runs only inside an RQ worker")
    context = job_context()
    with job_lease(job.connection, job.id, context.settings.job_visibility_seconds):
        observer = BatchObserver(job)
        return run_batch(
            job.connection, Batch(batch_key), context, handler=handler, tries=tries, queue=job.origin, observer=observer
        )


def run_batch(
    connection: Redis,
    batch: Batch,
    context: HandlerContext,
    *,
    handler: str | None = None,
    tries: int = 1,
    queue: str | None = None,
    observer: BatchObserver | None = None,
    entries: list[bytes] | None = None,
    lanes: Lanes | None = None,
) -> dict[str, int]:
    """Run the batch's pairs (infobip_inbound.workers.batch_run). `entries`: the batch's content when the caller
    has just claimed it (a fresh batch has no pair done yet); else it is read, with the pairs done in an earlier
    delivery. `lanes`: a drain job's, which take the pairs of a handler set aside in its lane."""
    run = BatchRun(
        connection, batch, context, handler=handler, tries=tries, queue=queue, observer=observer, lanes=lanes
    )
    return run.run(entries)
