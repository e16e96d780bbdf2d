"""Reading presented credentials (one HTTP Basic parser) and comparing them in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac


def basic_credentials(authorization: str | None) -> bytes | None:
    """The decoded `user:password` of an HTTP Basic Authorization header; None for any other or a malformed one."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def bearer_token(authorization: str | None) -> bytes | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip().encode() if scheme.lower() == "bearer" else None


def matches_any(candidate: bytes, secrets: list[bytes]) -> bool:
    """Compared with every secret, in constant time, so the answer time does not tell which one was close."""
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(candidate, secret)
    return found
