"""Routing rules: which queue a response goes to (decided by the receiver) and which handlers run it
(decided by the worker). The first route whose match holds wins; otherwise the default route applies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from infobip_inbound.contract.settings import Route, RouteMatch, Settings

DEFAULT_ROUTE_NAME = "default"


@dataclass(frozen=True, slots=True)
class Destination:
    route: str
    queue: str
    handlers: tuple[str, ...]


class Routable(Protocol):
    """What routing reads: a UserResponse, or the validated Infobip result it is made from."""

    @property
    def application_code(self) -> str: ...
    @property
    def keyword(self) -> str | None: ...
    @property
    def text(self) -> str | None: ...
    @property
    def callback_data(self) -> str | None: ...
    @property
    def custom_payload(self) -> dict[str, Any] | None: ...
    @property
    def paired_message_id(self) -> str | None: ...
    @property
    def bulk_id(self) -> str | None: ...
    @property
    def initial_message_id(self) -> str | None: ...


def _payload_holds(payload: dict[str, Any], expected: dict[str, Any]) -> bool:
    for key, want in expected.items():
        if key not in payload:
            return False
        if payload[key] not in (want if isinstance(want, list) else [want]):
            return False
    return True


def _matches(match: RouteMatch, response: Routable) -> bool:
    if match.application_code is not None and response.application_code not in match.application_code:
        return False
    if match.keyword is not None and (response.keyword or "").casefold() not in {k.casefold() for k in match.keyword}:
        return False
    if match.callback_data is not None and response.callback_data not in match.callback_data:
        return False
    if match.custom_payload_keys is not None:
        payload = response.custom_payload or {}
        if not all(key in payload for key in match.custom_payload_keys):
            return False
    if match.custom_payload is not None and not _payload_holds(response.custom_payload or {}, match.custom_payload):
        return False
    if match.bulk_id is not None and response.bulk_id not in match.bulk_id:
        return False
    if match.initial_message_id is not None and response.initial_message_id not in match.initial_message_id:
        return False
    if match.paired is not None and bool(response.paired_message_id) != match.paired:
        return False
    if match.keyword_regex is not None and not match.keyword_regex.search(response.keyword or ""):
        return False
    return match.text_regex is None or bool(match.text_regex.search(response.text or ""))


class Router:
    def __init__(self, routes: list[Route], default_queue: str, default_handlers: list[str]) -> None:
        self._routes = [
            (route.match, Destination(route.name, route.queue or default_queue, tuple(route.handlers)))
            for route in routes
        ]
        self.default = Destination(DEFAULT_ROUTE_NAME, default_queue, tuple(default_handlers))

    @classmethod
    def from_settings(cls, settings: Settings) -> Router:
        return cls(settings.routes, settings.default_queue, settings.default_handlers)

    def destination(self, response: Routable) -> Destination:
        for match, destination in self._routes:
            if _matches(match, response):
                return destination
        return self.default

    def queue_handlers(self, queue: str) -> list[str]:
        """The handlers any route sends the responses of `queue` to, by name."""
        names = set(self.default.handlers) if self.default.queue == queue else set()
        for _, destination in self._routes:
            if destination.queue == queue:
                names.update(destination.handlers)
        return sorted(names)

    @property
    def handler_names(self) -> set[str]:
        names = set(self.default.handlers)
        for _, destination in self._routes:
            names.update(destination.handlers)
        return names
