"""Replay: archived messages queued again for chosen handlers, each (message, handler) pair once per replay.

A replay has an id (named, or derived from its handlers and selection) and marks each pair it queues in the
same transaction as the batch job that runs the pair, watching the marks it read
(infobip_inbound.contract.store.replays): a replay interrupted and started again queues only the pairs it had
not queued yet, and the same replay run twice queues nothing the second time. Queuing a pair clears its handled
mark (infobip_inbound.contract.store.handled), so a handler that "succeeded" runs again; the arrival dedup (seen
keys) is not touched, so new arrivals are deduplicated as ever. The batches are the workers' ordinary
one-handler batches: retries, the dead-letter store and flow control apply to replayed pairs as to any other. A
reply already sent for a pair is not sent again (infobip_inbound.workers.reply stays at most once).

A pair still in flight is left, counted (`in_flight`) and not marked: running the replay again once it has
settled queues it. In flight, by the message's journey: the message has no handler outcome yet (it waits in
its inbox or its batch has not recorded one: its original run is ahead), or the handler's last outcome is a
retry, a replay or a redrive queued and not run yet. Queuing such a pair would clear its handled mark while its
original run (or the queued one) is still to come: it could run twice.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import orjson
import redis
from redis.client import Pipeline

from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import archive, replays
from infobip_inbound.contract.store.archive import Journey
from infobip_inbound.contract.store.handled import pair_id
from infobip_inbound.contract.store.jobs import Jobs, schedule_batch


def replay_id(handlers: Sequence[str], selection: dict[str, object]) -> str:
    """The id of a replay named by nothing but what it does: its handlers and its selection as given (a
    relative window such as "newer than 1h" is the same selection when run again)."""
    document = orjson.dumps({"handlers": sorted(set(handlers)), "selection": selection}, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(document, digest_size=8).hexdigest()


@dataclass(slots=True)
class ReplayOutcome:
    replay_id: str
    messages: int = 0  # selected messages that can be replayed (archived with their response)
    queued: int = 0  # pairs queued by this run
    already: int = 0  # pairs this replay had queued before
    unarchived: int = 0  # selected records without a response (quarantined only): nothing to replay
    in_flight: int = 0  # pairs left because they are still to run elsewhere (see the module's doc)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Replayer:
    """Queues (message, handler) pairs of a replay, `chunk` messages per transaction, paced by `rate`."""

    def __init__(
        self,
        connection: redis.Redis,
        settings: Settings,
        handlers: Sequence[str],
        replay: str,
        *,
        rate: float | None = None,
        chunk: int = 500,
    ) -> None:
        self._connection = connection
        self._settings = settings
        self._jobs = Jobs(settings)
        self._handlers = list(dict.fromkeys(handlers))
        self._chunk = max(1, min(chunk, int(rate))) if rate else chunk
        self._rate = rate
        # A mark outlives any message the replay could select again (the archive's age bounds the selection).
        self._mark_ttl = max(settings.archive_max_age_seconds, settings.dedup_window_seconds)
        self.outcome = ReplayOutcome(replay)

    def run(
        self, journeys: Iterable[Journey], *, dry_run: bool = False, progress: Callable[[int], None] | None = None
    ) -> ReplayOutcome:
        started = time.monotonic()
        batch: list[_Message] = []
        for journey in journeys:
            if journey.entry is None or journey.queue is None:
                self.outcome.unarchived += 1
                continue
            batch.append(_Message(journey.message_id, journey.queue, journey.entry, _in_flight(journey)))
            if len(batch) >= self._chunk:
                self._chunk_done(batch, dry_run, progress, started)
                batch = []
        if batch:
            self._chunk_done(batch, dry_run, progress, started)
        return self.outcome

    def _chunk_done(
        self, batch: list[_Message], dry_run: bool, progress: Callable[[int], None] | None, started: float
    ) -> None:
        queued, in_flight = self._queue(batch, dry_run)
        self.outcome.messages += len(batch)
        self.outcome.queued += queued
        self.outcome.in_flight += in_flight
        self.outcome.already += len(batch) * len(self._handlers) - queued - in_flight
        if progress is not None:
            progress(len(batch))
        if self._rate and not dry_run:
            # Paced by messages queued so far: the handlers' calls follow at about this rate.
            ahead = self.outcome.messages / self._rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)

    def _queue(self, batch: list[_Message], dry_run: bool) -> tuple[int, int]:
        """Queue the chunk's pairs this replay has not queued yet, unless still in flight; returns how many it
        queued and how many it left in flight."""
        pairs = [(message, handler) for message in batch for handler in self._handlers]

        def write(pipe: Pipeline, new: list[int]) -> None:
            groups: dict[tuple[str, str], list[bytes]] = defaultdict(list)
            for message, handler in (pairs[index] for index in new):
                groups[(message.queue, handler)].append(message.entry)
                line = archive.handler_line(handler, archive.REPLAY, 0, self.outcome.replay_id)
                archive.note(pipe, self._settings, message.message_id, line)
            for (queue, handler), entries in groups.items():
                schedule_batch(pipe, self._jobs, queue, handler, 0, entries, 0)

        ids = [pair_id(message.message_id, handler) for message, handler in pairs]
        return replays.queue_once(
            self._connection,
            self.outcome.replay_id,
            ids,
            self._mark_ttl,
            write,
            dry_run=dry_run,
            leave=lambda index: pairs[index][0].in_flight(pairs[index][1]),
        )


# A handler whose last outcome is one of these has a run queued (or waiting in its lane) that has not happened yet.
_QUEUED = frozenset((archive.RETRYING, archive.REPLAY, archive.REDRIVEN, archive.HELD))


def _in_flight(journey: Journey) -> Callable[[str], bool]:
    """Whether the message's pair with a handler is still to run elsewhere (see the module's doc)."""
    outcomes = journey.outcomes()
    if not outcomes:
        return lambda handler: True  # its original run has recorded nothing yet
    return lambda handler: handler in outcomes and outcomes[handler].kind in _QUEUED


@dataclass(frozen=True, slots=True)
class _Message:
    message_id: str
    queue: str
    entry: bytes
    in_flight: Callable[[str], bool]
