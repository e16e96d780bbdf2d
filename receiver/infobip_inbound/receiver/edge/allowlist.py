"""IP allowlist of the forward endpoint (INBOUND_FORWARD_ALLOWED_CIDRS): other addresses are refused 403."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from infobip_inbound.receiver.edge.errors import Answer, refusal

FORBIDDEN = refusal("forbidden", "this address may not call the endpoint")


class Allowlist:
    def __init__(self, cidrs: list[str]) -> None:
        self._networks = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)
        self.allows = lru_cache(maxsize=4096)(self._allows)

    def check(self, address: str) -> Answer | None:
        return None if self.allows(address) else FORBIDDEN

    def _allows(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._networks)
