"""The Infobip simulator as a real process on loopback, a small HTTP sink to forward to, and client helpers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from infobip_inbound.infobip.client import InfobipClient
from infobip_inbound.infobip.retry import RetryPolicy
from infobip_inbound.shell.redis_server import free_port
from tests.support import LOOPBACK_TLS, Role, wait_until

API_KEY = "sim-key-5f0c1d2e3a4b"
APP = "8a9b7c6d5e4f"
OTHER_APP = "2f3e4d5c6b7a"


class SimulatorProcess(Role):
    def __init__(self, log_path: Path, *args: str) -> None:
        self.port = free_port()
        command = ["simulator", "--port", str(self.port), "--api-key", API_KEY, "--app", APP, "--app", OTHER_APP]
        super().__init__([*command, "--forward-retry-delays", "0.05,0.1,0.2", "--seed", "7", *args], {}, log_path)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        super().start()

        def up() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"simulator exited {self.process.returncode}:\n{self.log()}")
            try:
                return httpx.get(self.base_url + "/_sim/counters", timeout=1, verify=LOOPBACK_TLS).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, timeout=30)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, self.base_url + "/_sim/" + path, json=body, timeout=10, verify=LOOPBACK_TLS)
        response.raise_for_status()
        return response.json()

    def counters(self) -> dict[str, int]:
        counters: dict[str, int] = self.admin("GET", "counters")
        return counters

    def faults(self, **switches: Any) -> None:
        self.admin("PUT", "faults", switches)

    def inject(
        self, *messages: dict[str, Any], generate: int = 0, application_code: str | None = None, odd: int = 0
    ) -> list[str]:
        body = {"messages": list(messages), "generate": generate, "application_code": application_code, "odd": odd}
        ids: list[str] = self.admin("POST", "messages", body)["message_ids"]
        return ids

    def enable_pull(self, *apps: str, callback_data: str | None = None) -> None:
        """Set the applications (default: both of this simulator's) up for PULL through Infobip's own endpoints,
        as `register --pull` does: a configuration and a PULL action. Without one the simulator, like Infobip,
        keeps nothing to pull."""
        for app in apps or (APP, OTHER_APP):
            base = f"/push/1/applications/{app}/configurations"
            keys = self._api("GET", base)["configurations"]
            key = keys[0]["key"] if keys else self._api("POST", base)["key"]
            action = {"type": "PULL", **({"callbackData": callback_data} if callback_data is not None else {})}
            self._api("POST", f"{base}/{key}/actions", action)

    def _api(self, method: str, path: str, body: Any = None) -> Any:
        """An Infobip API call, waiting out the throttle (a test may have set a low limit)."""
        for _ in range(100):
            headers = {"Authorization": f"App {API_KEY}"}
            response = httpx.request(
                method, self.base_url + path, json=body, headers=headers, timeout=10, verify=LOOPBACK_TLS
            )
            if response.status_code != 429:
                return response.raise_for_status().json()
            threading.Event().wait(0.2)
        raise AssertionError(f"{method} {path} stayed throttled")

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.admin("GET", "state")
        return state

    def reset(self, requests_per_second: int = 0) -> None:
        self.admin("PUT", "options", {"requests_per_second": requests_per_second, "generate_per_second": 0})
        self.admin("PUT", "options", {"forward_retry_delays": [0.05, 0.1, 0.2]})
        self.admin("POST", "reset")


class RecordingSleep:
    """Sleeps for real and remembers for how long, so a test can see which delays the client chose."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        threading.Event().wait(seconds)


def make_client(
    base_url: str,
    *,
    api_key: str = API_KEY,
    read_timeout: float = 10.0,
    sleep: RecordingSleep | None = None,
    **retry: Any,
) -> InfobipClient:
    policy = RetryPolicy(**{"max_tries": 5, "budget_seconds": 10.0, "base_seconds": 0.02, "max_seconds": 0.2, **retry})
    return InfobipClient(
        base_url,
        SecretStr(api_key),
        timeout=httpx.Timeout(read_timeout, connect=2.0),
        retry=policy,
        sleep=sleep or RecordingSleep(),
    )


class Sink:
    """A real HTTP server that records forwarded bodies and answers 500 to the first `fail_first` requests."""

    def __init__(self) -> None:
        self.port = free_port()
        self.bodies: list[dict[str, Any]] = []
        self.requests = 0
        self.fail_first = 0
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/hook/{rest:path}", self._hook, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def url(self, suffix: str = "x") -> str:
        return f"http://127.0.0.1:{self.port}/hook/{suffix}"

    async def _hook(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.requests += 1
            if self.requests <= self.fail_first:
                return Response(status_code=500)
            self.bodies.append({"path": request.url.path, **body})
        return Response(status_code=200)

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: self._server.started, timeout=10)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
