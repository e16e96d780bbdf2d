"""Every Lua script the service runs, each beside the one function that builds its call.

Each script documents its KEYS and ARGV at the top of its text; the builder next to it is the only code
that knows those positions, so callers pass named arguments and run the Call it returns. A script is
registered (hashed) once per Redis client, sync or asyncio, and runs by EVALSHA from then on.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import redis
import redis.asyncio as aioredis

from infobip_inbound.contract.store import keys
from infobip_inbound.contract.store.handler_state import Breaker
from infobip_inbound.contract.store.jobs import PreparedJob

T = TypeVar("T")
Arg = str | bytes | int | float

_registered: weakref.WeakKeyDictionary[redis.Redis | aioredis.Redis, dict[str, Any]] = weakref.WeakKeyDictionary()
_registered_lock = threading.Lock()


def _script(client: redis.Redis | aioredis.Redis, source: str) -> Any:
    """The client's registered script for `source`, registered on first use (no I/O: it only hashes)."""
    with _registered_lock:
        scripts = _registered.setdefault(client, {})
        script = scripts.get(source)
        if script is None:
            script = scripts[source] = client.register_script(source)
        return script


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One call of a script: its KEYS and ARGV in the script's order, and how its reply is read."""

    source: str
    keys: list[str]
    args: list[Arg]
    reply: Callable[[Any], T]

    def run(self, client: redis.Redis) -> T:
        return self.reply(_script(client, self.source)(keys=self.keys, args=self.args))

    async def run_async(self, client: aioredis.Redis) -> T:
        return self.reply(await _script(client, self.source)(keys=self.keys, args=self.args))

    def sha(self, client: redis.Redis | aioredis.Redis) -> str:
        """The script's hash, for an EVALSHA queued on a pipeline (store.replication)."""
        return str(_script(client, self.source).sha)


def _flags(reply: Any) -> list[int]:
    return [int(flag) for flag in reply]


# The drain-job block shared by ENQUEUE and CLAIM: it reads KEYS[2..5] and ARGV[3..4+2N] in both.
_ENSURE_DRAIN_JOB = f"""
-- KEYS[2]  the queue's pending mark: id of the drain job known to be waiting
-- KEYS[3]  RQ's list of the queue
-- KEYS[4]  RQ's set of queues
-- KEYS[5]  hash of a prepared drain job, written only if no marked job is still waiting
-- ARGV[3]  the prepared job's id
-- ARGV[4]  N, the number of the prepared job's hash fields
-- ARGV[5 .. 4+2N]  the prepared job's hash field/value pairs
-- `listed`: a 'queued' job counts only while it is on RQ's list (LPOS, Redis 6.0.6+): one taken off it by
-- a worker killed before the job started says 'queued' but waits in RQ's intermediate list for RQ's
-- maintenance (every ten minutes). Only the workers' safety net checks (ENQUEUE must stay O(1)).
local function ensure_drain_job(listed)
  local current = redis.call('GET', KEYS[2])
  if current then
    local status = redis.call('HGET', '{keys.RQ_JOB_PREFIX}' .. current, 'status')
    -- A job waiting for RQ's retry of a whole-job failure ('scheduled') does not count: the inbox must
    -- not wait out its retry interval with it.
    if status == 'started' or status == 'deferred' then
      return 0
    end
    if status == 'queued' and (not listed or redis.call('LPOS', KEYS[3], current)) then
      return 0
    end
  end
  redis.call('HSET', KEYS[5], unpack(ARGV, 5, 4 + 2 * tonumber(ARGV[4])))
  redis.call('SADD', KEYS[4], KEYS[3])
  redis.call('RPUSH', KEYS[3], ARGV[3])
  redis.call('SET', KEYS[2], ARGV[3])
  return 1
end
"""


def _drain_job_keys(queue: str, job: PreparedJob) -> list[str]:
    return [keys.pending_key(queue), keys.rq_queue_key(queue), keys.RQ_QUEUES_KEY, job.key]


def _drain_job_args(job: PreparedJob) -> list[Arg]:
    return [job.id, job.field_count, *job.fields]


# New campaign groups one ENQUEUE call may create: the responses of further new groups are counted in the
# "other" group (keys.CAMPAIGN_OTHER_KEY), so one request (a call per CHUNK of its results) cannot sweep the
# groups kept out of the index.
CAMPAIGN_NEW_GROUPS_PER_CALL = 20

