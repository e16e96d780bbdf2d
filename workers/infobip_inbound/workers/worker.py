"""Worker entry: RQ workers over the configured queues.

SimpleWorker runs jobs in-process (no fork per job): a job is a batch of responses, and handlers are
resolved once per process. RQ's own signal handling gives the graceful stop: on SIGTERM the current job
finishes and no new one is taken. A maintenance thread requeues jobs of dead workers and releases due
retries, ours and RQ's (infobip_inbound.workers.maintenance, which says why RQ's scheduler is not run). When
Redis goes away RQ's loop ends; the worker starts it again.

With INBOUND_HEALTH_PORT set, the process started by `infobip-inbound worker` serves /health/live and
/health/ready on that port (infobip_inbound.runtime.health):

- one process: live while the RQ work loop is turning. The loop heartbeats before every dequeue, after
  every job and on every retry while Redis is unreachable, so the last heartbeat is never older than the
  longest dequeue wait plus the longest job (RQ's job timeout bounds it) plus a reconnect pause;
- `--processes N` (RQ WorkerPool): the port is served by the pool's parent, which runs no jobs. Live
  while its supervising loop runs (it checks its worker processes every second and starts a new one for
  each that died); a worker process that hangs without dying is not seen here;
- ready: Redis answers PING (a client of its own, with the configured short timeouts).
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import redis
from rq import Queue, SimpleWorker
from rq.worker_pool import WorkerPool

from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store.announcements import Announcement
from infobip_inbound.contract.store.jobs import InboundJob, Jobs
from infobip_inbound.contract.store.stuck import StuckBatches
from infobip_inbound.runtime import status, tracing
from infobip_inbound.runtime.health import serve_health
from infobip_inbound.runtime.metrics import register
from infobip_inbound.runtime.metrics_collectors import RedisStateCollector
from infobip_inbound.runtime.process import settle_heap
from infobip_inbound.runtime.redis_client import sync_client
from infobip_inbound.workers.jobs import install_context
from infobip_inbound.workers.maintenance import Maintenance

log = logging.getLogger("infobip_inbound.worker")

RESTART_DELAY_SECONDS = 1.0

# Slack on top of the longest legitimate gap between two turns of a loop.
_LIVE_SLACK_SECONDS = 120.0


class InboundWorker(SimpleWorker):
    """RQ's SimpleWorker, reconnecting sooner: after a Redis outage RQ's default pause grows to 60 s. Its
    InboundJob also runs jobs queued under an earlier release's function names."""

    max_connection_wait_time = 5.0
    job_class = InboundJob

    def _start_scheduler(self, *args: Any, **kwargs: Any) -> None:
        """Never start RQ's scheduler (RQ's WorkerPool asks for it): the maintenance thread releases due
        scheduled jobs instead (infobip_inbound.workers.maintenance says why)."""

    def teardown(self) -> None:
        super().teardown()  # type: ignore[no-untyped-call]
        tracing.flush()  # a WorkerPool's worker process ends with os._exit: no exit hook exports its spans


def _new_worker(connection: redis.Redis, queue_names: list[str], name: str, *, wait: bool = True) -> InboundWorker:
    """An RQ worker, built once Redis answers: building one names its connection (CLIENT SETNAME), and a
    restart while Redis is still away must wait for it rather than end the process (unless not `wait`)."""
    while True:
        try:
            return InboundWorker(
                [Queue(q, connection=connection) for q in queue_names], connection=connection, name=name
            )
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if not wait:
                raise
            log.warning("Redis unavailable; waiting to start the worker", extra={"error": type(exc).__name__})
            time.sleep(RESTART_DELAY_SECONDS)


def worker_queues(settings: Settings) -> list[str]:
    return settings.worker_queues or settings.queues


