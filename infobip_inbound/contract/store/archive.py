"""The archive: every accepted response with its journey, kept for look-up (`messages`) and `replay`.

Two Redis strings per message id, fields split by \x1f: its record (keys.archive_key), written by the enqueue
script when the response is accepted, and its events (keys.archive_events_key), one line appended per event:

    A  <ms> <queue> <inbox entry>                     the record: accepted and queued (an id accepted again
                                                      after the dedup window gets a new record)
    Q  <ms> <quarantine entry id> <reason>            event: a result with this id was quarantined
    H  <ms> <handler> <outcome> <try> <detail>        event: what a handler's try came to (OUTCOMES)
    D  <ms> <request id>                              event: delivered again and dropped as a duplicate
                                                      (written by the enqueue script; bounded per message)

Events are appended blind (APPEND, then EXPIRE): no read and no script on the workers' hot path (a write
tried again after a lost answer may append a handler's line twice: readers show identical lines once); the
events key exists only once there is an event, so accepting a response writes one string. Events live apart from
the record because APPEND leaves a string room to grow, which would double the large one. Each event renews
the events' TTL; events whose record the size bound evicted are never shown (readers need the record, or a
quarantine note) and expire. The index (a sorted set by acceptance time) bounds the number of records; the
enqueue script trims it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import redis
from redis.client import Pipeline

from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import keys
from infobip_inbound.contract.store.entries import decode_entry
from infobip_inbound.contract.store.scripts import ArchiveLimits, ArchiveNote

SEP = b"\x1f"

HANDLED = "handled"  # the call returned: recorded as succeeded
RETRYING = "retrying"  # the call failed; a retry is scheduled (detail: after how long, and the error)
DEAD = "dead"  # the call failed its last try, or for good: dead-lettered (detail: the entry id, and the error)
REPLAY = "replay"  # queued again for the handler by a replay (detail: the replay's id)
REDRIVEN = "redriven"  # taken from the dead-letter store by `dlq retry`, queued again
HELD = "held"  # set aside in the handler's lane, not run yet (detail: "paused", or "lagging" behind the others)
OUTCOMES = (HANDLED, RETRYING, DEAD, REPLAY, REDRIVEN, HELD)
DUPLICATE = "duplicate"  # a message's event, not a handler's: delivered again (detail: the request's id)

# What `--outcome` selects: a handler's last outcome, "quarantined", or "pending" (accepted, no outcome yet).
SELECTABLE: tuple[str, ...] = (*OUTCOMES, "quarantined", "pending")

_DETAIL_CHARS = 500


def limits(settings: Settings) -> ArchiveLimits | None:
    """The archive's bounds for the enqueue script, or None when archiving is off."""
    if not settings.archive:
        return None
    return ArchiveLimits(settings.archive_max_messages, settings.archive_max_age_seconds)


def _clean(text: str) -> bytes:
    """One field: no line break or separator inside, bounded."""
    return text.replace("\n", " ").replace("\r", " ").replace("\x1f", " ")[:_DETAIL_CHARS].encode()


def _ms(at: float | None) -> bytes:
    return str(int((time.time() if at is None else at) * 1000)).encode()


def quarantine_note(message_id: str, entry_id: str, reason: str, at: float | None = None) -> ArchiveNote:
    return ArchiveNote(message_id, SEP.join((b"Q", _ms(at), entry_id.encode(), _clean(reason))))


def handler_line(handler: str, outcome: str, tries: int, detail: str = "", at: float | None = None) -> bytes:
    return SEP.join((b"H", _ms(at), _clean(handler), outcome.encode(), str(tries).encode(), _clean(detail)))


def note(pipe: Pipeline, settings: Settings, message_id: str, line: bytes) -> None:
    """Append an event to a message's events (in the caller's pipeline); nothing when archiving is off."""
    if settings.archive:
        key = keys.archive_events_key(message_id)
        pipe.append(key, line + b"\n")
        pipe.expire(key, settings.archive_max_age_seconds)


@dataclass(frozen=True, slots=True)
class Event:
    at: float  # unix seconds
    kind: str  # "accepted", "quarantined", or a handler outcome (OUTCOMES)
    handler: str | None = None
    tries: int | None = None
    detail: str = ""


@dataclass(slots=True)
class Journey:
    """A message's record, read: what it was, where it went, and every event since it was accepted."""

    message_id: str
    accepted_at: float | None = None
    queue: str | None = None
    request_id: str | None = None
    entry: bytes | None = None  # the inbox entry as queued: what a replay queues again
    response: dict[str, Any] | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def quarantined(self) -> bool:
        return any(event.kind == "quarantined" for event in self.events)

    def outcomes(self) -> dict[str, Event]:
        """Each handler's last event."""
        last: dict[str, Event] = {}
        for event in self.events:
            if event.handler is not None:
                last[event.handler] = event
        return last

    def field(self, name: str) -> Any:
        return (self.response or {}).get(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "accepted_at": self.accepted_at,
            "queue": self.queue,
            "request_id": self.request_id,
            "response": self.response,
            "events": [asdict(event) for event in self.events],
            "outcomes": {handler: event.kind for handler, event in self.outcomes().items()},
        }


