"""Forward endpoint authentication: secret path tokens and/or HTTP Basic credentials.

Infobip can carry credentials only in the forwardUrl we register, so both forms come from that URL.
Several secrets of each kind may be valid at once, for rotation. Every configured secret is compared,
in constant time, so the answer time does not tell which one (if any) was close.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from pydantic import SecretStr


class ForwardAuth:
    def __init__(self, tokens: list[SecretStr], basic_pairs: list[SecretStr], disabled: bool) -> None:
        self.disabled = disabled
        self._tokens = [t.get_secret_value().encode() for t in tokens]
        self._basic = [p.get_secret_value().encode() for p in basic_pairs]
        if not disabled and not self._tokens and not self._basic:
            raise ValueError(
                "the forward endpoint has no credentials: set INBOUND_FORWARD_TOKENS or "
                "INBOUND_FORWARD_BASIC_AUTH (or INBOUND_AUTH_DISABLED=true for local development only)"
            )

    @property
    def uses_basic(self) -> bool:
        return bool(self._basic)

    def allows(self, path_token: str | None, authorization: str | None) -> bool:
        if self.disabled:
            return True
        ok = False
        if path_token is not None:
            ok |= _matches_any(path_token.encode(), self._tokens)
        credentials = _basic_credentials(authorization)
        if credentials is not None:
            ok |= _matches_any(credentials, self._basic)
        return ok


def _matches_any(candidate: bytes, secrets: list[bytes]) -> bool:
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(candidate, secret)
    return found


def _basic_credentials(header: str | None) -> bytes | None:
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
