"""Durable, deduplicated, batched enqueue (group commit).

Concurrent requests hand their responses to one Committer. While a write is in flight the next requests
gather (for `max_wait` more, if set, and up to `max_messages`); then, with up to `concurrency` writes in flight,
it writes each queue's share in one Lua script call that, atomically: marks every message_id seen (SET NX EX),
appends only the new responses to the queue's inbox, counts them in their campaign groups
(infobip_inbound.contract.store.campaigns), and makes sure a real RQ job is waiting to drain it
(infobip_inbound.contract.store). A message marked seen is therefore always on a queue, and a failed write
leaves nothing half-done for Infobip's retry to trip over. Results that could not be read go to the
quarantine in the same call as the first queue's share. Each request's future resolves only after every
write holding its messages has returned, and, with INBOUND_REDIS_ACK_REPLICAS, once that many replicas hold it
(infobip_inbound.contract.store.replication).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
import redis.asyncio as aioredis

from infobip_inbound.contract.model import Source
from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import archive, campaigns, replication, scripts
from infobip_inbound.contract.store.entries import encode_entry
from infobip_inbound.contract.store.jobs import Jobs
from infobip_inbound.contract.store.quarantine import QuarantineEntry
from infobip_inbound.infobip.envelope import Normalized, Unreadable
from infobip_inbound.runtime.metrics import COMMIT_BATCH_MESSAGES, ENQUEUE_SECONDS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    accepted: int
    duplicates: int
    quarantined: int = 0


@dataclass(slots=True)
class _Pending:
    responses: list[Normalized]
    quarantine: list[QuarantineEntry]
    future: asyncio.Future[EnqueueResult]
    request_id: str
    trace: str | None = None  # the trace context its entries carry (infobip_inbound.runtime.tracing)
    since: float = field(default_factory=time.perf_counter)
    flags: list[int] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.responses) + len(self.quarantine)


# Most responses (and quarantine entries) one enqueue script call carries: Redis runs nothing else while a
# script runs, so a large envelope is written in calls of this size, each a millisecond or two of Redis time
# (docs/reliability.md, "Limits"). The answer still waits for all of them; a retry after a failed call finds
# the written ones as duplicates. Campaign groups and the archive are bounded per call, so per chunk.
CHUNK = 200


class InboxWriter:
    """Builds the enqueue script calls for one queue's share of responses. No I/O."""

    def __init__(self, settings: Settings) -> None:
        self._dedup_ttl = settings.dedup_window_seconds
        self._quarantine_max = settings.quarantine_max_entries
        self._jobs = Jobs(settings)
        self._campaigns = campaigns.limits(settings) if settings.campaign_counting else None
        self._archive = archive.limits(settings)
        # Replicas that must hold a write before it counts (store.replication); None: the primary alone.
        self.ack = replication.Acknowledgement.of(settings)

    def script_calls(
        self,
        queue: str,
        responses: list[Normalized],
        request_ids: list[str] | None = None,
        quarantine: Sequence[QuarantineEntry] = (),
        traces: Sequence[str | None] | None = None,
    ) -> list[scripts.Call[list[int]]]:
        """The calls writing them, in order, each with at most CHUNK responses and CHUNK quarantine entries;
        their flags, concatenated, are one per response."""
        calls = []
        for start in range(0, max(len(responses), len(quarantine), 1), CHUNK):
            end = start + CHUNK
            calls.append(
                self.script_call(
                    queue,
                    responses[start:end],
                    request_ids[start:end] if request_ids else None,
                    quarantine[start:end],
                    traces[start:end] if traces else None,
                )
            )
        return calls

    def script_call(
        self,
        queue: str,
        responses: list[Normalized],
        request_ids: list[str] | None = None,
        quarantine: Sequence[QuarantineEntry] = (),
        traces: Sequence[str | None] | None = None,
    ) -> scripts.Call[list[int]]:
        """`request_ids` and `traces`, when given, hold one value per response."""
        if traces:
            rids: Sequence[str | None] = request_ids or [None] * len(responses)
            entries = [encode_entry(r.json, rid, trace) for r, rid, trace in zip(responses, rids, traces, strict=True)]
        elif request_ids:
            entries = [encode_entry(r.json, rid) for r, rid in zip(responses, request_ids, strict=True)]
        else:
            entries = [response.json for response in responses]
        return scripts.enqueue(
            queue=queue,
            drain_job=self._jobs.drain(queue),
            message_ids=[response.message_id for response in responses],
            entries=entries,
            dedup_ttl=self._dedup_ttl,
            quarantine=[entry.write() for entry in quarantine],
            quarantine_max=self._quarantine_max,
            counts=[campaigns.count_of(r.result) for r in responses] if self._campaigns else None,
            limits=self._campaigns,
            archive=self._archive,
            archive_notes=[
                archive.quarantine_note(entry.message_id, entry.id, entry.reason, entry.at)
                for entry in quarantine
                if entry.message_id
            ],
        )