# The campaign-count block shared by ENQUEUE and RECORD_SEND: one group hash per campaign (bulk id) or
# application, indexed by its last write; the index bounds how many groups are kept.
_CAMPAIGN_GROUPS = f"""
-- Group hash fields: total, first, last (ms), sent (ms, the bulk's send time), p (paired responses),
-- kn (distinct keywords kept), k:<keyword> (count), o (responses whose keyword found the table full),
-- d:<i> (responses i delay buckets after the send: bucket i holds delays in [r^i - 1, r^(i+1) - 1) s).
local function touch_group(index, group, now, ttl)
  redis.call('EXPIRE', group, ttl)
  redis.call('ZADD', index, now, group)
end
local function tally(groups, group, keyword, paired)
  local g = groups[group]
  if not g then
    g = {{n = 0, p = 0, kw = {{}}, order = {{}}}}
    groups[group] = g
  end
  g.n = g.n + 1
  if paired == '1' then
    g.p = g.p + 1
  end
  if not g.kw[keyword] then
    g.kw[keyword] = 0
    g.order[#g.order + 1] = keyword
  end
  g.kw[keyword] = g.kw[keyword] + 1
end
-- One call's responses of a group, written at once: they share the call's time, so their delay bucket too.
local function count_group(index, group, g, now, ttl, kmax, ratio, top)
  redis.call('HINCRBY', group, 'total', g.n)
  redis.call('HSETNX', group, 'first', now)
  redis.call('HSET', group, 'last', now)
  if g.p > 0 then
    redis.call('HINCRBY', group, 'p', g.p)
  end
  local kept = tonumber(redis.call('HGET', group, 'kn') or '0')
  local other = 0
  for _, keyword in ipairs(g.order) do
    local field, count = 'k:' .. keyword, g.kw[keyword]
    if kept < kmax or redis.call('HEXISTS', group, field) == 1 then
      if redis.call('HINCRBY', group, field, count) == count then
        kept = kept + 1
        redis.call('HINCRBY', group, 'kn', 1)
      end
    else
      other = other + count
    end
  end
  if other > 0 then
    redis.call('HINCRBY', group, 'o', other)
  end
  local sent = redis.call('HGET', group, 'sent')
  if sent then
    local delay = math.max(0, (now - tonumber(sent)) / 1000)
    local bucket = math.min(top, math.floor(math.log(1 + delay) / math.log(ratio)))
    redis.call('HINCRBY', group, 'd:' .. bucket, g.n)
  end
  touch_group(index, group, now, ttl)
end
-- Over the bound, the least recently written groups go, but only those written before this call: a call never
-- evicts a group it writes, nor one as young.
local function trim_groups(index, now, ttl, max_groups)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now - ttl * 1000)  -- their hashes expired with their TTL
  local over = redis.call('ZCARD', index) - max_groups
  if over > 0 then
    local oldest = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. now, 'LIMIT', 0, over)
    for _, group in ipairs(oldest) do
      redis.call('ZREM', index, group)
      redis.call('DEL', group)
    end
  end
end
-- A new group past the call's allowance is counted in the "other" group instead.
local function merge_into(other, g)
  other.n = other.n + g.n
  other.p = other.p + g.p
  for _, keyword in ipairs(g.order) do
    if not other.kw[keyword] then
      other.kw[keyword] = 0
      other.order[#other.order + 1] = keyword
    end
    other.kw[keyword] = other.kw[keyword] + g.kw[keyword]
  end
end
local function count_groups(index, groups, now, ttl, kmax, ratio, top)
  local created = 0
  local other = {{n = 0, p = 0, kw = {{}}, order = {{}}}}
  for group, g in pairs(groups) do
    if redis.call('ZSCORE', index, group) then
      count_group(index, group, g, now, ttl, kmax, ratio, top)
    elseif created < {CAMPAIGN_NEW_GROUPS_PER_CALL} then
      created = created + 1
      count_group(index, group, g, now, ttl, kmax, ratio, top)
    else
      merge_into(other, g)
    end
  end
  if other.n > 0 then
    count_group(index, '{keys.CAMPAIGN_OTHER_KEY}', other, now, ttl, kmax, ratio, top)
  end
end
"""


DUPLICATE_EVENTS_BYTES = 2048  # a message's events past this size record no more duplicate deliveries

# The archive block of ENQUEUE: a message's record and its events are two strings named by prefix + message id,
# indexed by acceptance time.
_ARCHIVE = f"""
local function archive_id(record)
  return string.sub(record, {len(keys.ARCHIVE_PREFIX) + 1})
end
-- A call's accepted records share its time: their index entries are collected (`indexed`, score and id pairs)
-- and added with one ZADD per slice (index_accepted), not one per message.
local function archive_accepted(indexed, record, entry, now, queue, age)
  redis.call('SET', record, 'A\\31' .. now .. '\\31' .. queue .. '\\31' .. entry, 'EX', age)
  indexed[#indexed + 1] = now
  indexed[#indexed + 1] = archive_id(record)
end
local function index_accepted(index, indexed)
  for first = 1, #indexed, 1000 do
    redis.call('ZADD', index, unpack(indexed, first, math.min(#indexed, first + 999)))
  end
end
-- A duplicate delivery of an archived message (Infobip's retry, a second pull) becomes an event of its own,
-- `D <ms> <request id>`, while the message's events are under DUPLICATE_EVENTS_BYTES: a flood of one id
-- cannot grow them without bound. Events of a message whose record is gone expire with their TTL.
local function archive_duplicate(record, entry, now, age)
  if redis.call('EXISTS', record) == 0 then
    return
  end
  local events = '{keys.ARCHIVE_EVENTS_PREFIX}' .. archive_id(record)
  if redis.call('STRLEN', events) >= {DUPLICATE_EVENTS_BYTES} then
    return
  end
  local request_id = ''
  if string.sub(entry, 1, 1) ~= '{{' then
    request_id = string.match(entry, '^[^ \\n]*')
  end
  redis.call('APPEND', events, 'D\\31' .. now .. '\\31' .. request_id .. '\\n')
  redis.call('EXPIRE', events, age)
end
local function archive_note(index, record, events, line, now, age)
  redis.call('APPEND', events, line .. '\\n')
  redis.call('EXPIRE', events, age)
  redis.call('ZADD', index, 'NX', now, archive_id(record))
end
local function trim_archive(index, now, age, max_messages, most)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now - age * 1000)  -- their records expired with their TTL
  local over = math.min(redis.call('ZCARD', index) - max_messages, most)
  if over > 0 then
    local oldest = redis.call('ZPOPMIN', index, over)
    for k = 1, #oldest, 2 do
      redis.call('DEL', '{keys.ARCHIVE_PREFIX}' .. oldest[k], '{keys.ARCHIVE_EVENTS_PREFIX}' .. oldest[k])
    end
  end
end
"""


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """How the archive is kept: most messages, their age, most records evicted by one enqueue call."""

    max_messages: int
    max_age_seconds: int
    evict_per_call: int = 1000

    def args(self) -> list[Arg]:
        return [self.max_messages, self.max_age_seconds, self.evict_per_call]


