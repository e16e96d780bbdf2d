"""Credentials of the receiver's admin routes (/admin/*): INBOUND_ADMIN_TOKENS.

`Authorization: Bearer <token>`, or HTTP Basic with any user name and the token as password (so a browser
can ask for it). Compared in constant time against every configured token. No token configured: the admin
routes are not served at all.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from pydantic import SecretStr


class AdminAuth:
    def __init__(self, tokens: list[SecretStr]) -> None:
        self._tokens = [t.get_secret_value().encode() for t in tokens]

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def allows(self, authorization: str | None) -> bool:
        candidate = _presented(authorization)
        if candidate is None:
            return False
        found = False
        for token in self._tokens:
            found |= hmac.compare_digest(candidate, token)
        return found


def _presented(header: str | None) -> bytes | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip().encode()
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded.partition(b":")[2]
