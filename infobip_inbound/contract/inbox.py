"""How queued responses sit in Redis, between the receiver (and poller) that write them and the workers.

Each queue has an inbox list of UserResponse JSON. Writers append to it and make sure one real RQ job
(`infobip_inbound.workers.jobs.drain_inbox`) is waiting on the queue's RQ list; the job, when it starts, claims up to
`claim_max` responses into its own batch list `inbound:batch:<job id>` and handles them. So the number
of RQ jobs follows the workers' pace, not the request rate: under load a job claims what accumulated
while the previous one ran, and RQ's per-job cost (several round trips) is paid per batch, not per message.

The "a drain job is waiting" mark (`inbound:inbox:<queue>:pending` = job id) is trusted only while that
job is still queued, scheduled or starting; a job that failed or vanished no longer blocks new ones.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis
from rq import Retry
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.utils import now

from infobip_inbound.contract.settings import Settings

DRAIN_INBOX = "infobip_inbound.workers.jobs.drain_inbox"
HANDLE_BATCH = "infobip_inbound.workers.jobs.handle_batch"
SEEN_PREFIX = "inbound:seen:"
INBOX_PREFIX = "inbound:inbox:"
BATCH_PREFIX = "inbound:batch:"
STATS_KEY = "inbound:stats:ingest"  # hash: accepted, duplicates (all receivers and pollers)
SCHEDULED_KEY = "inbound:retry:scheduled"  # sorted set: retry batch job id scored by when it is due


def inbox_key(queue: str) -> str:
    return INBOX_PREFIX + queue


def pending_key(queue: str) -> str:
    return INBOX_PREFIX + queue + ":pending"


def batch_key(job_id: str) -> str:
    return BATCH_PREFIX + job_id


# ensure_drain_job(pending, rq queue list, rq:queues, job hash, job id, first ARGV index of the job's
# hash fields, number of fields): push the prepared job unless the marked one is still waiting.
_ENSURE_DRAIN_JOB = """
local function ensure_drain_job(pending, queue_key, queues_key, job_key, job_id, first_field, nfields)
  local current = redis.call('GET', pending)
  if current then
    local status = redis.call('HGET', 'RQ_JOB_PREFIX' .. current, 'status')
    if status == 'queued' or status == 'scheduled' or status == 'started' or status == 'deferred' then
      return 0
    end
  end
  redis.call('HSET', job_key, unpack(ARGV, first_field, first_field + 2 * nfields - 1))
  redis.call('SADD', queues_key, queue_key)
  redis.call('RPUSH', queue_key, job_id)
  redis.call('SET', pending, job_id)
  return 1
end
""".replace("RQ_JOB_PREFIX", Job.redis_job_namespace_prefix)

# KEYS: inbox, pending mark, RQ queue list, rq:queues, prepared job hash, stats hash, throughput bucket,
# then one seen key per response. ARGV: dedup ttl, job id, number of job hash fields N, N field/value
# pairs, bucket ttl, then one inbox entry per response. Returns one flag per response: 1 queued,
# 0 duplicate (seen within the window).
ENQUEUE_LUA = (
    _ENSURE_DRAIN_JOB
    + """