def quarantine_entries(
    unreadable: Sequence[Unreadable],
    source: Source,
    *,
    request_id: str | None = None,
    account: str | None = None,
    batch_id: str | None = None,
    at: float | None = None,
) -> list[QuarantineEntry]:
    """Quarantine entries for the results that could not be read, with where they came from (and when, if
    not now)."""
    return [
        QuarantineEntry.build(
            kind="result",
            source=source,
            reason=result.reason,
            raw=result.raw,
            message_id=result.message_id,
            request_id=request_id,
            account=account,
            batch_id=batch_id,
            at=at,
        )
        for result in unreadable
    ]


def by_queue(router: Router, responses: list[Normalized]) -> dict[str, list[int]]:
    """Indexes of the responses, grouped by the queue each is routed to."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, response in enumerate(responses):
        groups[router.destination(response.result).queue].append(index)
    return groups


def writes(router: Router, responses: list[Normalized]) -> list[tuple[str, list[int]]]:
    """The script calls to make: each queue with the indexes of its responses. There is always one, on
    the default queue if nothing else, to carry the quarantine entries."""
    return list(by_queue(router, responses).items()) or [(router.default.queue, [])]


def enqueue_now(
    connection: redis.Redis,
    writer: InboxWriter,
    router: Router,
    responses: list[Normalized],
    quarantine: Sequence[QuarantineEntry] = (),
    trace: str | None = None,
) -> EnqueueResult:
    """Synchronous, unbatched enqueue for callers outside the receiver's event loop (the poller, reprocess);
    every entry carries `trace`, if given."""
    if not responses and not quarantine:
        return EnqueueResult(0, 0)
    accepted = 0
    for number, (queue, indexes) in enumerate(writes(router, responses)):
        calls = writer.script_calls(
            queue,
            [responses[i] for i in indexes],
            quarantine=() if number else quarantine,
            traces=[trace] * len(indexes) if trace else None,
        )
        for call in calls:
            flags: list[int] = replication.run(call, connection, writer.ack)
            accepted += sum(flags)
    return EnqueueResult(accepted, len(responses) - accepted, len(quarantine))


class Committer:
    def __init__(self, client: aioredis.Redis, router: Router, settings: Settings) -> None:
        self._client = client
        self._router = router
        self._writer = InboxWriter(settings)
        self._max_wait = settings.commit_max_wait_ms / 1000
        self._max_messages = settings.commit_max_messages
        self._concurrency = settings.commit_concurrency
        self._writing = 0  # writes in flight
        self._writes: set[asyncio.Task[None]] = set()
        self._pending: deque[_Pending] = deque()
        self._pending_messages = 0
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Finish the writes already asked for (bounded), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), drain_seconds)
        for task in [self._task, *self._writes]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in [self._task, *self._writes] if t is not None), return_exceptions=True)
        self._task = None
        # Whatever is still pending was never written: its requests must not be answered 2xx.
        for pending in self._pending:
            if not pending.future.done():
                pending.future.set_exception(ConnectionError("receiver is shutting down"))
        self._pending.clear()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def submit(
        self,
        responses: list[Normalized],
        request_id: str = "",
        quarantine: Sequence[QuarantineEntry] = (),
        trace: str | None = None,
    ) -> EnqueueResult:
        """Return once every response is durably queued (or known as a duplicate) and every quarantine entry
        written; each entry carries `trace` (a trace context), if given. Raises on a failed write."""
        if not responses and not quarantine:
            return EnqueueResult(accepted=0, duplicates=0)
        if self._task is None or self._task.done():
            raise RuntimeError("committer is not running")
        future: asyncio.Future[EnqueueResult] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(responses, list(quarantine), future, request_id, trace))
        self._pending_messages += len(responses) + len(quarantine)
        self._idle.clear()
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        # Up to `concurrency` writes in flight: the next batch gathers while one waits for Redis and is written
        # beside it, so neither the event loop nor Redis waits for the other. Each write is atomic on its own
        # (a message id marked seen is on a queue), so their order does not matter.
        slots = asyncio.Semaphore(self._concurrency)
        while True:
            await self._wakeup.wait()
            if self._pending_messages < self._max_messages and self._max_wait:
                await asyncio.sleep(self._max_wait)
            await slots.acquire()
            batch = self._take()
            if not self._pending:
                self._wakeup.clear()
            self._writing += 1
            task = asyncio.create_task(self._settle(batch, slots), name="group-commit-write")
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _settle(self, batch: list[_Pending], slots: asyncio.Semaphore) -> None:
        """Write `batch`, then answer each of its requests: what its messages came to, or the write's error."""
        try:
            await self._commit(batch)
        except BaseException as exc:
            # A cancelled write (the receiver stopping) is not known to be written: its requests fail too.
            error = exc if isinstance(exc, Exception) else ConnectionError("receiver is shutting down")
            log.warning("enqueue failed: %s", type(error).__name__)
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
            if not isinstance(exc, Exception):
                raise
        else:
            ENQUEUE_SECONDS.observe(time.perf_counter() - batch[0].since)
            for pending in batch:
                if not pending.future.done():
                    accepted = sum(pending.flags)
                    pending.future.set_result(
                        EnqueueResult(accepted, len(pending.flags) - accepted, len(pending.quarantine))
                    )
        finally:
            slots.release()
            self._writing -= 1
            if not self._pending and not self._writing:
                self._idle.set()

    def _take(self) -> list[_Pending]:
        # Whole requests only: a request's messages are never split across commits.
        taken: list[_Pending] = []
        count = 0
        while self._pending and (not taken or count + self._pending[0].size <= self._max_messages):
            pending = self._pending.popleft()
            count += pending.size
            taken.append(pending)
        self._pending_messages -= count
        return taken

    async def _commit(self, batch: list[_Pending]) -> None:
        items = [(pending, index) for pending in batch for index in range(len(pending.responses))]
        responses = [pending.responses[index] for pending, index in items]
        COMMIT_BATCH_MESSAGES.observe(len(responses))
        groups = writes(self._router, responses)
        quarantine = [entry for pending in batch for entry in pending.quarantine]
        traced = any(pending.trace for pending in batch)
        results = await asyncio.gather(
            *(
                self._write(
                    queue,
                    [responses[i] for i in idx],
                    [items[i][0].request_id for i in idx],
                    () if number else quarantine,
                    [items[i][0].trace for i in idx] if traced else None,
                )
                for number, (queue, idx) in enumerate(groups)
            )
        )
        for pending in batch:
            pending.flags = [0] * len(pending.responses)
        for (_, indexes), flags in zip(groups, results, strict=True):
            for i, flag in zip(indexes, flags, strict=True):
                pending, index = items[i]
                pending.flags[index] = int(flag)

    async def _write(
        self,
        queue: str,
        responses: list[Normalized],
        request_ids: list[str],
        quarantine: Sequence[QuarantineEntry],
        traces: list[str | None] | None,
    ) -> list[int]:
        flags: list[int] = []
        for call in self._writer.script_calls(queue, responses, request_ids, quarantine, traces):
            written: list[int] = await replication.run_async(call, self._client, self._writer.ack)
            flags += written
        return flags
