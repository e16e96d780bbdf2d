"""Durable, deduplicated, batched enqueue (group commit).

Concurrent requests hand their responses to one Committer. While one write is in flight the next
requests gather (for `max_wait` more, if set, and up to `max_messages`); then it writes each queue's
share in one Lua script call that, atomically: marks every message_id seen (SET NX EX), appends only
the new responses to the queue's inbox, and makes sure a real RQ job is waiting to drain it
(infobip_inbound.contract.store). A message marked seen is therefore always on a queue, and a failed write
leaves nothing half-done for Infobip's retry to trip over. Each request's future resolves only after
the write holding its messages has returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

import redis
import redis.asyncio as aioredis

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import scripts
from infobip_inbound.contract.store.entries import encode_entry
from infobip_inbound.contract.store.jobs import Jobs
from infobip_inbound.infobip.envelope import Normalized
from infobip_inbound.runtime.metrics import COMMIT_BATCH_MESSAGES, ENQUEUE_SECONDS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    accepted: int
    duplicates: int


@dataclass(slots=True)
class _Pending:
    responses: list[Normalized]
    future: asyncio.Future[EnqueueResult]
    request_id: str
    since: float = field(default_factory=time.perf_counter)
    flags: list[int] = field(default_factory=list)


class InboxWriter:
    """Builds the enqueue script call for one queue's share of responses. No I/O."""

    def __init__(self, settings: Settings) -> None:
        self._dedup_ttl = settings.dedup_window_seconds
        self._jobs = Jobs(settings)

    def script_call(
        self, queue: str, responses: list[Normalized], request_ids: list[str] | None = None
    ) -> scripts.Call[list[int]]:
        if request_ids:
            entries = [encode_entry(r.json, rid) for r, rid in zip(responses, request_ids, strict=True)]
        else:
            entries = [response.json for response in responses]
        return scripts.enqueue(
            queue=queue,
            drain_job=self._jobs.drain(queue),
            message_ids=[response.message_id for response in responses],
            entries=entries,
            dedup_ttl=self._dedup_ttl,
        )


def by_queue(router: Router, responses: list[Normalized]) -> dict[str, list[int]]:
    """Indexes of the responses, grouped by the queue each is routed to."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, response in enumerate(responses):
        groups[router.destination(response.result).queue].append(index)
    return groups


def enqueue_now(
    connection: redis.Redis, writer: InboxWriter, router: Router, responses: list[Normalized]
) -> EnqueueResult:
    """Synchronous, unbatched enqueue for callers outside the receiver's event loop (the poller)."""
    accepted = 0
    for queue, indexes in by_queue(router, responses).items():
        accepted += sum(writer.script_call(queue, [responses[i] for i in indexes]).run(connection))
    return EnqueueResult(accepted=accepted, duplicates=len(responses) - accepted)


class Committer:
    def __init__(self, client: aioredis.Redis, router: Router, settings: Settings) -> None:
        self._client = client
        self._router = router
        self._writer = InboxWriter(settings)
        self._max_wait = settings.commit_max_wait_ms / 1000
        self._max_messages = settings.commit_max_messages
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
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        # Whatever is still pending was never written: its requests must not be answered 2xx.
        for pending in self._pending:
            if not pending.future.done():
                pending.future.set_exception(ConnectionError("receiver is shutting down"))
        self._pending.clear()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def submit(self, responses: list[Normalized], request_id: str = "") -> EnqueueResult:
        """Return once every response is durably queued (or known as a duplicate). Raises on a failed write."""
        if not responses:
            return EnqueueResult(accepted=0, duplicates=0)
        if self._task is None or self._task.done():
            raise RuntimeError("committer is not running")
        future: asyncio.Future[EnqueueResult] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(responses, future, request_id))
        self._pending_messages += len(responses)
        self._idle.clear()
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            if self._pending_messages < self._max_messages and self._max_wait:
                await asyncio.sleep(self._max_wait)
            batch = self._take()
            if not self._pending:
                self._wakeup.clear()
            try:
                await self._commit(batch)
            except Exception as exc:
                log.warning("enqueue failed: %s", type(exc).__name__)
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
            else:
                ENQUEUE_SECONDS.observe(time.perf_counter() - batch[0].since)
                for pending in batch:
                    if not pending.future.done():
                        accepted = sum(pending.flags)
                        pending.future.set_result(
                            EnqueueResult(accepted=accepted, duplicates=len(pending.flags) - accepted)
                        )
            if not self._pending:
                self._idle.set()

    def _take(self) -> list[_Pending]:
        # Whole requests only: a request's messages are never split across commits.
        taken: list[_Pending] = []
        count = 0
        while self._pending and (not taken or count + len(self._pending[0].responses) <= self._max_messages):
            pending = self._pending.popleft()
            count += len(pending.responses)
            taken.append(pending)
        self._pending_messages -= count
        return taken

    async def _commit(self, batch: list[_Pending]) -> None:
        items = [(pending, index) for pending in batch for index in range(len(pending.responses))]
        responses = [pending.responses[index] for pending, index in items]
        COMMIT_BATCH_MESSAGES.observe(len(responses))
        groups = by_queue(self._router, responses)
        results = await asyncio.gather(
            *(
                self._write(queue, [responses[i] for i in idx], [items[i][0].request_id for i in idx])
                for queue, idx in groups.items()
            )
        )
        for pending in batch:
            pending.flags = [0] * len(pending.responses)
        for indexes, flags in zip(groups.values(), results, strict=True):
            for i, flag in zip(indexes, flags, strict=True):
                pending, index = items[i]
                pending.flags[index] = int(flag)

    async def _write(self, queue: str, responses: list[Normalized], request_ids: list[str]) -> list[int]:
        return await self._writer.script_call(queue, responses, request_ids).run_async(self._client)
