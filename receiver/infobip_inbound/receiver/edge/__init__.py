"""The receiver's edge: the pieces between the socket and the routes, one concern per module.

Around the Starlette app, outermost first: `ForwardRoute` (POSTs to the forward endpoint skip everything
below), `SecurityHeaders`, `FaultGuard`. The forward endpoint uses the rest itself: `RequestGuard`
(client address, allowlist, rate limit), the bounded body read, the envelope limits, and `errors` for
every JSON error answer.
"""

from __future__ import annotations

from starlette.types import ASGIApp

from infobip_inbound.receiver.edge.fault_guard import FaultGuard
from infobip_inbound.receiver.edge.forward_route import ForwardRoute
from infobip_inbound.receiver.edge.security_headers import SecurityHeaders


def harden(app: ASGIApp, forward: ASGIApp | None = None) -> ASGIApp:
    """`app` behind the edge; with `forward`, the forward routes go straight to it (it answers for itself)."""
    guarded = SecurityHeaders(FaultGuard(app))
    return guarded if forward is None else ForwardRoute(guarded, forward)
