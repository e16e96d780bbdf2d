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
    def callback_data(self) -> str | None: ...
    @property
    def custom_payload(self) -> dict[str, Any] | None: ...


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
    return True


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

    @property
    def handler_names(self) -> set[str]:
        names = set(self.default.handlers)
        for _, destination in self._routes:
            names.update(destination.handlers)
        return names
