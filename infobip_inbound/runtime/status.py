"""What operators look at: one snapshot of the whole system, read from Redis.

Used by `infobip-inbound status`, the receiver's status page and the scrape-time metrics. Read-only: it
only reads keys (no RQ registry cleanup), so looking never changes what is looked at.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC
from typing import Any

import orjson
import redis
from rq.worker import Worker

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import (
    archive,
    campaigns,
    dead_letter,
    handler_state,
    inbox,
    jobs,
    lanes,
    pulls,
    quarantine,
    throughput,
)
from infobip_inbound.contract.store.announcements import Announcements, groups, running

DLQ_SCAN_LIMIT = 10_000  # dead-letter entries inspected for the per-handler split


def queue_figures(connection: redis.Redis, queues: list[str], at: float | None = None) -> list[dict[str, Any]]:
    """Per queue: responses waiting in its inbox and how long the oldest has waited, and RQ's job registries."""
    at = time.time() if at is None else at
    retries = jobs.scheduled_retries(connection, DLQ_SCAN_LIMIT)
    return [
        {
            "queue": figures.queue,
            "depth": figures.depth,
            "oldest_job_age_seconds": lanes.entry_age(figures.head, at),
            "jobs_waiting": figures.jobs_waiting,
            "started": figures.started,
            "scheduled": figures.scheduled + retries.get(figures.queue, 0),
            "deferred": figures.deferred,
            "failed": figures.failed,
        }
        for figures in inbox.queue_depths(connection, queues)
    ]


def lanes_of(settings: Settings) -> list[tuple[str, str]]:
    """Every (queue, handler) a route sends responses to: the lanes a handler's backlog can wait in."""
    router = Router.from_settings(settings)
    return [(queue, handler) for queue in settings.queues for handler in router.queue_handlers(queue)]


def handler_backlog(
    connection: redis.Redis, lane_names: list[tuple[str, str]], at: float | None = None
) -> dict[str, dict[str, float]]:
    """Per handler, over its queues: pairs waiting in its lanes and the age of the oldest (seconds, 0: none)."""
    backlog: dict[str, dict[str, float]] = {}
    for figure in lanes.figures(connection, lane_names, at):
        mine = backlog.setdefault(figure.handler, {"waiting": 0, "oldest_age_seconds": 0.0})
        mine["waiting"] += figure.waiting
        mine["oldest_age_seconds"] = max(mine["oldest_age_seconds"], figure.oldest_age_seconds)
    return backlog


def dead_letters(connection: redis.Redis, queues: list[str]) -> dict[str, int]:
    """(message, handler) pairs in the dead-letter store, per handler (of the given queues)."""
    per_handler: Counter[str] = Counter()
    wanted = set(queues)
    for entry in dead_letter.select(connection, limit=DLQ_SCAN_LIMIT):
        if entry.queue in wanted:
            per_handler[entry.handler] += 1
    return dict(per_handler)


def workers(connection: redis.Redis, at: float | None = None) -> list[dict[str, Any]]:
    """RQ workers registered in Redis (a worker's key expires when its heartbeat stops)."""
    at = time.time() if at is None else at
    rows = []
    for worker in Worker.all(connection=connection):
        heartbeat = worker.last_heartbeat.replace(tzinfo=UTC).timestamp() if worker.last_heartbeat else None
        rows.append(
            {
                "name": worker.name,
                "state": str(getattr(worker.get_state(), "value", worker.get_state())),
                "queues": worker.queue_names(),
                "current_job": worker.get_current_job_id(),
                "heartbeat_age_seconds": round(at - heartbeat, 1) if heartbeat else None,
            }
        )
    return sorted(rows, key=lambda row: row["name"])


