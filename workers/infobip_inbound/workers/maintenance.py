"""Job visibility and scheduled retries, kept by a thread in every worker process.

A running batch holds a lease key that its worker renews; RQ itself would notice a SIGKILLed worker's
job only after the job timeout plus a minute, and then spend a retry on it (or fail it for good).
Here a job that is STARTED but whose lease has lapsed is put back at the front of its queue at once,
without spending a retry: its batch's done-set makes the re-run skip the pairs already settled.
The same thread moves retry batches whose backoff has passed onto their queues, releases RQ's scheduled jobs
(whole-job retries) when due, puts the batches of jobs that failed for good back to work
(infobip_inbound.contract.store.stuck), makes sure a drain job waits for every inbox, and every handler lane
not paused, that holds entries, and announces which response version this worker reads
(infobip_inbound.contract.store.readers).

RQ's own scheduler is not used: it runs in one worker's forked process that ends on a Redis error (and
outlives a SIGKILLed worker), its lock outlives it by a minute, and the other workers try for the lock only
every ten minutes; a drain job waiting for its retry, and the batch it claimed, waited that long. Here every
worker releases due jobs, each in one script call, so none is released twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

import redis

from infobip_inbound.contract.store import leases, scripts
from infobip_inbound.contract.store.announcements import Announcement, Announcements
from infobip_inbound.contract.store.jobs import Jobs
from infobip_inbound.contract.store.readers import ANNOUNCE_SECONDS, Readers
from infobip_inbound.contract.store.stuck import StuckBatches
from infobip_inbound.runtime.metrics import SWEPT

log = logging.getLogger("infobip_inbound.worker")

SWEEP_SECONDS = 5.0  # how often the failed registries are read for stranded batches


@contextlib.contextmanager
def job_lease(connection: redis.Redis, job_id: str, seconds: float) -> Iterator[None]:
    """Hold the job's lease while the block runs. On exit the lease is left to lapse, not deleted:
    RQ marks the job finished just after, and until then the job must not look abandoned."""
    ttl_ms = max(1, int(seconds * 1000))
    leases.hold(connection, job_id, ttl_ms)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(seconds / 3):
            with contextlib.suppress(redis.RedisError):
                leases.hold(connection, job_id, ttl_ms)

    thread = threading.Thread(target=renew, name=f"lease-{job_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def requeue_abandoned(connection: redis.Redis, queues: Sequence[str], grace: float) -> list[str]:
    """Put back STARTED jobs whose lease has lapsed (their worker died). Returns their ids."""
    requeued = []
    for queue in queues:
        for job_id, member in leases.lapsed_started_jobs(connection, queue):
            if leases.requeue_lapsed(connection, queue, job_id, member, grace):
                requeued.append(job_id)
    if requeued:
        log.warning("requeued jobs of workers that stopped mid-job", extra={"jobs": requeued})
    return requeued


class Maintenance:
    """The worker's background duties; `run` loops until `stop` is set, riding out Redis outages."""

    def __init__(
        self,
        connection: redis.Redis,
        queues: Sequence[str],
        visibility_seconds: float,
        jobs: Jobs,
        tick: float = 0.5,
        stuck: StuckBatches | None = None,
        handlers: Mapping[str, Sequence[str]] | None = None,
        announcement: Announcement | None = None,
    ) -> None:
        self._connection = connection
        self._announcement = announcement  # what this worker runs, announced with its heartbeat
        self._stuck = stuck
        self._queues = list(queues)
        self._handlers = dict(handlers or {})  # per queue: the handlers whose lanes to look at
        self._jobs = jobs
        self._visibility = visibility_seconds
        self._tick = tick
        self.stop = threading.Event()

    def move_due(self, limit: int = 500, rq_queue: str | None = None) -> int:
        return scripts.move_due(limit=limit, rq_queue=rq_queue).run(self._connection)

    def _move_all_due(self, rounds: int = 100) -> None:
        """Release due retries (ours, then RQ's per queue), `limit` per script call so Redis is never blocked
        long; bounded per tick."""
        for rq_queue in [None, *self._queues]:
            for _ in range(rounds):
                if self.stop.is_set() or not self.move_due(rq_queue=rq_queue):
                    break

    def ensure_drained(self) -> int:
        """Push a drain job for each inbox (or handler lane not paused) that holds entries and has none waiting.
        Returns how many."""
        pushed = for_lanes = 0
        for queue in self._queues:
            drain = scripts.ensure_drain(
                queue=queue, drain_job=self._jobs.drain(queue), handlers=self._handlers.get(queue, ())
            )
            why = drain.run(self._connection)
            pushed += why == 1
            for_lanes += why == 2  # a lane's drain job ending leaves it to the next: routine, not a repair
        if pushed:
            log.warning("queued drain jobs for inboxes left without one", extra={"jobs": pushed})
        return pushed + for_lanes

    def sweep_stuck(self) -> int:
        """Put the batches of jobs that failed for good back to work, or dead-letter them
        (infobip_inbound.contract.store.stuck). Returns how many jobs it queued again."""
        if self._stuck is None:
            return 0
        requeued = 0
        for queue in self._queues:
            outcome = self._stuck.sweep(queue)
            if outcome.requeued or outcome.dead_lettered:
                SWEPT.labels("requeued").inc(outcome.requeued)
                SWEPT.labels("dead_lettered").inc(outcome.dead_lettered)
                log.warning(
                    "batches of jobs that failed for good: queued again, or dead-lettered",
                    extra={"queue": queue, "requeued": outcome.requeued, "dead_lettered": outcome.dead_lettered},
                )
            requeued += outcome.requeued
        return requeued

    def catch_up(self) -> int:
        """One pass of the duties that put work on the queues, now (a burst worker does not wait for the
        thread's tick): due retries released, stuck batches swept, a drain job for every inbox left without
        one. Returns how many jobs it queued."""
        self._move_all_due()
        return self.sweep_stuck() + self.ensure_drained()

    def run(self) -> None:
        next_reap = next_announce = next_sweep = 0.0
        readers, me = Readers(self._connection), f"{socket.gethostname()}-{os.getpid()}"
        announcements = Announcements(self._connection)
        while not self.stop.wait(self._tick):
            try:
                if time.monotonic() >= next_announce:  # the version this worker reads (store.readers says why)
                    readers.announce(me)
                    if self._announcement is not None:  # what it runs: handlers judge from it (announcements)
                        announcements.announce(replace(self._announcement, worker=me))
                    next_announce = time.monotonic() + ANNOUNCE_SECONDS
                self._move_all_due()
                if time.monotonic() >= next_sweep:
                    self.sweep_stuck()
                    next_sweep = time.monotonic() + SWEEP_SECONDS
                self.ensure_drained()
                if time.monotonic() >= next_reap:
                    requeue_abandoned(self._connection, self._queues, self._visibility)
                    next_reap = time.monotonic() + max(self._tick, self._visibility / 3)
            except redis.RedisError as exc:
                log.warning("worker maintenance: Redis unavailable", extra={"error": type(exc).__name__})

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="inbound-maintenance", daemon=True)
        thread.start()
        return thread
