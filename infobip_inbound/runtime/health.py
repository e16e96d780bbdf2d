"""Liveness, readiness and metrics over HTTP for the roles that serve nothing else (worker, poller).

A tiny stdlib server in a daemon thread: GET /health/live and /health/ready answer 200 or 503 with a
JSON body, from checks the role provides; GET /metrics answers the Prometheus exposition of the role
(every process of it: see infobip_inbound.runtime.metrics).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

Check = Callable[[], tuple[bool, dict[str, Any]]]


def serve_health(host: str, port: int, live: Check, ready: Check) -> ThreadingHTTPServer:
    checks = {"/health/live": live, "/health/ready": ready}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._metrics()
                return
            check = checks.get(self.path)
            if check is None:
                ok, body = False, {"error": "not_found"}
                status = 404
            else:
                try:
                    ok, body = check()
                except Exception as exc:  # a failing check means not healthy, never a crashed thread
                    ok, body = False, {"error": type(exc).__name__}
                status = 200 if ok else 503
            payload = orjson.dumps({"status": "ok" if ok else "unavailable", **body})
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _metrics(self) -> None:
            from infobip_inbound.runtime.metrics import CONTENT_TYPE, exposition

            payload = exposition()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes every few seconds would drown the logs."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