def poller(connection: redis.Redis, at: float | None = None) -> dict[str, Any]:
    """Who holds the poller lease, and what each poller last published."""
    at = time.time() if at is None else at
    record = pulls.read_pollers(connection)
    lease, ttl_ms = record.lease, record.lease_ttl_ms
    owner, token = (None, None)
    if lease:
        owner_s, _, token_s = lease.decode().rpartition("|")
        owner, token = owner_s, int(token_s) if token_s.isdigit() else None
    pollers = []
    last_drain: float | None = None
    for raw in record.statuses:
        try:
            status = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        for account in status.get("accounts", {}).values():
            drained = account.get("last_drain_at")
            if drained and (last_drain is None or drained > last_drain):
                last_drain = drained
        status["age_seconds"] = round(at - status.get("at", at), 1)
        pollers.append(status)
    return {
        "leader": owner,
        "fencing_token": token,
        "lease_ttl_seconds": round(ttl_ms / 1000, 1) if ttl_ms and ttl_ms > 0 else None,
        "last_drain_at": last_drain,
        "seconds_since_last_drain": round(at - last_drain, 1) if last_drain else None,
        "pollers": sorted(pollers, key=lambda p: str(p.get("owner"))),
    }


def dedup(connection: redis.Redis) -> dict[str, Any]:
    accepted, duplicates = throughput.ingest_totals(connection)
    seen = accepted + duplicates
    return {"accepted": accepted, "duplicates": duplicates, "hit_rate": round(duplicates / seen, 4) if seen else None}


CAMPAIGNS_SHOWN = 8


def campaign_figures(connection: redis.Redis, limit: int = CAMPAIGNS_SHOWN) -> list[dict[str, Any]]:
    """The bulks answered most recently, with response rates where Infobip's statistics are cached
    (`infobip-inbound campaigns` fills the cache: looking at the status never calls Infobip)."""
    figures = []
    for campaign in campaigns.recent(connection, limit, kind="bulk"):
        statistics = campaigns.cached_statistics(connection, campaign.id)
        figures.append({**campaign.as_json(), "statistics": campaigns.rates(campaign, statistics)})
    return figures


def snapshot(connection: redis.Redis, settings: Settings) -> dict[str, Any]:
    """Everything `status` shows, as plain JSON-able data."""
    at = time.time()
    queues = settings.queues
    last_minute = throughput.total(throughput.read(connection, 60, at))
    hour = throughput.per_minute(throughput.read(connection, 3600, at))
    dlq = dead_letters(connection, queues)
    seen = Announcements(connection).live(at=at)
    run_by = running(seen)  # what the live workers run, as they announced it (not this process's settings)
    handler_names = set(Router.from_settings(settings).handler_names) | set(dlq) | set(run_by)
    handler_names |= {name.partition(":")[2] for name in last_minute if ":" in name}
    flow = {state.name: state for state in handler_state.read(connection, handler_names)}
    backlog = handler_backlog(connection, lanes_of(settings), at)
    handlers = {
        name: {
            "handled_last_minute": last_minute.get(f"handled:{name}", 0),
            "failed_last_minute": last_minute.get(f"failed:{name}", 0),
            "dead_letters": dlq.get(name, 0),
            "state": flow[name].state,  # running, paused, breaker open, breaker half-open
            "breaker_failures": flow[name].failures,
            # Pairs waiting in the handler's lanes (it lags, or is paused) and how long the oldest has waited.
            "backlog": backlog.get(name, {}).get("waiting", 0),
            "backlog_oldest_age_seconds": backlog.get(name, {}).get("oldest_age_seconds", 0.0),
            # Worker processes running it, by the live workers' announcements; a paused handler no live worker
            # runs is a pause nobody honours (a typo, or a handler not deployed yet).
            "workers": run_by.get(name, 0),
            "unheeded": flow[name].state == "paused" and not run_by.get(name),
        }
        for name in sorted(handler_names | set(flow))
    }
    registered = workers(connection, at)
    return {
        "at": at,
        "queues": queue_figures(connection, queues, at),
        "last_minute": {k: last_minute.get(k, 0) for k in ("accepted", "duplicates", "handled", "failed")},
        "handlers": handlers,
        "workers": {"alive": len(registered), "busy": sum(w["state"] == "busy" for w in registered)},
        "worker_list": registered,
        "worker_groups": groups(seen),
        "poller": poller(connection, at),
        "dedup": dedup(connection),
        "quarantine": quarantine.figures(connection),
        "archive": archive.figures(connection),
        "campaigns": campaign_figures(connection),
        "last_hour": [
            {"minute": minute, **{k: counts.get(k, 0) for k in ("accepted", "duplicates", "handled", "failed")}}
            for minute, counts in hour
        ],
    }
