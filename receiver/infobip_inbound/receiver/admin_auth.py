"""Credentials of the receiver's admin routes (/admin/*): INBOUND_ADMIN_TOKENS.

`Authorization: Bearer <token>`, or HTTP Basic with any user name and the token as password (so a browser
can ask for it). Compared in constant time against every configured token. No token configured: the admin
routes are not served at all.
"""

from __future__ import annotations

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from infobip_inbound.receiver.edge.credentials import basic_credentials, bearer_token, matches_any
from infobip_inbound.receiver.edge.errors import error_response


class AdminAuth:
    def __init__(self, tokens: list[SecretStr]) -> None:
        self._tokens = [t.get_secret_value().encode() for t in tokens]

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def allows(self, authorization: str | None) -> bool:
        candidate = _presented(authorization)
        return candidate is not None and matches_any(candidate, self._tokens)

    def refusal(self, request: Request) -> Response | None:
        """The 401 to answer a request without valid admin credentials; None when it has them."""
        if self.allows(request.headers.get("authorization")):
            return None
        return error_response(
            401,
            "unauthorized",
            "missing or invalid admin credentials",
            {"WWW-Authenticate": 'Basic realm="infobip-inbound admin"', "Cache-Control": "no-store"},
        )


def _presented(authorization: str | None) -> bytes | None:
    """The bearer token, or the password of HTTP Basic credentials (any user name)."""
    token = bearer_token(authorization)
    if token is not None:
        return token
    credentials = basic_credentials(authorization)
    return None if credentials is None else credentials.partition(b":")[2]