def parse(message_id: str, record: bytes | None, events: bytes | None) -> Journey | None:
    """A record and its events read back, in time order; None when there is neither a record nor a
    quarantine note (only events appended after the size bound evicted the record)."""
    journey = Journey(message_id)
    if record is not None:
        _, at, queue, entry = record.split(SEP, 3)
        journey.accepted_at = int(at) / 1000
        journey.queue = queue.decode()
        journey.entry = entry
        journey.request_id, response_json = decode_entry(entry)
        journey.response = orjson.loads(response_json)
        journey.events.append(Event(journey.accepted_at, "accepted", detail=journey.queue))
    seen: set[bytes] = set()
    for line in (events or b"").split(b"\n"):
        kind, _, rest = line.partition(SEP)
        if kind == b"H":
            # A handler's event appended twice by a retry after a lost answer (the same line: same ms, try
            # and detail) is one event.
            if line in seen:
                continue
            seen.add(line)
        if kind == b"Q":
            at, entry_id, reason = rest.split(SEP, 2)
            event = Event(int(at) / 1000, "quarantined", detail=f"{entry_id.decode()}: {reason.decode()}")
            journey.events.append(event)
        elif kind == b"D":
            at, request_id = rest.split(SEP, 1)
            journey.events.append(Event(int(at) / 1000, DUPLICATE, detail=request_id.decode()))
        elif kind == b"H":
            at, handler, outcome, tries, detail = rest.split(SEP, 4)
            event = Event(int(at) / 1000, outcome.decode(), handler.decode(), int(tries), detail.decode())
            journey.events.append(event)
    if record is None and not journey.quarantined:
        return None
    journey.events.sort(key=lambda event: event.at)  # a quarantine note may come before the acceptance
    return journey


def load(connection: redis.Redis, message_id: str) -> Journey | None:
    values: list[bytes | None] = connection.mget(  # type: ignore[assignment]
        [keys.archive_key(message_id), keys.archive_events_key(message_id)]
    )
    return parse(message_id, values[0], values[1])


@dataclass(frozen=True, slots=True)
class Filters:
    """What `messages list` and `replay` select; every given filter must hold."""

    since: float | None = None  # unix seconds, accepted at or after
    until: float | None = None  # unix seconds, accepted at or before
    application: str | None = None
    keyword: str | None = None  # compared case-insensitively
    bulk_id: str | None = None
    source: str | None = None  # "forward" or "pull"
    outcome: str | None = None  # one of SELECTABLE
    handler: str | None = None  # the handler `outcome` is about (default: any handler)

    def matches(self, journey: Journey) -> bool:
        if self.application is not None and journey.field("application_code") != self.application:
            return False
        if self.keyword is not None and (journey.field("keyword") or "").casefold() != self.keyword.casefold():
            return False
        if self.bulk_id is not None and journey.field("bulk_id") != self.bulk_id:
            return False
        if self.source is not None and journey.field("source") != self.source:
            return False
        return self.outcome is None or self._outcome_holds(journey)

    def _outcome_holds(self, journey: Journey) -> bool:
        if self.outcome == "quarantined":
            return journey.quarantined
        outcomes = journey.outcomes()
        if self.handler is not None:
            last = outcomes.get(self.handler)
            return last is None if self.outcome == "pending" else last is not None and last.kind == self.outcome
        if self.outcome == "pending":
            return journey.accepted_at is not None and not outcomes
        return any(event.kind == self.outcome for event in outcomes.values())


def select(
    connection: redis.Redis, filters: Filters, *, limit: int | None = None, chunk: int = 500
) -> Iterator[Journey]:
    """The archived journeys that match, newest first, read `chunk` records at a time (memory stays bounded
    however many match). The window's top is fixed when the selection starts, so what arrives meanwhile
    neither shows up nor shifts the pages (pages are counted from the top; evictions happen at the bottom)."""
    # Scores are whole milliseconds: bounds are rounded to theirs, not truncated (t + 0.001 s in floating
    # point may come to a hair under t's next millisecond, and would take t in).
    top = round((time.time() if filters.until is None else filters.until) * 1000)
    bottom = "-inf" if filters.since is None else round(filters.since * 1000)
    found = 0
    offset = 0
    while limit is None or found < limit:
        ids: list[bytes] = connection.zrevrangebyscore(  # type: ignore[assignment]
            keys.ARCHIVE_INDEX, top, bottom, start=offset, num=chunk
        )
        if not ids:
            return
        offset += len(ids)
        names = [i.decode() for i in ids]
        both = [key for name in names for key in (keys.archive_key(name), keys.archive_events_key(name))]
        values: list[bytes | None] = connection.mget(both)  # type: ignore[assignment]
        for n, message_id in enumerate(names):
            journey = parse(message_id, values[2 * n], values[2 * n + 1])
            if journey is not None and filters.matches(journey):
                yield journey
                found += 1
                if limit is not None and found >= limit:
                    return


def figures(connection: redis.Redis) -> dict[str, int | float | None]:
    """How many messages the archive holds, and the oldest one's acceptance time."""
    pipe = connection.pipeline(transaction=False)
    pipe.zcard(keys.ARCHIVE_INDEX)
    pipe.zrange(keys.ARCHIVE_INDEX, 0, 0, withscores=True)
    count, oldest = pipe.execute()
    return {"messages": int(count), "oldest": oldest[0][1] / 1000 if oldest else None}


def to_json(journey: Journey) -> bytes:
    return orjson.dumps(journey.to_dict())
