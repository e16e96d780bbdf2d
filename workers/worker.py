"""Worker entry: RQ workers over the configured queues.

SimpleWorker runs jobs in-process (no fork per job): a job is a batch of responses, and handlers are
resolved once per process. RQ's own signal handling gives the graceful stop: on SIGTERM the current job
finishes and no new one is taken.
"""

from __future__ import annotations

import os
import socket

from rq import Queue, SimpleWorker
from rq.worker_pool import WorkerPool

from infobip_inbound.redis_client import sync_client
from infobip_inbound.settings import Settings
from workers.endpoints import serve_worker_endpoints
from workers.jobs import current_context


def worker_queues(settings: Settings) -> list[str]:
    return settings.worker_queues or settings.queues


def run_worker(settings: Settings, *, burst: bool = False, processes: int = 1) -> None:
    """Work until stopped (or, with burst, until the queues are empty)."""
    current_context()  # resolve every routed handler now: a bad name fails at start, not on a message
    connection = sync_client(settings)
    queue_names = worker_queues(settings)
    serve_worker_endpoints(settings, connection, queue_names)  # when INBOUND_HEALTH_PORT is set
    if processes > 1:
        pool = WorkerPool(queue_names, connection=connection, num_workers=processes, worker_class=SimpleWorker)
        pool.start(burst=burst, logging_level=settings.log_level)
        return
    queues = [Queue(name, connection=connection) for name in queue_names]
    worker = SimpleWorker(queues, connection=connection, name=f"infobip-inbound-{socket.gethostname()}-{os.getpid()}")
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
