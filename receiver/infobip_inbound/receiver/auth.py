"""Forward endpoint authentication: secret path tokens and/or HTTP Basic credentials.

Infobip can carry credentials only in the forwardUrl we register, so both forms come from that URL.
Several secrets of each kind may be valid at once, for rotation. Every configured secret is compared,
in constant time, so the answer time does not tell which one (if any) was close.
"""

from __future__ import annotations

from pydantic import SecretStr

from infobip_inbound.receiver.edge.credentials import basic_credentials, matches_any


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
            ok |= matches_any(path_token.encode(), self._tokens)
        credentials = basic_credentials(authorization)
        if credentials is not None:
            ok |= matches_any(credentials, self._basic)
        return ok
