"""A JSON 500 without details when anything inside raises before answering; the exception goes to the log,
never to the client."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infobip_inbound.infobip.forward_url import FORWARD_PATH
from infobip_inbound.receiver.edge.errors import INTERNAL_ERROR, INTERNAL_ERROR_STATUS

log = logging.getLogger("infobip_inbound.receiver")


class FaultGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.error("unexpected error answering a request", exc_info=True, extra={"route": route_of(scope)})
            if started:
                return  # the answer (Starlette's error handler's) is out; the error is logged
            await send(
                {
                    "type": "http.response.start",
                    "status": INTERNAL_ERROR_STATUS,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(INTERNAL_ERROR)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": INTERNAL_ERROR})


def route_of(scope: Scope) -> str:
    # Never the full path: the forward path carries the secret token.
    path: str = scope.get("path", "")
    return FORWARD_PATH if path.startswith(FORWARD_PATH) else path[:100]
