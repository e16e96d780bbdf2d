"""Pulled batches: stored raw the moment they arrive, then normalized and queued, then removed.

Infobip hands each pulled message out once, so the raw answer body is written to Redis (one HSET)
before anything else looks at it. Processing goes through the same dedup-and-enqueue script as the
forward path, so processing a batch twice (after a crash between enqueue and removal) queues nothing
twice. A result that cannot be read is quarantined beside the good ones in the same write, and a body that
is not an envelope at all is quarantined whole: nothing pulled is dropped. If Redis fails between the pull and
the store, the body is written to a local spill file and stored on the next tick. With
INBOUND_REDIS_ACK_REPLICAS, a store (and a queueing) counts only once that many replicas hold it: a body the
replicas did not acknowledge is spilled too, and a spill file is removed only once its body is acknowledged.
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
from infobip_inbound.contract.store import pulls
from infobip_inbound.contract.store.quarantine import QuarantineEntry
from infobip_inbound.infobip.envelope import InvalidEnvelope, Normalized, read_envelope
from infobip_inbound.receiver.enqueue import EnqueueResult, InboxWriter, enqueue_now
from infobip_inbound.receiver.ingest import Origin, ingest
from infobip_inbound.runtime import tracing

log = logging.getLogger("infobip_inbound.poller")


@dataclass(frozen=True, slots=True)
class Processed:
    batch_id: str
    messages: int
    accepted: int
    pending: int | None  # Infobip's pendingMessageCount; None when the body is not an envelope
    quarantined: int = 0


def account_of(batch_id: str) -> str | None:
    """The poll account named in a batch id (PullStore.new_batch_id)."""
    parts = batch_id.split(":")
    return ":".join(parts[1:-2]) if len(parts) >= 4 else None


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
            self._keep(batch_id, raw)
        except redis.RedisError as exc:
            log.error(
                "Redis failed right after a pull; spilling the batch to disk",
                extra={"batch_id": batch_id, "error": type(exc).__name__},
            )
            self._spill(batch_id, raw)

    def process(self, batch_id: str, raw: bytes, held: pulls.Held = pulls.RAW) -> Processed:
        """Queue the responses of a stored batch and quarantine what cannot be read, in one write; then remove
        the batch from where it is `held`. Raises redis errors (the batch stays stored)."""
        account = account_of(batch_id)
        try:
            read = read_envelope(raw)
        except InvalidEnvelope as exc:
            # Not an envelope at all (a proxy's error page, say): kept whole in the quarantine.
            body = QuarantineEntry.build(
                kind="body",
                source="pull",
                reason=f"not an envelope: {exc}",
                raw=raw,
                account=account,
                batch_id=batch_id,
            )
            enqueue_now(self._connection, self._writer, self._router, [], [body])
            pulls.release(self._connection, batch_id, held)
            log.error(
                "pulled answer is not an envelope; kept whole in the quarantine",
                extra={"batch_id": batch_id, "quarantine_id": body.id, "problem": str(exc)[:500]},
            )
            return Processed(batch_id, 0, 0, None, 1)
        ingested = ingest(read, Origin("pull", account=account, batch_id=batch_id), self._write)
        pulls.release(self._connection, batch_id, held)
        return Processed(
            batch_id,
            len(ingested.responses),
            ingested.result.accepted,
            read.envelope.pending_message_count,
            len(ingested.quarantine),
        )

    def _write(self, responses: list[Normalized], quarantine: list[QuarantineEntry]) -> EnqueueResult:
        with tracing.span("enqueue", {"messaging.batch.message_count": len(responses)}, kind="PRODUCER"):
            return enqueue_now(self._connection, self._writer, self._router, responses, quarantine, tracing.carried())

    def recover(self) -> list[Processed]:
        """Store spilled batches, then process every stored batch left by an earlier run, oldest first, and
        what earlier versions kept aside whole (pulls.LEGACY): read again result by result now."""
        self._unspill()
        done = []
        for held in (pulls.RAW, pulls.LEGACY):
            done += [self.process(batch_id, raw, held) for batch_id, raw in pulls.held_bodies(self._connection, held)]
        if done:
            log.warning("processed %d pulled batch(es) left by an earlier run", len(done))
        return done

    def _keep(self, batch_id: str, raw: bytes) -> None:
        pulls.hold(self._connection, batch_id, raw, self._writer.ack)

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
            self._keep(path.stem.replace("~", ":"), path.read_bytes())
            path.unlink()