@dataclass(frozen=True, slots=True)
class ArchiveNote:
    """A line for a message's archive record written with an enqueue call (a quarantined result's)."""

    message_id: str
    line: bytes


@dataclass(frozen=True, slots=True)
class CampaignLimits:
    """How campaign groups are kept: most groups, their TTL, distinct keywords per group, the delay buckets."""

    max_groups: int
    ttl_seconds: int
    keywords_max: int
    bucket_ratio: float
    top_bucket: int

    def args(self) -> list[Arg]:
        return [self.max_groups, self.ttl_seconds, self.keywords_max, repr(self.bucket_ratio), self.top_bucket]


@dataclass(frozen=True, slots=True)
class CampaignCount:
    """What one response adds to its group: the group's key, its keyword (or ""), whether it answers a push."""

    group: str
    keyword: str
    paired: bool


ENQUEUE = (
    """
-- Queue responses not seen within the dedup window and set aside the results that could not be read, in
-- one atomic write; count them, and the queued ones in their campaign groups; make sure a drain job is waiting.
-- KEYS[1]  the queue's inbox list
-- KEYS[2..5]  the drain-job block (below)
-- KEYS[6]  ingest stats hash
-- KEYS[7]  current throughput bucket hash
-- KEYS[8]  quarantine hash (entry id -> JSON entry)
-- KEYS[9]  quarantine index (entry id scored by when it was set aside)
-- KEYS[10]  campaign index (group key scored by its last write, ms)
-- KEYS[11]  archive index (message id scored by when it was accepted, ms)
-- KEYS[12 .. 11+R]  one seen key per response
-- then, with C = 1: one campaign group hash per response, in the same order
-- then, with A = 1: per response its archive record key, in the same order
-- then, with A = 1: per quarantine note its message's archive record and events keys (QA of them)
-- ARGV[1]  dedup window, seconds
-- ARGV[2]  throughput bucket TTL, seconds
-- ARGV[3 .. 4+2N]  the drain-job block (below)
-- ARGV[5+2N]  Q, the number of quarantine entries
-- ARGV[6+2N]  most entries the quarantine keeps (the oldest beyond it are evicted, and counted)
-- ARGV[7+2N .. 6+2N+3Q]  per quarantine entry: id, JSON, time set aside
-- ARGV[c = 7+2N+3Q]  C: 1 to count campaigns, 0 not to
-- ARGV[c+1 .. c+5]  campaign limits: most groups, group TTL (s), keywords per group, bucket ratio, top bucket
-- ARGV[c+6]  now, ms
-- ARGV[c+7]  A: 1 to archive, 0 not to
-- ARGV[c+8 .. c+10]  archive limits: most messages kept, their age (s), most evicted per call
-- ARGV[c+11]  QA, the number of quarantine notes for the archive
-- ARGV[c+12]  the queue's name, for the archive
-- ARGV[e = c+13 .. c+12+R]  one inbox entry per response, in the order of their seen keys
-- ARGV[e+R .. e+3R-1]  with C = 1: per response its keyword and 1 if paired (else 0)
-- ARGV[last QA]  the quarantine notes' lines
-- Returns one flag per response: 1 queued, 0 duplicate (seen within the window).
-- An archived response's record is `A <now> <queue> <inbox entry>` (fields split by \x1f); its events key is
-- written only by events (infobip_inbound.contract.store.archive). The index is trimmed by age (records expire by
-- their TTL) and by size, evicting at most the given number per call so one call stays short after the bound
-- is lowered; evicted records and their events are deleted by name (prefix + id), like the campaign groups.
"""
    + _ENSURE_DRAIN_JOB
    + _CAMPAIGN_GROUPS
    + _ARCHIVE
    + """
local ttl = tonumber(ARGV[1])
local first_seen = 12
local q_at = 5 + 2 * tonumber(ARGV[4])
local nq = tonumber(ARGV[q_at])
local c = q_at + 2 + 3 * nq
local counting = ARGV[c] == '1'
local now = tonumber(ARGV[c + 6])
local archiving = ARGV[c + 7] == '1'
local archive_age = tonumber(ARGV[c + 9])
local nqa = tonumber(ARGV[c + 11])
local queue = ARGV[c + 12]
local per = 1
if counting then
  per = per + 1
end
if archiving then
  per = per + 1
end
local r = (#KEYS - 11 - 2 * nqa) / per
local first_archive = first_seen + r
if counting then
  first_archive = first_archive + r
end
local first_entry = c + 13
local flags = {}
local added = 0
local groups = {}  -- campaign group key -> this call's new responses of it
local indexed = {}  -- archive index entries of this call's queued responses
local queued = {}  -- this call's new inbox entries, pushed together below (one RPUSH, not one per message)
for j = 0, r - 1 do
  if redis.call('SET', KEYS[first_seen + j], '1', 'NX', 'EX', ttl) then
    local entry = ARGV[first_entry + j]
    queued[#queued + 1] = entry
    added = added + 1
    flags[#flags + 1] = 1
    if counting then
      local at = first_entry + r + 2 * j
      tally(groups, KEYS[first_seen + r + j], ARGV[at], ARGV[at + 1])
    end
    if archiving then
      archive_accepted(indexed, KEYS[first_archive + j], entry, now, queue, archive_age)
    end
  else
    flags[#flags + 1] = 0
    if archiving then
      archive_duplicate(KEYS[first_archive + j], ARGV[first_entry + j], now, archive_age)
    end
  end
end
for first = 1, added, 1000 do  -- in slices: Lua's unpack is bounded
  redis.call('RPUSH', KEYS[1], unpack(queued, first, math.min(added, first + 999)))
end
if archiving then
  index_accepted(KEYS[11], indexed)
  local first_line = #ARGV - nqa + 1
  for j = 0, nqa - 1 do
    local at = first_archive + r + 2 * j
    archive_note(KEYS[11], KEYS[at], KEYS[at + 1], ARGV[first_line + j], now, archive_age)
  end
  if added + nqa > 0 then
    trim_archive(KEYS[11], now, archive_age, tonumber(ARGV[c + 8]), tonumber(ARGV[c + 10]))
  end
end
if counting and added > 0 then
  count_groups(KEYS[10], groups, now, tonumber(ARGV[c + 2]), tonumber(ARGV[c + 3]), tonumber(ARGV[c + 4]),
    tonumber(ARGV[c + 5]))
  trim_groups(KEYS[10], now, tonumber(ARGV[c + 2]), tonumber(ARGV[c + 1]))
end
if nq > 0 then
  local new = 0
  for j = 0, nq - 1 do
    local at = q_at + 2 + 3 * j
    new = new + redis.call('HSET', KEYS[8], ARGV[at], ARGV[at + 1])  -- the same result again replaces its entry
    redis.call('ZADD', KEYS[9], ARGV[at + 2], ARGV[at])
  end
  redis.call('HINCRBY', KEYS[6], 'quarantined', new)
  local over = redis.call('ZCARD', KEYS[9]) - tonumber(ARGV[q_at + 1])
  if over > 0 then
    local oldest = redis.call('ZPOPMIN', KEYS[9], over)
    for k = 1, #oldest, 2 do
      redis.call('HDEL', KEYS[8], oldest[k])
    end
    redis.call('HINCRBY', KEYS[6], 'quarantine_evicted', over)
  end
end
-- Written on every call, duplicates only too: a WAIT after the call then covers what an earlier attempt wrote
-- (infobip_inbound.contract.store.replication).
redis.call('HINCRBY', KEYS[6], 'accepted', added)
redis.call('HINCRBY', KEYS[6], 'duplicates', #flags - added)
if redis.call('HINCRBY', KEYS[7], 'accepted', added) == added then
  redis.call('EXPIRE', KEYS[7], ARGV[2])  -- the bucket's first write (or nothing counted yet)
end
if #flags > added then
  redis.call('HINCRBY', KEYS[7], 'duplicates', #flags - added)
end
if added > 0 then
  ensure_drain_job(false)
end
return flags
"""
)


