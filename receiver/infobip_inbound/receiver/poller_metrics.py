"""The poller's figures: a scrape-time collector of its own state, and failed pulls counted by kind."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from infobip_inbound.runtime.metrics import PULL_ERRORS


class AccountFigures(Protocol):
    """What the collector reads of a poll account (receiver.poller.Account)."""

    name: str
    pulls: int
    pulled: int
    pending: int | None
    last_drain_at: float | None
    stopped: str | None


class PollerCollector(Collector):
    def __init__(self, leader: Callable[[], bool], accounts: Sequence[AccountFigures]) -> None:
        self._leader = leader
        self._accounts = accounts

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "infobip_inbound_poller_leader", "1 while this poller holds the lease.", value=int(self._leader())
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
        for account in self._accounts:
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
