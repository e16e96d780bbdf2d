"""The worker role's HTTP port (INBOUND_HEALTH_PORT): /health/live, /health/ready and /metrics.

Served by the process that starts the workers (the pool's parent with --processes N); /metrics reports
the samples of every worker process (multiprocess mode) and the queue figures read from Redis. Liveness and
readiness mean what the chart's exec probes mean (helm/infobip-inbound/files/probe.py).
"""

from __future__ import annotations

import socket
from typing import Any

import redis

from infobip_inbound.health import serve_health
from infobip_inbound.metrics import register
from infobip_inbound.metrics_collectors import RedisStateCollector
from infobip_inbound.settings import Settings


def serve_worker_endpoints(settings: Settings, connection: redis.Redis, queues: list[str]) -> None:
    if not settings.health_port:
        return

    host = socket.gethostname().encode()

    def live() -> tuple[bool, dict[str, Any]]:
        """A worker of this host is registered with a live heartbeat (its key expires when heartbeats stop).
        Passes while Redis is unreachable: restarting the workers would not bring Redis back."""
        try:
            keys = connection.smembers("rq:workers")
            pipe = connection.pipeline(transaction=False)
            for key in keys:
                pipe.hget(key, "hostname")
            hosts = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            return True, {"redis": type(exc).__name__, "workers": "not judged"}
        alive = sum(1 for h in hosts if h == host)
        return alive > 0, {"workers": alive}

    def ready() -> tuple[bool, dict[str, Any]]:
        try:
            connection.ping()
        except (redis.RedisError, OSError) as exc:
            return False, {"redis": type(exc).__name__}
        return True, {"redis": "ok"}

    register(RedisStateCollector(lambda: connection, queues))
    serve_health(settings.host, settings.health_port, live, ready)