@dataclass(frozen=True, slots=True)
class QuarantineWrite:
    """One entry for the quarantine: its id, its JSON document and when it was set aside."""

    id: str
    json: bytes
    at: float


def enqueue(
    *,
    queue: str,
    drain_job: PreparedJob,
    message_ids: Sequence[str],
    entries: Sequence[bytes],
    dedup_ttl: int,
    quarantine: Sequence[QuarantineWrite] = (),
    quarantine_max: int = 100_000,
    counts: Sequence[CampaignCount] | None = None,
    limits: CampaignLimits | None = None,
    archive: ArchiveLimits | None = None,
    archive_notes: Sequence[ArchiveNote] = (),
    at: float | None = None,
) -> Call[list[int]]:
    """Queue `entries` (one per message id) on `queue`'s inbox and write `quarantine`, together;
    `drain_job` is pushed if none is waiting. With `counts` (one per entry) and `limits`, each queued
    response is counted in its campaign group; a duplicate is not. With `archive`, each queued response
    gets its archive record, and each of `archive_notes` is appended to its message's record."""
    if len(message_ids) != len(entries):
        raise ValueError("one inbox entry per message id")
    counted: Sequence[CampaignCount] = counts if counts is not None and limits is not None else ()
    counting = counts is not None and limits is not None
    if counting and len(counted) != len(entries):
        raise ValueError("one campaign count per inbox entry")
    at = time.time() if at is None else at
    quarantined: list[Arg] = [len(quarantine), quarantine_max]
    for write in quarantine:
        quarantined += [write.id, write.json, write.at]
    campaign: list[Arg] = [1, *limits.args()] if counting and limits else [0, 0, 0, 0, 0, 0]
    per_response: list[Arg] = []
    for count in counted:
        per_response += [count.keyword, int(count.paired)]
    notes = archive_notes if archive is not None else ()
    archived: list[Arg] = [1, *archive.args()] if archive is not None else [0, 0, 0, 0]
    archive_keys = [keys.archive_key(message_id) for message_id in message_ids] if archive is not None else []
    archive_keys += [
        key for note in notes for key in (keys.archive_key(note.message_id), keys.archive_events_key(note.message_id))
    ]
    return Call(
        ENQUEUE,
        [
            keys.inbox_key(queue),
            *_drain_job_keys(queue, drain_job),
            keys.STATS_KEY,
            keys.throughput_key(keys.throughput_bucket(at)),
            keys.QUARANTINE_KEY,
            keys.QUARANTINE_INDEX,
            keys.CAMPAIGN_INDEX,
            keys.ARCHIVE_INDEX,
            *(keys.seen_key(message_id) for message_id in message_ids),
            *(count.group for count in counted),
            *archive_keys,
        ],
        [
            dedup_ttl,
            keys.THROUGHPUT_KEEP_SECONDS,
            *_drain_job_args(drain_job),
            *quarantined,
            *campaign,
            int(at * 1000),
            *archived,
            len(notes),
            queue,
            *entries,
            *per_response,
            *(note.line for note in notes),
        ],
        _flags,
    )


