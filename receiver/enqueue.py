"""Durable, deduplicated, batched enqueue (group commit).

Concurrent requests hand their responses to one Committer. It gathers them for at most `max_wait`
(or until `max_messages`), then writes each queue's share in one Lua script call that, atomically:
marks every message_id seen (SET NX EX), appends only the new responses to a batch list, and writes
one real RQ job (hash + queue push) that carries the batch key. A message marked seen is therefore
always on a queue, and a failed write leaves nothing half-done for Infobip's retry to trip over.
Each request's future resolves only after the write holding its messages has returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field

import redis
import redis.asyncio as aioredis
from rq import Retry
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.utils import now

from infobip_inbound import throughput
from infobip_inbound.metrics import COMMIT_BATCH_MESSAGES
from infobip_inbound.routing import Router
from infobip_inbound.settings import Settings
from receiver.envelope import Normalized

log = logging.getLogger(__name__)

HANDLE_BATCH = "workers.jobs.handle_batch"
SEEN_PREFIX = "inbound:seen:"
BATCH_PREFIX = "inbound:batch:"
STATS_KEY = "inbound:stats:ingest"  # hash: accepted, duplicates (all receivers and pollers)

REQUEST_IDS_META = "request_ids"  # job meta: {request id: [message ids]}, for the workers' log lines

# KEYS: queue list, rq:queues set, job hash, batch list, stats hash, throughput bucket, then one seen key per
# message.
# ARGV: dedup ttl, job id, number of job hash fields N, N field/value pairs, bucket ttl, then one JSON body per
# message.
ENQUEUE_LUA = """
local ttl = tonumber(ARGV[1])
local nfields = tonumber(ARGV[3])
local first_body = 5 + 2 * nfields
local flags = {}
local added = 0
for i = 7, #KEYS do
  local body = ARGV[first_body + i - 7]
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ttl) then
    redis.call('RPUSH', KEYS[4], body)
    added = added + 1
    flags[#flags + 1] = 1
  else
    flags[#flags + 1] = 0
  end
end
redis.call('HINCRBY', KEYS[5], 'accepted', added)
redis.call('HINCRBY', KEYS[5], 'duplicates', #flags - added)
if redis.call('HINCRBY', KEYS[6], 'accepted', added) == added then
  redis.call('EXPIRE', KEYS[6], ARGV[first_body - 1])  -- the bucket's first write (or nothing counted yet)
end
if #flags > added then
  redis.call('HINCRBY', KEYS[6], 'duplicates', #flags - added)
end
if added > 0 then
  redis.call('HSET', KEYS[3], unpack(ARGV, 4, 3 + 2 * nfields))
  redis.call('SADD', KEYS[2], KEYS[1])
  redis.call('RPUSH', KEYS[1], ARGV[2])
end
return flags
"""


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    accepted: int
    duplicates: int


@dataclass(slots=True)
class _Pending:
    responses: list[Normalized]
    future: asyncio.Future[EnqueueResult]
    request_id: str
    flags: list[int] = field(default_factory=list)


class BatchWriter:
    """Builds the script call that queues one queue's share of responses as one RQ job. No I/O."""

    def __init__(self, settings: Settings) -> None:
        self._dedup_ttl = settings.dedup_window_seconds
        self._job_timeout = settings.job_timeout_seconds
        self._result_ttl = settings.job_result_ttl_seconds
        self._retry = (
            Retry(max=settings.job_retries, interval=settings.job_retry_intervals) if settings.job_retries else None
        )
        # RQ builds job hashes offline; this client is never used for I/O.
        self._rq_connection = redis.Redis()

    def script_call(
        self, queue: str, responses: list[Normalized], request_ids: list[str] | None = None
    ) -> tuple[list[str], list[str | bytes | int]]:
        job_id = uuid.uuid4().hex
        meta: dict[str, list[str]] = {}
        if request_ids:
            for response, request_id in zip(responses, request_ids, strict=True):
                if request_id:
                    meta.setdefault(request_id, []).append(response.message_id)
        batch_key = BATCH_PREFIX + job_id
        job = Job.create(
            HANDLE_BATCH,
            args=(batch_key,),
            connection=self._rq_connection,
            id=job_id,
            origin=queue,
            status=JobStatus.QUEUED,
            timeout=self._job_timeout,
            result_ttl=self._result_ttl,
            retry=self._retry,
            description=f"infobip-inbound batch of {len(responses)} responses",
            meta={REQUEST_IDS_META: meta} if meta else None,
        )
        job.enqueued_at = now()
        fields: list[str | bytes] = []
        for name, value in job.to_dict().items():
            fields += [name, value if isinstance(value, bytes | str) else str(value)]
        keys = [Queue.redis_queue_namespace_prefix + queue, Queue.redis_queues_keys, job.key, batch_key, STATS_KEY]
        keys.append(throughput.bucket_key())
        keys += [SEEN_PREFIX + response.message_id for response in responses]
        args: list[str | bytes | int] = [self._dedup_ttl, job_id, len(fields) // 2, *fields, throughput.KEEP_SECONDS]
        args += [response.json for response in responses]
        return keys, args


def by_queue(router: Router, responses: list[Normalized]) -> dict[str, list[int]]:
    """Indexes of the responses, grouped by the queue each is routed to."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, response in enumerate(responses):
        groups[router.destination(response.result).queue].append(index)
    return groups


def enqueue_now(
    connection: redis.Redis, writer: BatchWriter, router: Router, responses: list[Normalized]
) -> EnqueueResult:
    """Synchronous, unbatched enqueue for callers outside the receiver's event loop (the poller)."""
    script = connection.register_script(ENQUEUE_LUA)
    accepted = 0
    for queue, indexes in by_queue(router, responses).items():
        keys, args = writer.script_call(queue, [responses[i] for i in indexes])
        accepted += sum(int(flag) for flag in script(keys=keys, args=args))
    return EnqueueResult(accepted=accepted, duplicates=len(responses) - accepted)


class Committer:
    def __init__(self, client: aioredis.Redis, router: Router, settings: Settings) -> None:
        self._client = client
        self._script = client.register_script(ENQUEUE_LUA)
        self._router = router
        self._writer = BatchWriter(settings)
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
        keys, args = self._writer.script_call(queue, responses, request_ids)
        flags: list[int] = await self._script(keys=keys, args=args)
        return flags
