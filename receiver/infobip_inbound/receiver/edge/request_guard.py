"""The checks made before a forward request is read: allowlist, then rate limit, by client address.

Decided once at start: with neither configured there is no guard, and the forward endpoint checks nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Scope

from infobip_inbound.contract.settings import Settings
from infobip_inbound.receiver.edge.allowlist import Allowlist
from infobip_inbound.receiver.edge.client_address import ClientAddress
from infobip_inbound.receiver.edge.errors import Answer
from infobip_inbound.receiver.edge.rate_limit import RateLimiter


class RequestGuard:
    def __init__(self, settings: Settings) -> None:
        self._client = ClientAddress(settings.trusted_proxies)
        checks: list[Callable[[str], Answer | None]] = []
        if settings.forward_allowed_cidrs:
            checks.append(Allowlist(settings.forward_allowed_cidrs).check)
        if settings.rate_limit_per_second:
            checks.append(RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst).check)
        self._checks = tuple(checks)

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestGuard | None:
        return cls(settings) if settings.forward_allowed_cidrs or settings.rate_limit_per_second else None

    def check(self, scope: Scope) -> Answer | None:
        """The refusal of this request, or None to go on."""
        client = self._client(scope)
        for check in self._checks:
            if (refused := check(client)) is not None:
                return refused
        return None