RECORD_SEND = (
    """
-- Record when a bulk was sent (the first time it is recorded wins), so its responses' delays can be counted.
-- KEYS[1]  campaign index
-- KEYS[2]  the bulk's group hash
-- ARGV[1]  send time, ms
-- ARGV[2 .. 6]  campaign limits (as in ENQUEUE)
-- Returns 1 if recorded, 0 if the bulk already had a send time.
"""
    + _CAMPAIGN_GROUPS
    + """
local recorded = redis.call('HSETNX', KEYS[2], 'sent', ARGV[1])
local now = tonumber(ARGV[1])
touch_group(KEYS[1], KEYS[2], now, tonumber(ARGV[3]))
trim_groups(KEYS[1], now, tonumber(ARGV[3]), tonumber(ARGV[2]))
return recorded
"""
)


def record_send(*, bulk_id: str, limits: CampaignLimits, at: float | None = None) -> Call[int]:
    at = time.time() if at is None else at
    return Call(
        RECORD_SEND, [keys.CAMPAIGN_INDEX, keys.campaign_bulk_key(bulk_id)], [int(at * 1000), *limits.args()], int
    )


CLAIM = (
    """
-- Move up to ARGV[1] entries from the inbox to this job's batch list; if the inbox still holds entries,
-- make sure a (follow-up) drain job is waiting.
-- KEYS[1]  the queue's inbox list
-- KEYS[2..5]  the drain-job block (below), for the follow-up job
-- KEYS[6]  this job's batch list
-- ARGV[1]  claim max
-- ARGV[2]  this job's id
-- ARGV[3 .. 4+2N]  the drain-job block (below), for the follow-up job
-- Returns -1 when this job claimed before (a retry: it keeps its batch), else {pushed, entries...}: 1 if the
-- prepared follow-up job was pushed (its id is then used up), and the entries claimed, in order.
"""
    + _ENSURE_DRAIN_JOB
    + """
if redis.call('EXISTS', KEYS[6]) == 1 then
  return -1
end
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('DEL', KEYS[2])
end
local n = math.min(redis.call('LLEN', KEYS[1]), tonumber(ARGV[1]))
local claimed = {0}
if n > 0 then
  -- Three commands per claim, not one LMOVE per entry; RPUSH takes them in slices (Lua's unpack is bounded).
  local taken = redis.call('LRANGE', KEYS[1], 0, n - 1)
  redis.call('LTRIM', KEYS[1], n, -1)
  for first = 1, n, 1000 do
    redis.call('RPUSH', KEYS[6], unpack(taken, first, math.min(n, first + 999)))
  end
  for i = 1, n do
    claimed[i + 1] = taken[i]
  end
end
if redis.call('LLEN', KEYS[1]) > 0 then
  claimed[1] = ensure_drain_job(false)
end
return claimed
"""
)


