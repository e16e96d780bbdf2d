"""The caller's address, as the allowlist and the rate limit judge it."""

from __future__ import annotations

from starlette.types import Scope


class ClientAddress:
    """The TCP peer, or with N trusted proxies the N-th X-Forwarded-For entry from the right (each proxy
    appends the peer it saw; entries further left are the client's to forge)."""

    def __init__(self, trusted_proxies: int) -> None:
        self._trusted = trusted_proxies

    def __call__(self, scope: Scope) -> str:
        peer = scope.get("client")
        address: str = peer[0] if peer else ""
        if not self._trusted:
            return address
        forwarded = b",".join(value for name, value in scope["headers"] if name == b"x-forwarded-for")
        hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",") if hop.strip()]
        # Fewer entries than trusted proxies: the request skipped a proxy; judge it by its peer.
        return hops[-self._trusted] if len(hops) >= self._trusted else address
