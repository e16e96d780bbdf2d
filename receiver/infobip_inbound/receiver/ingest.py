"""The ingest step the forward endpoint and the poller share: a read envelope normalized, the results that cannot
be made into a UserResponse turned into quarantine entries, both written in one enqueue, and what was set aside
logged with where it came from.

Only the write differs: the forward endpoint's goes through the receiver's group commit (async), the poller's
is its own script call (sync).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from infobip_inbound.contract.model import Source
from infobip_inbound.contract.store.quarantine import QuarantineEntry
from infobip_inbound.infobip.envelope import Normalized, ReadEnvelope, normalize
from infobip_inbound.receiver.enqueue import EnqueueResult, quarantine_entries

log = logging.getLogger("infobip_inbound.receiver")

Write = Callable[[list[Normalized], list[QuarantineEntry]], EnqueueResult]
AsyncWrite = Callable[[list[Normalized], list[QuarantineEntry]], Awaitable[EnqueueResult]]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an envelope came from, as its quarantine entries and log lines name it."""

    source: Source
    request_id: str | None = None
    account: str | None = None
    batch_id: str | None = None


@dataclass(frozen=True, slots=True)
class Ingested:
    """One envelope's share of the write and what the write did."""

    responses: list[Normalized]
    quarantine: list[QuarantineEntry]
    result: EnqueueResult


def _prepare(read: ReadEnvelope, origin: Origin) -> tuple[list[Normalized], list[QuarantineEntry]]:
    normalization = normalize(read, origin.source)
    quarantine = quarantine_entries(
        normalization.unreadable,
        origin.source,
        request_id=origin.request_id,
        account=origin.account,
        batch_id=origin.batch_id,
    )
    return normalization.responses, quarantine


def _logged(ingested: Ingested, origin: Origin) -> Ingested:
    if ingested.quarantine:
        where = {k: v for k, v in (("request_id", origin.request_id), ("batch_id", origin.batch_id)) if v}
        log.warning(
            "results set aside in the quarantine",
            extra={
                **where,
                "source": origin.source,
                "quarantined": len(ingested.quarantine),
                "reasons": [q.reason for q in ingested.quarantine[:5]],
            },
        )
    return ingested


def ingest(read: ReadEnvelope, origin: Origin, write: Write) -> Ingested:
    """Normalize, quarantine what cannot be read, write both with `write` (its errors raised), log."""
    responses, quarantine = _prepare(read, origin)
    return _logged(Ingested(responses, quarantine, write(responses, quarantine)), origin)


async def ingest_async(read: ReadEnvelope, origin: Origin, write: AsyncWrite) -> Ingested:
    """`ingest` with an async write."""
    responses, quarantine = _prepare(read, origin)
    return _logged(Ingested(responses, quarantine, await write(responses, quarantine)), origin)
