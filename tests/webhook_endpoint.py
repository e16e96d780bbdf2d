"""A real HTTP endpoint on loopback that receives `http_relay`'s POSTs and checks each signature with the
independent `standardwebhooks` implementation, once per secret it holds."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Delivery:
    webhook_id: str
    message_id: str
    verified_by: tuple[bool, ...]  # one per secret the endpoint holds


class WebhookEndpoint:
    """Answers with the scripted (status, headers) in turn, then 204; records every delivery."""

    def __init__(
        self, secrets: list[str], answers: list[tuple[int, dict[str, str]]] | None = None, pause: float = 0.0
    ) -> None:
        self.deliveries: list[Delivery] = []
        self.answers = deque(answers or [])
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                time.sleep(pause)  # a slow receiver keeps relays in flight
                headers = {name.lower(): value for name, value in self.headers.items()}
                verified = tuple(_verifies(secret, body, headers) for secret in secrets)
                with endpoint._lock:
                    endpoint.deliveries.append(
                        Delivery(headers["webhook-id"], orjson.loads(body)["message_id"], verified)
                    )
                    status, extra = endpoint.answers.popleft() if endpoint.answers else (204, {})
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Silent: the test reads the deliveries, not the server's log."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def message_ids(self) -> set[str]:
        with self._lock:
            return {delivery.message_id for delivery in self.deliveries}


def _verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True
