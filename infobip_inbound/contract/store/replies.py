"""Reply records: per (message, handler) pair, the reply it sent, or the mark of a send under way.

A sender takes the pair's record with a "sending" mark before it calls Infobip, so a retry of the handler
never sends the same reply twice (infobip_inbound.workers.reply); a refused send gives its mark back
(scripts.release_reply), a sent one replaces it with what Infobip answered.
"""

from __future__ import annotations

import redis

from infobip_inbound.contract.store import keys


def take(connection: redis.Redis, pair: str, mark: bytes, ttl: int) -> bool:
    """Set the pair's "sending" mark unless it has a record already. True if this caller took it."""
    return bool(connection.set(keys.reply_key(pair), mark, nx=True, ex=ttl))


def write(connection: redis.Redis, pair: str, record: bytes, ttl: int) -> None:
    """Set the pair's record (a mark taken over, or what was sent), kept `ttl` seconds."""
    connection.set(keys.reply_key(pair), record, ex=ttl)


def read(connection: redis.Redis, pair: str) -> bytes | None:
    """The pair's record, or None."""
    raw = connection.get(keys.reply_key(pair))
    return raw if isinstance(raw, bytes) else None