@dataclass(frozen=True, slots=True)
class Claimed:
    """What one claim took: the entries now in the job's batch (None when the job holds an unfinished batch
    from an earlier delivery: that batch is handled first), and whether the prepared follow-up job was (or may
    have been) pushed: its id is then used up."""

    entries: list[bytes] | None
    followup_pushed: bool


def _claimed(reply: Any) -> Claimed:
    if not isinstance(reply, list):
        # -1 is also what the client's retry of a claim whose reply was lost sees: the first attempt may have
        # pushed the follow-up job, so its id counts as used.
        return Claimed(None, True)
    return Claimed(reply[1:], reply[0] == 1)


def claim(*, queue: str, job_id: str, claim_max: int, followup: PreparedJob) -> Call[Claimed]:
    """Claim into `batch_key(job_id)`; `followup` is pushed if entries remain and no drain job is waiting."""
    return Call(
        CLAIM,
        [keys.inbox_key(queue), *_drain_job_keys(queue, followup), keys.batch_key(job_id)],
        [claim_max, job_id, *_drain_job_args(followup)],
        _claimed,
    )


ENSURE_DRAIN = (
    """
-- The workers' safety net: make sure a drain job is waiting for a queue whose inbox, or the lane of a handler
-- that is not paused, holds entries, so neither is left unattended when its drain job failed as a whole,
-- vanished or was lost on its way to a worker, and nothing new arrives.
-- KEYS[1]  the queue's inbox list
-- KEYS[2..5]  the drain-job block (below)
-- KEYS[6]  the paused handlers hash
-- KEYS[7 .. 6+H]  the lanes of the queue's handlers
-- ARGV[1], ARGV[2]  unused (the block's positions are those of ENQUEUE and CLAIM)
-- ARGV[3 .. 4+2N]  the drain-job block (below)
-- ARGV[5+2N .. 4+2N+H]  the lanes' handler names, in the order of their keys
-- Returns 1 when it pushed a drain job for the inbox, 2 when for a lane only (a drain job running a lane does
-- not mark the queue: one more is then pushed, and finds the lane run already or runs it beside), else 0.
"""
    + _ENSURE_DRAIN_JOB
    + """
local why = 0
if redis.call('LLEN', KEYS[1]) > 0 then
  why = 1
end
local first_name = 5 + 2 * tonumber(ARGV[4])
for i = 7, #KEYS do
  if why > 0 then
    break
  end
  local name = ARGV[first_name + i - 7]
  if redis.call('LLEN', KEYS[i]) > 0 and redis.call('HEXISTS', KEYS[6], name) == 0 then
    why = 2
  end
end
if why == 0 then
  return 0
end
return ensure_drain_job(true) * why
"""
)


def ensure_drain(*, queue: str, drain_job: PreparedJob, handlers: Sequence[str] = ()) -> Call[int]:
    """Push `drain_job` if `queue`'s inbox, or the lane of one of `handlers` not paused, holds entries and no
    drain job is waiting: 1 if pushed for the inbox, 2 if for a lane, 0 if not pushed."""
    return Call(
        ENSURE_DRAIN,
        [
            keys.inbox_key(queue),
            *_drain_job_keys(queue, drain_job),
            keys.HANDLERS_PAUSED_KEY,
            *(keys.lane_key(queue, handler) for handler in handlers),
        ],
        ["", "", *_drain_job_args(drain_job), *handlers],
        int,
    )


CLAIM_LANE = """
-- Move up to ARGV[1] entries from a handler's lane to this job's batch of that lane.
-- KEYS[1]  the handler's lane list (of a queue)
-- KEYS[2]  this job's batch of the lane
-- ARGV[1]  most entries to take
-- Returns -1 when this job holds a batch of the lane already (an earlier delivery claimed it: it runs
-- first), else the entries claimed, in order (none: the lane is empty).
if redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end
local n = math.min(redis.call('LLEN', KEYS[1]), tonumber(ARGV[1]))
local claimed = {}
for i = 1, n do
  claimed[i] = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
end
return claimed
"""


def claim_lane(*, queue: str, handler: str, job_id: str, claim_max: int) -> Call[list[bytes] | None]:
    """Claim from `handler`'s lane of `queue` into `keys.lane_batch_key(job_id, handler)`; None when that batch
    exists already (it is run first)."""
    return Call(
        CLAIM_LANE,
        [keys.lane_key(queue, handler), keys.lane_batch_key(job_id, handler)],
        [claim_max],
        lambda reply: list(reply) if isinstance(reply, list) else None,
    )


# One script: a due job leaves the set and enters its queue together, so two movers never both move it.
MOVE_DUE = """
-- Move jobs whose wait has passed from a scheduled set onto their queues: our retry batches, or the jobs in
-- RQ's scheduled registry of a queue (whole-job retries waiting out their interval).
-- KEYS[1]  the scheduled set (job id scored by when it is due, unix seconds)
-- ARGV[1]  now, unix seconds
-- ARGV[2]  most jobs to move in this call
-- ARGV[3]  RQ's queue key prefix
-- ARGV[4]  RQ's job key prefix
-- ARGV[5]  RQ's set of queues
-- Returns the number of ids taken from the set.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local origin = redis.call('HGET', ARGV[4] .. id, 'origin')
  if origin then
    redis.call('HSET', ARGV[4] .. id, 'status', 'queued')
    redis.call('SADD', ARGV[5], ARGV[3] .. origin)
    redis.call('RPUSH', ARGV[3] .. origin, id)
  end
end
return #ids
"""


