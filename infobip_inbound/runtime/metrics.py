"""Prometheus metrics of every role, and the exposition served on /metrics.

Counters and histograms are updated where things happen (receiver, workers, poller). Gauges that describe
shared state (queue depth, oldest job age, dead letters, poller leadership) are not kept by any process:
collectors registered with `register()` read them at scrape time (from Redis, or from the poller's own
state), so every replica reports the same truth and nothing goes stale when a process dies.

Names: see README.md, "Metrics". On the hot path, use pre-bound children (`.labels(...)` once).
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from infobip_inbound.runtime.metrics_dir import ENV as MULTIPROC_ENV

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Receiver
HTTP_REQUESTS = Counter(
    "infobip_inbound_http_requests", "HTTP requests answered by the receiver, by route and status.", ["route", "status"]
)
MESSAGES = Counter(
    "infobip_inbound_messages",
    "Forwarded results queued (outcome=accepted), known already (outcome=duplicate) or set aside in the"
    " quarantine because they could not be read (outcome=quarantined).",
    ["outcome"],
)
REJECTED = Counter(
    "infobip_inbound_rejected",
    "Forward requests refused, by reason (the error code of the answer): forbidden (403, allowlist),"
    " too_many_requests (429, rate limit), unauthorized (401),"
    " payload_too_large (413, body size), invalid_envelope (400), too_deep (400, JSON nesting),"
    " too_many_results (413), unavailable (503, Redis cannot store); nothing of a refused request is queued.",
    ["reason"],
)
UNUSUAL_CONTENT_TYPES = Counter(
    "infobip_inbound_forward_content_types",
    "Forward requests whose Content-Type is not JSON, read as JSON all the same, by type: a named one"
    " (text/plain, application/x-json, ...), missing, or other.",
    ["type"],
)
ENQUEUE_SECONDS = Histogram(
    "infobip_inbound_enqueue_seconds",
    "Time from the oldest request of a group commit handing over its messages until they are stored"
    " (one observation per commit; every request of the commit waited at most this long).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
COMMIT_BATCH_MESSAGES = Histogram(
    "infobip_inbound_commit_batch_messages",
    "Messages written per group commit (one Redis script call per queue).",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
)

# Workers
HANDLED = Counter(
    "infobip_inbound_handled", "Handler calls, by handler and outcome (ok, failed).", ["handler", "outcome"]
)
HANDLER_SECONDS = Histogram(
    "infobip_inbound_handler_duration_seconds",
    "Time of one handler call on one response.",
    ["handler"],
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
JOB_RETRIES = Counter(
    "infobip_inbound_job_retries",
    "(message, handler) pairs handed to a retry after a failed call, by queue.",
    ["queue"],
)
NEWER_RESPONSES = Counter(
    "infobip_inbound_newer_responses_read",
    "Queued responses written by a newer release (a higher schema_version), read as this release's version"
    " (a rolling upgrade in progress, or workers left behind); by the schema_version written.",
    ["schema_version"],
)
UNREADABLE_RESPONSES = Counter(
    "infobip_inbound_unreadable_responses",
    "Queued responses this release could not read at all, dead-lettered (handler empty: the routed handlers)"
    " for a release that can read them.",
)
SWEPT = Counter(
    "infobip_inbound_swept",
    "Batches of jobs that failed for good, found by the workers' maintenance: outcome=requeued counts jobs queued"
    " again, outcome=dead_lettered the responses dead-lettered once a job had been queued again too often.",
    ["outcome"],
)

# Poller
PULL_ERRORS = Counter(
    "infobip_inbound_poller_pull_errors",
    "Failed pulls, by account and kind (credentials, throttled, server, client, transport).",
    ["account", "kind"],
)

_scrape_time = CollectorRegistry(auto_describe=False)


def register(collector: Collector) -> None:
    """Add a collector whose figures are read at scrape time (Redis state, the poller's state)."""
    _scrape_time.register(collector)


def unregister(collector: Collector) -> None:
    _scrape_time.unregister(collector)


def multiprocess() -> bool:
    return MULTIPROC_ENV in os.environ


def exposition() -> bytes:
    """The text exposition: every process's counters and histograms, then the scrape-time collectors."""
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        samples = generate_latest(registry)
    else:
        samples = generate_latest(REGISTRY)
    return samples + generate_latest(_scrape_time)