local ttl = tonumber(ARGV[1])
local nfields = tonumber(ARGV[3])
local first_body = 5 + 2 * nfields
local flags = {}
local added = 0
for i = 8, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ttl) then
    redis.call('RPUSH', KEYS[1], ARGV[first_body + i - 8])
    added = added + 1
    flags[#flags + 1] = 1
  else
    flags[#flags + 1] = 0
  end
end
redis.call('HINCRBY', KEYS[6], 'accepted', added)
redis.call('HINCRBY', KEYS[6], 'duplicates', #flags - added)
if redis.call('HINCRBY', KEYS[7], 'accepted', added) == added then
  redis.call('EXPIRE', KEYS[7], ARGV[first_body - 1])  -- the bucket's first write (or nothing counted yet)
end
if #flags > added then
  redis.call('HINCRBY', KEYS[7], 'duplicates', #flags - added)
end
if added > 0 then
  ensure_drain_job(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[2], 4, nfields)
end
return flags
"""
)

# KEYS: inbox, pending mark, this job's batch list, RQ queue list, rq:queues, follow-up job hash.
# ARGV: claim max, this job's id, follow-up job id, number of its hash fields N, N field/value pairs.
# Returns the number claimed, or -1 when this job claimed before (a retry: it keeps its batch).
CLAIM_LUA = (
    _ENSURE_DRAIN_JOB
    + """
if redis.call('EXISTS', KEYS[3]) == 1 then
  return -1
end
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('DEL', KEYS[2])
end
local n = math.min(redis.call('LLEN', KEYS[1]), tonumber(ARGV[1]))
for _ = 1, n do
  redis.call('LMOVE', KEYS[1], KEYS[3], 'LEFT', 'RIGHT')
end
if redis.call('LLEN', KEYS[1]) > 0 then
  ensure_drain_job(KEYS[2], KEYS[4], KEYS[5], KEYS[6], ARGV[3], 5, tonumber(ARGV[4]))
end
return n
"""
)


@dataclass(frozen=True, slots=True)
class PreparedJob:
    """A job built offline: its id, hash key and hash fields, for a script or transaction to write."""

    id: str
    key: str
    fields: list[str | bytes]

    @property
    def field_count(self) -> int:
        return len(self.fields) // 2


class Jobs:
    """Builds RQ jobs exactly as RQ would write them (RQ serializes; a script or transaction writes them)."""

    def __init__(self, settings: Settings) -> None:
        self._timeout = settings.job_timeout_seconds
        self._result_ttl = settings.job_result_ttl_seconds
        # RQ's own retries cover a job that fails as a whole (Redis gone mid-job, a timeout); failed handler
        # calls are retried per pair instead (infobip_inbound.workers.failed_pairs).
        self._retry = (
            Retry(max=settings.job_retries, interval=settings.job_retry_intervals) if settings.job_retries else None
        )
        self._connection = redis.Redis()  # never used for I/O: Job.create needs one

    def drain(self, queue: str) -> PreparedJob:
        """A job that drains the queue's inbox."""
        return self._prepare(
            DRAIN_INBOX, (queue,), queue, JobStatus.QUEUED, f"infobip-inbound: handle responses queued on {queue}"
        )

    def batch(self, queue: str, job_id: str, handler: str, tries: int, status: JobStatus, size: int) -> PreparedJob:
        """A job that runs one handler over the batch `inbound:batch:<job_id>` (a retry or a redrive)."""
        return self._prepare(
            HANDLE_BATCH,
            (batch_key(job_id), handler, tries),
            queue,
            status,
            f"infobip-inbound: {handler} over {size} responses, try {tries}",
            job_id,
        )

    def _prepare(
        self,
        func: str,
        args: tuple[object, ...],
        queue: str,
        status: JobStatus,
        description: str,
        job_id: str | None = None,
    ) -> PreparedJob:
        job = Job.create(
            func,
            args=args,
            connection=self._connection,
            id=job_id or uuid.uuid4().hex,
            origin=queue,
            status=status,
            timeout=self._timeout,
            result_ttl=self._result_ttl,
            retry=self._retry,
            description=description,
        )
        job.enqueued_at = now()
        fields: list[str | bytes] = []
        for name, value in job.to_dict().items():
            fields += [name, value if isinstance(value, bytes | str) else str(value)]
        return PreparedJob(job.id, job.key, fields)


def encode_entry(response_json: bytes, request_id: str | None) -> bytes:
    """An inbox entry: the UserResponse JSON, after the id of the request that brought it (if any) and a
    newline. Compact JSON holds no raw newline, and an entry without a request id starts with `{`."""
    return request_id.encode() + b"\n" + response_json if request_id else response_json


def decode_entry(entry: bytes) -> tuple[str | None, bytes]:
    """(request id or None, UserResponse JSON) of an inbox entry."""
    if entry.startswith(b"{"):
        return None, entry
    request_id, _, response_json = entry.partition(b"\n")
    return request_id.decode(), response_json


def queue_key(queue: str) -> str:
    """RQ's list of the queue's waiting job ids."""
    return Queue.redis_queue_namespace_prefix + queue


def queue_keys(queue: str) -> tuple[str, str]:
    """RQ's list for the queue, and RQ's set of queues."""
    return queue_key(queue), Queue.redis_queues_keys