def move_due(*, limit: int, at: float | None = None, rq_queue: str | None = None) -> Call[int]:
    """Release due retry batches, or with `rq_queue` the due jobs of RQ's scheduled registry of that queue."""
    return Call(
        MOVE_DUE,
        [keys.SCHEDULED_KEY if rq_queue is None else keys.rq_scheduled_key(rq_queue)],
        [time.time() if at is None else at, limit, keys.RQ_QUEUE_PREFIX, keys.RQ_JOB_PREFIX, keys.RQ_QUEUES_KEY],
        int,
    )


SWEEP_FAILED = """
-- Put back to work the batches of jobs that failed for good (their whole-job retries ran out: Redis failing
-- under them for minutes, a job timeout): a job of the queue's failed registry whose batch still holds entries
-- is queued again with a fresh set of retries, up to ARGV[5] times; after that its id is returned, still in
-- the registry, for the caller to dead-letter its batch. The registry is read from a cursor (its score is when
-- the record expires, so a later failure scores no lower); the cursor stays at the first id returned, so an
-- interrupted dead-lettering is read again. A job with no batch left has nothing stranded and stays as it is.
-- KEYS[1]  RQ's failed registry of the queue
-- KEYS[2]  RQ's list of the queue
-- KEYS[3]  RQ's set of queues
-- KEYS[4]  the queue's sweep cursor (string: a registry score)
-- KEYS[5]  the sweep counts (hash: job id -> times swept)
-- ARGV[1]  RQ's job key prefix
-- ARGV[2]  the batch key prefix
-- ARGV[3]  most registry entries to read in this call
-- ARGV[4]  the whole-job retries a job queued again gets
-- ARGV[5]  most times a job is queued again
-- ARGV[6]  TTL of the sweep counts, seconds
-- Returns {jobs queued again, id to dead-letter, ...}.
local cursor = redis.call('GET', KEYS[4]) or '-inf'
local page = redis.call('ZRANGEBYSCORE', KEYS[1], cursor, '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
local requeued, reply, next_cursor, holding = 0, {0}, nil, false
for i = 1, #page, 2 do
  local id, score = page[i], page[i + 1]
  if redis.call('EXISTS', ARGV[2] .. id) == 1 then
    local swept = redis.call('HINCRBY', KEYS[5], id, 1)
    redis.call('EXPIRE', KEYS[5], tonumber(ARGV[6]))
    if swept <= tonumber(ARGV[5]) then
      redis.call('ZREM', KEYS[1], id)
      redis.call('HSET', ARGV[1] .. id, 'status', 'queued', 'retries_left', ARGV[4])
      redis.call('SADD', KEYS[3], KEYS[2])
      redis.call('RPUSH', KEYS[2], id)
      requeued = requeued + 1
    else
      reply[#reply + 1] = id
      if not holding then
        next_cursor, holding = score, true
      end
    end
  end
  if not holding then
    next_cursor = score
  end
end
if next_cursor then
  redis.call('SET', KEYS[4], next_cursor)
end
reply[1] = requeued
return reply
"""


@dataclass(frozen=True, slots=True)
class Swept:
    requeued: int
    to_dead_letter: list[str]


def sweep_failed(*, queue: str, limit: int, retries: int, max_sweeps: int, counts_ttl: int) -> Call[Swept]:
    """Queue again the failed jobs of `queue` whose batch holds entries (see SWEEP_FAILED)."""
    return Call(
        SWEEP_FAILED,
        [
            keys.rq_failed_key(queue),
            keys.rq_queue_key(queue),
            keys.RQ_QUEUES_KEY,
            keys.sweep_cursor_key(queue),
            keys.SWEEPS_KEY,
        ],
        [keys.RQ_JOB_PREFIX, keys.BATCH_PREFIX, limit, retries, max_sweeps, counts_ttl],
        lambda reply: Swept(int(reply[0]), [id_.decode() for id_ in reply[1:]]),
    )


ACQUIRE_LEASE = """
-- Take the poller lease, or extend it if this owner holds it.
-- KEYS[1]  the lease ("owner|token")
-- KEYS[2]  the fencing counter
-- ARGV[1]  owner
-- ARGV[2]  lease TTL, milliseconds
-- Returns the holder's fencing token, or 0 when another owner holds the lease.
local current = redis.call('GET', KEYS[1])
if current then
  local owner, token = string.match(current, '^(.*)|(%d+)$')
  if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(token)
  end
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
"""


def acquire_lease(*, owner: str, ttl_ms: int) -> Call[int]:
    return Call(ACQUIRE_LEASE, [keys.POLLER_LEASE_KEY, keys.POLLER_FENCE_KEY], [owner, ttl_ms], int)


