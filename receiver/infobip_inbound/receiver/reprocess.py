"""Quarantined entries read again by the current parser: what now passes is queued, what still fails stays.

A result entry is read as the envelope `{"results": [raw]}`; a body entry as the envelope it was sent as. What
passes goes through the same dedup-and-enqueue script as the receiver and the poller (routed by the current
routes), and a body whose envelope now reads has its unreadable results written as result entries in that same
call. Entries are removed only after their responses are queued, a chunk at a time: a run interrupted between
the two and started again queues nothing twice (within the dedup window), it only removes what is left.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import redis

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.store import quarantine
from infobip_inbound.contract.store.quarantine import QuarantineEntry
from infobip_inbound.infobip import exact_json
from infobip_inbound.infobip.envelope import InvalidEnvelope, Normalized, normalize, read_envelope
from infobip_inbound.receiver.enqueue import InboxWriter, enqueue_now, quarantine_entries


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the current parser makes of one entry."""

    entry: QuarantineEntry
    responses: list[Normalized] = field(default_factory=list)
    requarantine: list[QuarantineEntry] = field(default_factory=list)  # a body's results that still fail
    reason: str | None = None  # why it still fails; None when it passes (and is to be removed)

    @property
    def passes(self) -> bool:
        return self.reason is None


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk's verdicts and, unless a dry run, what its write did."""

    verdicts: list[Verdict]
    accepted: int = 0
    duplicates: int = 0
    removed: int = 0


@dataclass(slots=True)
class Totals:
    selected: int = 0
    passed: int = 0  # entries that now read (removed unless a dry run)
    still_failing: int = 0
    responses: int = 0  # responses the passing entries made
    accepted: int = 0  # of those, queued
    duplicates: int = 0  # of those, seen within the dedup window already
    requarantined: int = 0  # unreadable results of bodies that now read, kept as result entries
    removed: int = 0

    def add(self, chunk: Chunk) -> None:
        self.selected += len(chunk.verdicts)
        for verdict in chunk.verdicts:
            self.passed += verdict.passes
            self.still_failing += not verdict.passes
            self.responses += len(verdict.responses)
            self.requarantined += len(verdict.requarantine)
        self.accepted += chunk.accepted
        self.duplicates += chunk.duplicates
        self.removed += chunk.removed


def judge(entry: QuarantineEntry) -> Verdict:
    """Read one entry with the current parser. No I/O."""
    if entry.kind == "result":
        raw = entry.raw.encode()
        try:
            exact_json.careful(raw)
        except ValueError as exc:
            return Verdict(entry, reason=f"result is not JSON: {exc}")
        body = b'{"results":[' + raw + b"]}"  # as kept: its numbers as written
    else:
        body = entry.raw.encode()
    try:
        read = read_envelope(body)
    except InvalidEnvelope as exc:
        return Verdict(entry, reason=f"not an envelope: {exc}")
    normalization = normalize(read, entry.source)
    if entry.kind == "result":
        if normalization.unreadable:
            return Verdict(entry, reason=normalization.unreadable[0].reason)
        return Verdict(entry, normalization.responses)
    requarantine = quarantine_entries(
        normalization.unreadable,
        entry.source,
        request_id=entry.request_id,
        account=entry.account,
        batch_id=entry.batch_id,
        at=entry.at,  # set aside then, as part of that body
    )
    return Verdict(entry, normalization.responses, requarantine)


def reprocess(
    connection: redis.Redis,
    writer: InboxWriter,
    router: Router,
    entries: Iterable[QuarantineEntry],
    *,
    dry_run: bool = False,
    chunk: int = 500,
) -> Iterator[Chunk]:
    """Judge `entries` `chunk` at a time; unless `dry_run`, queue what passes (and quarantine a now readable
    body's unreadable results) in one enqueue, then remove the passing entries in one transaction."""
    iterator = iter(entries)
    while batch := list(islice(iterator, chunk)):
        verdicts = [judge(entry) for entry in batch]
        passing = [verdict for verdict in verdicts if verdict.passes]
        if dry_run or not passing:
            yield Chunk(verdicts)
            continue
        responses = [response for verdict in passing for response in verdict.responses]
        written = [entry for verdict in passing for entry in verdict.requarantine]
        result = enqueue_now(connection, writer, router, responses, written)
        keep = {entry.id for entry in written}  # an entry just written is never the one removed
        removed = [verdict.entry.id for verdict in passing if verdict.entry.id not in keep]
        pipe = connection.pipeline(transaction=True)
        quarantine.remove(pipe, removed)
        pipe.execute()
        yield Chunk(verdicts, result.accepted, result.duplicates, len(removed))
