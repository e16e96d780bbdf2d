"""The hot path's own route: a POST to /infobip/forward[/{token}] goes straight to the forward endpoint,
past Starlette's router and the middleware (the endpoint sets the security headers and answers its own
faults itself). Anything else goes on to the app.

Every POST under the forward path is the endpoint's, whatever follows the prefix (a trailing slash, more
segments): the endpoint's credential check answers it, so no other answer (a redirect built from the
Host header, a 404 that tells a path apart) comes before the check."""

from __future__ import annotations

from typing import Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from infobip_inbound.infobip.forward_url import FORWARD_PATH

_FORWARD_PREFIX = FORWARD_PATH + "/"


class ForwardRoute:
    def __init__(self, app: ASGIApp, forward: ASGIApp) -> None:
        self.app = app
        self.forward = forward

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            token = forward_token(scope["path"])
            if token is not False:
                scope["path_params"] = {"token": token} if token else {}
                await self.forward(scope, receive, send)
                return
        await self.app(scope, receive, send)


def forward_token(path: str) -> str | Literal[False] | None:
    """For the forward routes: the path token, or None without one. False for any other path."""
    if path == FORWARD_PATH:
        return None
    if path.startswith(_FORWARD_PREFIX):
        return path[len(_FORWARD_PREFIX) :] or None
    return False