RELEASE_LEASE = """
-- Give up the poller lease if this owner holds it.
-- KEYS[1]  the lease ("owner|token")
-- ARGV[1]  owner
-- Returns 1 if released, 0 if held by another owner or by none.
local current = redis.call('GET', KEYS[1])
if current and string.match(current, '^(.*)|%d+$') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def release_lease(*, owner: str) -> Call[int]:
    return Call(RELEASE_LEASE, [keys.POLLER_LEASE_KEY], [owner], int)


PACE = """
-- GCRA with no burst, by Redis' clock: may a request go now?
-- KEYS[1]  the API key's theoretical arrival time, microseconds
-- ARGV[1]  interval between requests, microseconds
-- Returns 0 when the request may go now (and takes its slot), else microseconds to wait.
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat > now then
  return tat - now
end
redis.call('SET', KEYS[1], now + interval, 'PX', math.ceil(interval / 1000) + 1000)
return 0
"""


def pace_pull(*, api_key: str, interval_us: int) -> Call[int]:
    return Call(PACE, [keys.throttle_key(api_key)], [interval_us], int)


def pace_send(*, api_key: str, interval_us: int) -> Call[int]:
    """A slot for one `POST /push/3/messages` of an API key, under a key of its own (sends do not slow pulls):
    wait the time returned, then send. Slots are reserved (RESERVE_SLOT), so concurrent senders each wait for
    their own and together keep the rate exactly; the key holds the next free time, in microseconds, as the
    GCRA of earlier releases kept it, so both read it alike."""
    return Call(RESERVE_SLOT, [keys.send_throttle_key(api_key)], [interval_us], int)


RESERVE_SLOT = """
-- A rate's next free slot, by Redis' clock: each caller takes one and waits until it. Slots follow from the
-- previous slot, not from when a caller came, so a caller that wakes late for its slot shifts nobody's
-- (the schedule does not drift with wake-up lateness); a slot is never earlier than now, so idle time
-- builds no burst.
-- KEYS[1]  the next free slot, microseconds
-- ARGV[1]  interval between slots, microseconds
-- Returns the microseconds to wait for the slot taken (0: now).
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
redis.call('SET', KEYS[1], string.format('%d', slot + interval), 'PX', math.ceil((slot + interval - now) / 1000) + 1000)
return slot - now
"""


def pace_handler(*, handler: str, interval_us: int) -> Call[int]:
    """A slot for one call of a handler, shared by every worker (its `rate_per_second`): wait the time returned."""
    return Call(RESERVE_SLOT, [keys.handler_pace_key(handler)], [interval_us], int)


RELEASE_REPLY = """
-- Remove a reply's "sending" mark if it is still this sender's: the send was refused, a retry may send.
-- KEYS[1]  the reply key of the (message, handler) pair
-- ARGV[1]  the mark this sender set
-- Returns 1 if removed, 0 if the key holds anything else (another sender's mark, a sent record).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def release_reply(*, pair: str, mark: str) -> Call[int]:
    return Call(RELEASE_REPLY, [keys.reply_key(pair)], [mark], int)


BREAKER_ADMIT = """
-- May a handler's pairs run, by its circuit breaker? By Redis' clock, in ms.
-- KEYS[1]  the handler's breaker hash (failures, open_until, probe_until)
-- ARGV[1]  cool-off, ms: how long a probe this caller takes holds off other probes
-- Returns {state, failures}: state 0 closed (run), 1 open (hold), 2 cooled off and this caller sends the one probe
-- (handler_state.Breaker).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if open_until == 0 then
  return {0, failures}
end
if open_until > now or tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0') > now then
  return {1, failures}
end
redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[1]))
return {2, failures}
"""


def breaker_admit(*, handler: str, cooloff_ms: int) -> Call[tuple[Breaker, int]]:
    """The handler's breaker state for this caller (HALF_OPEN: this caller sends the probe), and its failures."""
    return Call(
        BREAKER_ADMIT, [keys.breaker_key(handler)], [cooloff_ms], lambda reply: (Breaker(int(reply[0])), int(reply[1]))
    )


BREAKER_RECORD = """
-- Record a batch's outcomes of one handler on its breaker; open it at the threshold. By Redis' clock, in ms.
-- KEYS[1]  the handler's breaker hash
-- ARGV[1]  1 if a call succeeded (the count starts again from 0, the breaker closes), else 0
-- ARGV[2]  failures after the last success
-- ARGV[3]  consecutive failures that open the breaker
-- ARGV[4]  cool-off, ms
-- Returns 1 if the breaker is open afterwards, else 0.
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[1])
end
if tonumber(ARGV[2]) == 0 then
  return 0
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', ARGV[2])
if failures < tonumber(ARGV[3]) then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0') <= now then
  -- closed, or cooled off with a failed probe: open (again) for a cool-off
  redis.call('HSET', KEYS[1], 'open_until', now + tonumber(ARGV[4]))
  redis.call('HDEL', KEYS[1], 'probe_until')
end
return 1
"""


def breaker_record(*, handler: str, succeeded: bool, failures: int, threshold: int, cooloff_ms: int) -> Call[int]:
    return Call(BREAKER_RECORD, [keys.breaker_key(handler)], [int(succeeded), failures, threshold, cooloff_ms], int)
