"""Scrape-time collectors: figures read when Prometheus asks, not kept by any process.

RedisStateCollector reads queue depth, oldest job age, registry sizes, dead letters per handler, each handler's
backlog (its lanes) and live workers from Redis (a few pipelined reads per scrape). The poller's own figures are
collected beside it (receiver.poller_metrics).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from infobip_inbound.contract.store import handler_state, quarantine
from infobip_inbound.runtime import status

log = logging.getLogger(__name__)


class RedisStateCollector(Collector):
    def __init__(
        self, connection: Callable[[], redis.Redis], queues: list[str], lanes: list[tuple[str, str]] | None = None
    ) -> None:
        self._connection = connection
        self._queues = queues
        self._lanes = lanes or []  # (queue, handler): where a handler's backlog waits (status.lanes_of)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("infobip_inbound_redis_up", "1 when this scrape could read Redis.")
        try:
            connection = self._connection()
            queues = status.queue_figures(connection, self._queues)
            dlq = status.dead_letters(connection, self._queues)
            alive = len(status.workers(connection))
            held = quarantine.figures(connection)
            flow = handler_state.read(connection)
            backlog = status.handler_backlog(connection, self._lanes)
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
            "(message, handler) pairs in the dead-letter store (after their last try), by handler.",
            labels=["handler"],
        )
        for handler, count in sorted(dlq.items()):
            dlq_size.add_metric([handler], count)
        yield dlq_size
        yield GaugeMetricFamily("infobip_inbound_workers_alive", "RQ workers registered in Redis.", value=alive)
        yield GaugeMetricFamily(
            "infobip_inbound_quarantine_size",
            "Results in the quarantine: received but not readable as a UserResponse (`quarantine list`).",
            value=held["size"],
        )
        yield CounterMetricFamily(
            "infobip_inbound_quarantine_evicted",
            "Quarantine entries evicted because the store reached INBOUND_QUARANTINE_MAX_ENTRIES.",
            value=held["evicted_total"],
        )
        paused = GaugeMetricFamily(
            "infobip_inbound_handler_paused", "1 while the handler is paused (`handlers pause`).", labels=["handler"]
        )
        breaker = GaugeMetricFamily(
            "infobip_inbound_handler_breaker_open",
            "1 while the handler's circuit breaker holds its pairs (open, or cooled off waiting for a probe).",
            labels=["handler"],
        )
        for each in flow:
            paused.add_metric([each.name], int(each.paused_at is not None))
            breaker.add_metric([each.name], int(each.breaker != "closed"))
        yield from (paused, breaker)
        waiting = GaugeMetricFamily(
            "infobip_inbound_handler_backlog",
            "(message, handler) pairs waiting in the handler's lanes: it lags behind the other handlers, or is paused.",
            labels=["handler"],
        )
        waited = GaugeMetricFamily(
            "infobip_inbound_handler_backlog_age_seconds",
            "How long the oldest pair in the handler's lanes has waited since its response was accepted (0: none).",
            labels=["handler"],
        )
        for name, figures in sorted(backlog.items()):
            waiting.add_metric([name], figures["waiting"])
            waited.add_metric([name], figures["oldest_age_seconds"])
        yield from (waiting, waited)
