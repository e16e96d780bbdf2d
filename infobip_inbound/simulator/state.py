"""The simulator's in-memory world: options, fault switches, counters, applications with their
configuration and actions, the inbox the pull endpoint hands out from, and what was sent (push bulks and
their reports, OMNI scenarios and reports)."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Infobip's notify-URL retry schedule, `1 min + 1 min x n^2`; the number of tries is not documented.
INFOBIP_FORWARD_RETRY_DELAYS = [60.0 * (1 + n * n) for n in range(1, 8)]


@dataclass
class Options:
    api_keys: list[str] = field(default_factory=lambda: ["sim-api-key"])
    application_codes: list[str] = field(default_factory=lambda: ["8a9b7c6d5e4f", "2f3e4d5c6b7a", "c0ffee123456"])
    requests_per_second: int = 10  # per API key, on the /push/1 endpoints
    forward_retry_delays: list[float] = field(default_factory=lambda: list(INFOBIP_FORWARD_RETRY_DELAYS))
    forward_timeout_seconds: float = 10.0
    forward_concurrency: int = 8
    generate_per_second: float = 0.0
    seed: int | None = None
    respond_share: float = 0.0  # share of devices that respond to the first push delivered to them
    respond_delay_seconds: float = 0.5  # how long a user takes to respond


@dataclass
class Faults:
    """Switches set at /_sim/faults. Bursts count down as they are used."""

    duplicate_rate: float = 0.0  # chance that a delivered forward is delivered again
    slow_seconds: float = 0.0  # added before every API answer
    error_burst: int = 0  # the next N API requests answer 500
    drop_next: int = 0  # the next N API answers are cut off after the headers (the work is done)
    # The next N API requests are acted on, then answered 502 by a "gateway" (plain text): a send accepted
    # by Infobip whose answer was lost on the way back.
    accept_then_502: int = 0
    retry_after_seconds: int | None = None  # sent with 429 answers (Infobip does not document one)

    def update(self, values: dict[str, Any]) -> None:
        names = {f.name for f in fields(self)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown fault switches: {sorted(unknown)}")
        for name, value in values.items():
            if name == "retry_after_seconds":
                value = None if value is None else int(value)
            elif name in {"error_burst", "drop_next", "accept_then_502"}:
                value = int(value)
            else:
                value = float(value)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")
            setattr(self, name, value)


@dataclass
class Counters:
    generated: int = 0
    pull_requests: int = 0
    pulled: int = 0  # messages handed out by pull
    max_concurrent_pulls: int = 0
    forward_attempts: int = 0
    forward_failures: int = 0
    forwarded: int = 0  # (message, action) deliveries answered 2xx
    forward_duplicates: int = 0  # extra deliveries sent by the duplicate switch
    forward_abandoned: int = 0  # deliveries that ran out of tries
    throttled: int = 0  # 429 answers
    injected_errors: int = 0
    dropped: int = 0
    unauthorized: int = 0
    not_kept: int = 0  # responses of an application with neither a forward nor a PULL action: gone, as at Infobip
    pushes_sent: int = 0  # push messages accepted
    omni_sent: int = 0  # OMNI messages accepted (one per destination)
    responding_devices: int = 0  # devices that chose to respond (their response may still be on its way)
    device_responses: int = 0  # responses the devices made
    replies_received: int = 0  # pushes delivered to devices after they responded

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class Application:
    code: str
    configuration: str | None = None
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> Action as Infobip answers it


class World:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.faults = Faults()
        self.counters = Counters()
        self.applications = {code: Application(code) for code in options.application_codes}
        self.inbox: deque[dict[str, Any]] = deque()
        self.generated_ids: list[str] = []
        self.sent_pushes: list[dict[str, Any]] = []  # each accepted push message, with its bulkId
        self.bulks: dict[str, list[dict[str, Any]]] = {}  # bulkId -> the reports of its messages
        self.push_reports: deque[dict[str, Any]] = deque()  # not yet fetched (each is handed out once)
        self.scenarios: dict[str, dict[str, Any]] = {}  # key -> scenario as Infobip answers it
        self.omni_reports: deque[dict[str, Any]] = deque()
        self.requests: deque[dict[str, Any]] = deque(maxlen=200)  # the last API requests, for /_sim/requests
        self.pulls_in_flight = 0
        self._keys = itertools.count(1)

    def new_key(self, prefix: str) -> str:
        return f"{prefix}{next(self._keys):06d}"

    def snapshot(self) -> dict[str, Any]:
        return {
            "applications": {
                app.code: {"configuration": app.configuration, "actions": list(app.actions.values())}
                for app in self.applications.values()
            },
            "inbox": len(self.inbox),
            "faults": asdict(self.faults),
            "counters": self.counters.as_dict(),
        }
