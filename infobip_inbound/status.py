"""What operators look at: one snapshot of the whole system, read from Redis.

Used by `infobip-inbound status`, the receiver's status page and the scrape-time metrics. Read-only: it
only reads keys (no RQ registry cleanup), so looking never changes what is looked at.
"""

from __future__ import annotations

import pickle  # RQ's own job serializer; the job hashes are written by our processes
import time
from collections import Counter
from datetime import UTC
from typing import Any

import orjson
import redis
from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.utils import utcparse
from rq.worker import Worker

from infobip_inbound import throughput
from infobip_inbound.routing import Router
from infobip_inbound.settings import Settings

QUEUE_PREFIX = "rq:queue:"
JOB_PREFIX = "rq:job:"
INGEST_KEY = "inbound:stats:ingest"  # written by the enqueue script (receiver/enqueue.py)
POLLER_STATUS_KEY = "inbound:poller:status"  # written by the poller (receiver/poller.py)
LEASE_KEY = "inbound:poller:lease"  # "owner|token" (receiver/lease.py)
FAILED_HANDLERS_META = "failed_handlers"  # job meta: {handler: failed pairs} of the job's last run
UNKNOWN_HANDLER = "unknown"  # a dead-lettered job that recorded no handler (timeout, killed worker)
DLQ_SCAN_LIMIT = 1000  # failed jobs inspected per queue for the per-handler split


def queue_figures(connection: redis.Redis, queues: list[str], at: float | None = None) -> list[dict[str, Any]]:
    """Depth, oldest job age and registry sizes of each queue."""
    at = time.time() if at is None else at
    pipe = connection.pipeline(transaction=False)
    for name in queues:
        pipe.llen(QUEUE_PREFIX + name)
        pipe.lindex(QUEUE_PREFIX + name, 0)
        for registry in _registries(name, connection):
            pipe.zcard(registry)
    replies = pipe.execute()
    rows: list[dict[str, Any]] = []
    heads: list[bytes | None] = []
    for index, name in enumerate(queues):
        depth, head, started, scheduled, deferred, failed = replies[index * 6 : index * 6 + 6]
        heads.append(head)
        rows.append(
            {
                "queue": name,
                "depth": depth,
                "oldest_job_age_seconds": 0.0,
                "started": started,
                "scheduled": scheduled,
                "deferred": deferred,
                "failed": failed,
            }
        )
    pipe = connection.pipeline(transaction=False)
    for head in heads:
        pipe.hget(JOB_PREFIX + head.decode(), "enqueued_at") if head else pipe.echo("")
    for row, enqueued in zip(rows, pipe.execute(), strict=True):
        if enqueued:
            enqueued_at = utcparse(enqueued.decode()).replace(tzinfo=UTC).timestamp()
            row["oldest_job_age_seconds"] = round(max(0.0, at - enqueued_at), 3)
    return rows


def _registries(queue: str, connection: redis.Redis) -> list[str]:
    return [
        StartedJobRegistry(queue, connection=connection).key,
        ScheduledJobRegistry(queue, connection=connection).key,  # type: ignore[no-untyped-call]
        DeferredJobRegistry(queue, connection=connection).key,
        FailedJobRegistry(queue, connection=connection).key,
    ]


def dead_letters(connection: redis.Redis, queues: list[str]) -> dict[str, int]:
    """Failed (message, handler) pairs of the dead-lettered jobs (RQ's FailedJobRegistry), per handler."""
    per_handler: Counter[str] = Counter()
    for queue in queues:
        key = FailedJobRegistry(queue, connection=connection).key
        job_ids: list[bytes] = connection.zrange(key, 0, DLQ_SCAN_LIMIT - 1)  # type: ignore[assignment]
        if not job_ids:
            continue
        pipe = connection.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(JOB_PREFIX + job_id.decode(), "meta")
        for raw in pipe.execute():
            failed = _failed_handlers(raw)
            per_handler.update(failed or {UNKNOWN_HANDLER: 1})
    return dict(per_handler)


def _failed_handlers(raw: bytes | None) -> dict[str, int]:
    if not raw:
        return {}
    try:
        meta = pickle.loads(raw)  # noqa: S301 - see the import
    except Exception:
        return {}
    failed = meta.get(FAILED_HANDLERS_META) if isinstance(meta, dict) else None
    return {str(k): int(v) for k, v in failed.items()} if isinstance(failed, dict) else {}


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
    pipe = connection.pipeline(transaction=False)
    pipe.get(LEASE_KEY)
    pipe.pttl(LEASE_KEY)
    pipe.hgetall(POLLER_STATUS_KEY)
    lease, ttl_ms, statuses = pipe.execute()
    owner, token = (None, None)
    if lease:
        owner_s, _, token_s = lease.decode().rpartition("|")
        owner, token = owner_s, int(token_s) if token_s.isdigit() else None
    pollers = []
    last_drain: float | None = None
    for raw in statuses.values():
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
    raw = connection.hgetall(INGEST_KEY)
    accepted = int(raw.get(b"accepted", 0))
    duplicates = int(raw.get(b"duplicates", 0))
    seen = accepted + duplicates
    return {"accepted": accepted, "duplicates": duplicates, "hit_rate": round(duplicates / seen, 4) if seen else None}


def snapshot(connection: redis.Redis, settings: Settings) -> dict[str, Any]:
    """Everything `status` shows, as plain JSON-able data."""
    at = time.time()
    queues = settings.queues
    last_minute = throughput.total(throughput.read(connection, 60, at))
    hour = throughput.per_minute(throughput.read(connection, 3600, at))
    dlq = dead_letters(connection, queues)
    handler_names = set(Router.from_settings(settings).handler_names) | set(dlq)
    handler_names |= {name.partition(":")[2] for name in last_minute if ":" in name}
    handlers = {
        name: {
            "handled_last_minute": last_minute.get(f"handled:{name}", 0),
            "failed_last_minute": last_minute.get(f"failed:{name}", 0),
            "dead_letters": dlq.get(name, 0),
        }
        for name in sorted(handler_names)
    }
    registered = workers(connection, at)
    return {
        "at": at,
        "queues": queue_figures(connection, queues, at),
        "last_minute": {k: last_minute.get(k, 0) for k in ("accepted", "duplicates", "handled", "failed")},
        "handlers": handlers,
        "workers": {"alive": len(registered), "busy": sum(w["state"] == "busy" for w in registered)},
        "worker_list": registered,
        "poller": poller(connection, at),
        "dedup": dedup(connection),
        "last_hour": [
            {"minute": minute, **{k: counts.get(k, 0) for k in ("accepted", "duplicates", "handled", "failed")}}
            for minute, counts in hour
        ],
    }
