"""Pulled batches: stored raw the moment they arrive, then normalized and queued, then removed.

Infobip hands each pulled message out once, so the raw answer body is written to Redis (one HSET)
before anything else looks at it. Processing goes through the same dedup-and-enqueue script as the
forward path, so processing a batch twice (after a crash between enqueue and removal) queues nothing
twice. A body that does not parse is moved aside, never dropped. If Redis fails between the pull and
the store, the body is written to a local spill file and stored on the next tick.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.store.keys import PULL_RAW_KEY, PULL_UNPARSEABLE_KEY
from infobip_inbound.infobip.envelope import InvalidEnvelope, normalize_envelope, parse_envelope
from infobip_inbound.receiver.enqueue import EnqueueResult, InboxWriter, enqueue_now

log = logging.getLogger("infobip_inbound.poller")


@dataclass(frozen=True, slots=True)
class Processed:
    batch_id: str
    messages: int
    accepted: int
    pending: int | None  # Infobip's pendingMessageCount; None when the body did not parse


class PullStore:
    def __init__(self, connection: redis.Redis, writer: InboxWriter, router: Router, spill_dir: Path) -> None:
        self._connection = connection
        self._writer = writer
        self._router = router
        self._spill_dir = spill_dir

    @staticmethod
    def new_batch_id(account: str, token: int) -> str:
        # Sortable by arrival; names the account and the leader tenure (fencing token) that pulled it.
        return f"{time.time_ns():020d}:{account}:{token}:{uuid.uuid4().hex[:8]}"

    def store(self, batch_id: str, raw: bytes) -> None:
        """Keep the raw body: in Redis, or if Redis fails now, in a local spill file. Never raises for Redis."""
        try:
            self._connection.hset(PULL_RAW_KEY, batch_id, raw)
        except redis.RedisError:
            log.error("Redis failed right after a pull; spilling the batch to disk", extra={"batch_id": batch_id})
            self._spill(batch_id, raw)

    def process(self, batch_id: str, raw: bytes) -> Processed:
        """Queue the responses of a stored batch, then remove it. Raises redis errors (the batch stays stored)."""
        try:
            envelope = parse_envelope(raw)
        except InvalidEnvelope as exc:
            pipe = self._connection.pipeline(transaction=True)
            pipe.hset(PULL_UNPARSEABLE_KEY, batch_id, raw)
            pipe.hdel(PULL_RAW_KEY, batch_id)
            pipe.execute()
            log.error(
                "pulled batch is not a valid envelope; kept aside in %s",
                PULL_UNPARSEABLE_KEY,
                extra={"batch_id": batch_id, "problem": str(exc)[:500]},
            )
            return Processed(batch_id, 0, 0, None)
        responses = normalize_envelope(envelope, "pull")
        result = (
            enqueue_now(self._connection, self._writer, self._router, responses) if responses else EnqueueResult(0, 0)
        )
        self._connection.hdel(PULL_RAW_KEY, batch_id)
        return Processed(batch_id, len(responses), result.accepted, envelope.pending_message_count)

    def recover(self) -> list[Processed]:
        """Store spilled batches, then process every stored batch left by an earlier run, oldest first."""
        self._unspill()
        stored: dict[bytes, bytes] = self._connection.hgetall(PULL_RAW_KEY)  # type: ignore[assignment]
        done = [self.process(batch_id.decode(), raw) for batch_id, raw in sorted(stored.items())]
        if done:
            log.warning("processed %d pulled batch(es) left by an earlier run", len(done))
        return done

    def _spill(self, batch_id: str, raw: bytes) -> None:
        self._spill_dir.mkdir(parents=True, exist_ok=True)
        final = self._spill_dir / f"{batch_id.replace(':', '~')}.json"
        partial = final.with_suffix(".partial")
        with partial.open("wb") as file:
            file.write(raw)
            file.flush()
            os.fsync(file.fileno())
        partial.rename(final)

    def _unspill(self) -> None:
        if not self._spill_dir.is_dir():
            return
        for path in sorted(self._spill_dir.glob("*.json")):
            self._connection.hset(PULL_RAW_KEY, path.stem.replace("~", ":"), path.read_bytes())
            path.unlink()
