"""What happens to (message, handler) pairs that failed: each handler's failures become a batch of their
own, retried after that handler's backoff, or, after its last try, dead-lettered. A pair whose handler raised
PermanentFailure is dead-lettered at once; one that raised RetryLater is not retried before it allows.

Splitting by handler lets every pair follow its own handler's policy, and a retry runs that handler
only. The new batch, its job and the old batch's done-marks are one transaction: a crash leaves the
pairs either still pending in the old batch or handed over, never both or neither.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice

import redis
from redis.client import Pipeline

from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import archive, dead_letter
from infobip_inbound.contract.store.entries import decode_entry
from infobip_inbound.contract.store.inbox import Batch
from infobip_inbound.contract.store.jobs import Jobs, schedule_batch
from infobip_inbound.workers.idempotency import persistently
from infobip_inbound.workers.retry_policy import exhausted, retry_delay


@dataclass(frozen=True, slots=True)
class FailedPair:
    pair: str
    message_id: str
    application_code: str
    handler: str
    raw: bytes
    error: str
    traceback: str
    permanent: bool = False  # PermanentFailure: no further tries
    not_before_seconds: float = 0.0  # RetryLater: the retry waits at least this long


def settle_failures(
    connection: redis.Redis,
    settings: Settings,
    jobs: Jobs,
    batch: Batch,
    queue: str,
    tries: int,
    failures: list[FailedPair],
) -> dict[str, int]:
    """Hand every failed pair to a retry batch or the dead-letter store; mark them settled in this batch."""
    by_handler: dict[str, list[FailedPair]] = defaultdict(list)
    for failure in failures:
        by_handler[failure.handler].append(failure)
    outcome = {"retrying": 0, "dead_lettered": 0}
    # Decided once, before writing: a retry of the write after a lost answer must find the same outcome.
    plans: list[tuple[str, list[FailedPair], list[FailedPair], float]] = []
    for handler, pairs in by_handler.items():
        policy = settings.retry_policy(handler)
        final = exhausted(policy, tries)
        dead = [failure for failure in pairs if final or failure.permanent]
        again = [failure for failure in pairs if not (final or failure.permanent)]
        delay = max(retry_delay(policy, tries), *(failure.not_before_seconds for failure in again)) if again else 0.0
        plans.append((handler, dead, again, delay))
        outcome["dead_lettered"] += len(dead)
        outcome["retrying"] += len(again)

    def writes(pipe: Pipeline) -> None:
        for handler, dead, again, delay in plans:
            for failure in dead:
                entry = dead_pair(failure, queue, tries)
                dead_letter.add(pipe, entry)
                line = archive.handler_line(handler, archive.DEAD, tries, f"{entry.id}: {failure.error}")
                archive.note(pipe, settings, failure.message_id, line)
            if again:
                schedule_batch(pipe, jobs, queue, handler, tries, [failure.raw for failure in again], delay)
                for failure in again:
                    line = archive.handler_line(handler, archive.RETRYING, tries, f"in {delay:.1f} s: {failure.error}")
                    archive.note(pipe, settings, failure.message_id, line)

    # A new batch, its job and the archive's events are not idempotent: settle_once writes them once, even
    # when the write is tried again after its answer was lost.
    settled = [failure.pair for failure in failures]
    persistently(lambda: batch.settle_once(connection, settled, settings.dedup_window_seconds, writes))
    return outcome


def dead_pair(failure: FailedPair, queue: str, tries: int) -> dead_letter.DeadPair:
    return dead_letter.DeadPair.build(
        message_id=failure.message_id,
        handler=failure.handler,
        application_code=failure.application_code,
        queue=queue,
        tries=tries,
        error=failure.error,
        traceback=failure.traceback,
        response=decode_entry(failure.raw)[1],  # the UserResponse JSON, without the request id
    )


def redrive(
    connection: redis.Redis,
    settings: Settings,
    entries: Iterable[dead_letter.DeadPair],
    *,
    chunk: int = 500,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Run dead-lettered pairs again (that handler only, with a fresh set of tries). Works through `entries`
    `chunk` at a time, each chunk one transaction that queues its pairs and removes them from the store, so
    memory and each MULTI stay bounded and an interrupted run leaves every pair either queued or still
    dead-lettered. `progress` is called with the size of each chunk done. Returns how many were queued."""
    jobs = Jobs(settings)
    done = 0
    iterator = iter(entries)
    while batch := list(islice(iterator, chunk)):

        def writes(pipe: Pipeline, taken: list[dead_letter.DeadPair]) -> None:
            groups: dict[tuple[str, str], list[dead_letter.DeadPair]] = defaultdict(list)
            for entry in taken:
                groups[(entry.queue, entry.handler)].append(entry)
            for (queue, handler), group in groups.items():
                schedule_batch(pipe, jobs, queue, handler, 0, [entry.response.encode() for entry in group], 0)
            for entry in taken:
                note = archive.handler_line(entry.handler, archive.REDRIVEN, 0)
                archive.note(pipe, settings, entry.message_id, note)

        # Only the entries still dead-lettered are queued, with their removal: a retry of the transaction after
        # a lost answer queues nothing twice.
        done += dead_letter.take(connection, batch, writes)
        if progress is not None:
            progress(len(batch))
    return done
