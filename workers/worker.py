"""Worker entry: RQ workers over the configured queues.

SimpleWorker runs jobs in-process (no fork per job): a job is a batch of responses, and handlers are
resolved once per process. RQ's own signal handling gives the graceful stop: on SIGTERM the current job
finishes and no new one is taken. A maintenance thread requeues jobs of dead workers and releases due
retries (workers/maintenance.py). When Redis goes away RQ's loop ends; the worker starts it again.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import time

import redis
from rq import Queue, SimpleWorker
from rq.worker_pool import WorkerPool

from infobip_inbound.redis_client import sync_client
from infobip_inbound.settings import Settings
from workers.jobs import current_context
from workers.maintenance import Maintenance

log = logging.getLogger("infobip_inbound.worker")

RESTART_DELAY_SECONDS = 1.0


def worker_queues(settings: Settings) -> list[str]:
    return settings.worker_queues or settings.queues


def run_worker(settings: Settings, *, burst: bool = False, processes: int = 1) -> None:
    """Work until stopped (or, with burst, until the queues are empty)."""
    current_context()  # resolve every routed handler now: a bad name fails at start, not on a message
    connection = sync_client(settings)
    queue_names = worker_queues(settings)
    maintenance = Maintenance(connection, queue_names, settings.job_visibility_seconds)
    maintenance.start()
    try:
        if processes > 1:
            pool = WorkerPool(queue_names, connection=connection, num_workers=processes, worker_class=SimpleWorker)
            pool.start(burst=burst, logging_level=settings.log_level)
            return
        name = f"infobip-inbound-{socket.gethostname()}-{os.getpid()}"
        for run in itertools.count():
            queues = [Queue(queue, connection=connection) for queue in queue_names]
            # A new name per run: a registration left without its death mark must not block the next run.
            worker = SimpleWorker(queues, connection=connection, name=f"{name}-{run}" if run else name)
            try:
                worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("Redis unavailable", extra={"error": type(exc).__name__})
            if burst or worker._shutdown_requested_date is not None:  # SIGTERM or SIGINT
                return
            # RQ ends its loop on an unexpected error (Redis gone mid-job): start again once it is back.
            log.warning("worker loop ended unexpectedly; starting again")
            time.sleep(RESTART_DELAY_SECONDS)
    finally:
        maintenance.stop.set()