class _Pool(WorkerPool):
    """WorkerPool that records when its supervising loop last checked its worker processes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.checked_at: float | None = None

    def check_workers(self, respawn: bool = True) -> None:
        super().check_workers(respawn=respawn)
        self.checked_at = time.monotonic()


class WorkerHealth:
    """Checks for serve_health; `loop_age` says how long ago the work (or supervising) loop last turned."""

    def __init__(self, settings: Settings, stale_after: float, loop_age: Callable[[], float | None]) -> None:
        self._settings = settings
        self._stale_after = stale_after
        self._loop_age = loop_age
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()

    def live(self) -> tuple[bool, dict[str, Any]]:
        age = self._loop_age()
        if age is None:
            return False, {"loop": "starting"}
        return age < self._stale_after, {"loop_age_s": round(age, 1), "stale_after_s": self._stale_after}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:  # one client, created on first use; redis.Redis itself is thread-safe
            if self._client is None:
                self._client = sync_client(self._settings)
            client = self._client
        try:
            client.ping()
        except redis.RedisError as exc:
            return False, {"redis": "unavailable", "error": type(exc).__name__}
        return True, {"redis": "ok"}


def run_worker(settings: Settings, *, burst: bool = False, processes: int = 1) -> None:
    """Work until stopped (or, with burst, until the queues are empty). A burst run ends: Redis unreachable
    raises redis.RedisError (after the client's bounded retries) rather than waiting for it to come back."""
    # The jobs run with these settings, never with a fresh read of the environment. Every routed handler is
    # resolved now, so a bad name fails at start, not on a message. RQ's WorkerPool (rq 3.0) starts its
    # worker processes with multiprocessing's fork context: they inherit this context.
    tracing.setup()  # from the standard OTEL_* variables, before the pool forks its workers
    context = install_context(settings)
    # Handlers imported and resolved: keep all of it out of later collections, or a full collection stalls every
    # call for ~100 ms here (the end-to-end p99's tail); forked worker processes inherit the frozen heap.
    settle_heap()
    connection = sync_client(settings)
    if burst:
        connection.ping()  # a run that must end does not wait for a Redis that is away
    queue_names = worker_queues(settings)
    if settings.health_port:
        # /metrics on the health port also reports the queues, read from Redis at scrape time.
        register(RedisStateCollector(lambda: connection, queue_names, status.lanes_of(settings)))
    lanes = {queue: context.router.queue_handlers(queue) for queue in queue_names}
    maintenance = Maintenance(
        connection,
        queue_names,
        settings.job_visibility_seconds,
        Jobs(settings),
        stuck=StuckBatches(connection, settings),
        handlers=lanes,
        announcement=Announcement(
            worker="",  # named by the maintenance, per process
            release=version("infobip-inbound"),
            processes=processes,
            queues=list(queue_names),
            handlers={queue: list(names) for queue, names in lanes.items()},
            flow={
                name: settings.flow_policy(name).model_dump(mode="json", exclude_defaults=True)
                for name in sorted({name for names in lanes.values() for name in names})
            },
        ),
    )
    maintenance.start()

    def more_work() -> bool:
        """Whether a burst run must go on: an inbox left without a drain job (a job that failed for good, or was
        lost) or a retry now due was queued by the catch-up, or jobs came meanwhile."""
        return maintenance.catch_up() > 0 or any(Queue(q, connection=connection).count for q in queue_names)

    try:
        if burst:
            maintenance.catch_up()  # before RQ first finds the queues empty
        if processes > 1:
            pools: list[_Pool] = []  # the current one: a burst run may need another round
            for run in itertools.count():
                pool = _Pool(
                    queue_names,
                    connection=connection,
                    num_workers=processes,
                    worker_class=InboundWorker,
                    job_class=InboundJob,
                )
                pools[:] = [pool]
                if run == 0 and settings.health_port:

                    def pool_age() -> float | None:
                        checked = pools[0].checked_at
                        return None if checked is None else time.monotonic() - checked

                    health = WorkerHealth(settings, _LIVE_SLACK_SECONDS, pool_age)
                    serve_health(settings.host, settings.health_port, health.live, health.ready)
                pool.start(burst=burst, logging_level=settings.log_level)
                if not (burst and more_work()):
                    return
        name = f"infobip-inbound-{socket.gethostname()}-{os.getpid()}"
        current: list[InboundWorker] = []
        for run in itertools.count():
            # A new name per run: a registration left without its death mark must not block the next run.
            worker = _new_worker(connection, queue_names, f"{name}-{run}" if run else name, wait=not burst)
            current[:] = [worker]
            if run == 0 and settings.health_port:
                # Longest gap between heartbeats: a blocking dequeue, one job, then a reconnect pause.
                longest = worker.dequeue_timeout + settings.job_timeout_seconds + worker.max_connection_wait_time

                def worker_age() -> float | None:
                    beat = current[0].last_heartbeat  # timezone-aware UTC, set by RQ on every turn of its loop
                    return None if beat is None else max(0.0, time.time() - beat.timestamp())

                health = WorkerHealth(settings, longest + RESTART_DELAY_SECONDS + _LIVE_SLACK_SECONDS, worker_age)
                serve_health(settings.host, settings.health_port, health.live, health.ready)
            try:
                worker.work(burst=burst, with_scheduler=False, logging_level=settings.log_level)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if burst:
                    raise  # the queues were not worked to the end: not a success
                log.warning("Redis unavailable", extra={"error": type(exc).__name__})
            if worker._shutdown_requested_date is not None:  # SIGTERM or SIGINT
                return
            if burst:
                if more_work():
                    continue
                return
            # RQ ends its loop on an unexpected error (Redis gone mid-job): start again once it is back.
            log.warning("worker loop ended unexpectedly; starting again")
            time.sleep(RESTART_DELAY_SECONDS)
    finally:
        maintenance.stop.set()
