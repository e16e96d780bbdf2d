"""Scrape-time collectors: figures read when Prometheus asks, not kept by any process.

RedisStateCollector reads queue depth, oldest job age, registry sizes, dead letters per handler and live
workers from Redis (a few pipelined reads per scrape). PollerCollector reads the poller's own state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from infobip_inbound import status

if TYPE_CHECKING:
    from receiver.poller import Poller

log = logging.getLogger(__name__)


class RedisStateCollector(Collector):
    def __init__(self, connection: Callable[[], redis.Redis], queues: list[str]) -> None:
        self._connection = connection
        self._queues = queues

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("infobip_inbound_redis_up", "1 when this scrape could read Redis.")
        try:
            connection = self._connection()
            queues = status.queue_figures(connection, self._queues)
            dlq = status.dead_letters(connection, self._queues)
            alive = len(status.workers(connection))
        except (redis.RedisError, OSError) as exc:
            log.warning("metrics: Redis unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("infobip_inbound_queue_depth", "Jobs waiting on the queue.", labels=["queue"])
        age = GaugeMetricFamily(
            "infobip_inbound_queue_oldest_job_age_seconds",
            "Age of the job at the head of the queue (0 when empty).",
            labels=["queue"],
        )
        jobs = GaugeMetricFamily(
            "infobip_inbound_queue_jobs",
            "Jobs of the queue by state (started, scheduled, deferred, failed).",
            labels=["queue", "state"],
        )
        for row in queues:
            depth.add_metric([row["queue"]], row["depth"])
            age.add_metric([row["queue"]], row["oldest_job_age_seconds"])
            for state in ("started", "scheduled", "deferred", "failed"):
                jobs.add_metric([row["queue"], state], row[state])
        yield from (depth, age, jobs)
        dlq_size = GaugeMetricFamily(
            "infobip_inbound_dlq_size",
            "Failed (message, handler) pairs in dead-lettered jobs (RQ FailedJobRegistry), by handler.",
            labels=["handler"],
        )
        for handler, count in sorted(dlq.items()):
            dlq_size.add_metric([handler], count)
        yield dlq_size
        yield GaugeMetricFamily("infobip_inbound_workers_alive", "RQ workers registered in Redis.", value=alive)


class PollerCollector(Collector):
    def __init__(self, poller: Poller) -> None:
        self._poller = poller

    def collect(self) -> Iterator[Metric]:
        poller = self._poller
        yield GaugeMetricFamily(
            "infobip_inbound_poller_leader", "1 while this poller holds the lease.", value=int(poller.leader)
        )
        pulls = CounterMetricFamily("infobip_inbound_poller_pulls", "Successful pulls.", labels=["account"])
        pulled = CounterMetricFamily(
            "infobip_inbound_poller_pulled_messages", "Messages pulled and queued.", labels=["account"]
        )
        pending = GaugeMetricFamily(
            "infobip_inbound_poller_pending_messages",
            "pendingMessageCount Infobip reported on the last pull.",
            labels=["account"],
        )
        drained = GaugeMetricFamily(
            "infobip_inbound_poller_last_drain_timestamp_seconds",
            "When a pull last left nothing pending (Unix time).",
            labels=["account"],
        )
        since = GaugeMetricFamily(
            "infobip_inbound_poller_seconds_since_last_drain",
            "Seconds since a pull last left nothing pending.",
            labels=["account"],
        )
        stopped = GaugeMetricFamily(
            "infobip_inbound_poller_account_stopped",
            "1 when Infobip refused the account's credentials and polling it stopped.",
            labels=["account"],
        )
        now = time.time()
        for account in poller.accounts:
            pulls.add_metric([account.name], account.pulls)
            pulled.add_metric([account.name], account.pulled)
            if account.pending is not None:
                pending.add_metric([account.name], account.pending)
            if account.last_drain_at is not None:
                drained.add_metric([account.name], account.last_drain_at)
                since.add_metric([account.name], max(0.0, now - account.last_drain_at))
            stopped.add_metric([account.name], int(account.stopped is not None))
        yield from (pulls, pulled, pending, drained, since, stopped)


def count_pull_error(account: str, exc: Exception) -> None:
    """Count a failed pull by kind: credentials, throttled, server, client or transport."""
    from infobip_inbound.metrics import PULL_ERRORS

    status_code = getattr(exc, "status", None)
    if not isinstance(status_code, int):
        kind = "transport"
    elif status_code in (401, 403):
        kind = "credentials"
    elif status_code == 429:
        kind = "throttled"
    elif status_code >= 500:
        kind = "server"
    else:
        kind = "client"
    PULL_ERRORS.labels(account, kind).inc()
