"""Every Redis key the service reads or writes: the only place its `inbound:` key names are spelled.

RQ's own keys (job hashes, queue lists, the set of queues) come from RQ's constants, never retyped: the
scripts here write RQ jobs directly, so they must name exactly the keys RQ reads.
"""

from __future__ import annotations

import hashlib
import time

from rq.job import Job
from rq.queue import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

# RQ's keys.
RQ_JOB_PREFIX: str = Job.redis_job_namespace_prefix  # hash per job
RQ_QUEUE_PREFIX: str = Queue.redis_queue_namespace_prefix  # list of waiting job ids per queue
RQ_QUEUES_KEY: str = Queue.redis_queues_keys  # set of the queues' list keys


def rq_job_key(job_id: str) -> str:
    return RQ_JOB_PREFIX + job_id


def rq_queue_key(queue: str) -> str:
    """RQ's list of the queue's waiting job ids."""
    return RQ_QUEUE_PREFIX + queue


def rq_scheduled_key(queue: str) -> str:
    """RQ's sorted set of the queue's jobs waiting for a retry interval, scored by when they are due."""
    return ScheduledJobRegistry.key_template.format(queue)


# Queued responses (infobip_inbound.contract.store): receiver and poller write, workers claim.
SEEN_PREFIX = "inbound:seen:"  # string per message id, for the dedup window
INBOX_PREFIX = "inbound:inbox:"  # list per queue of inbox entries (infobip_inbound.contract.store.entries)
BATCH_PREFIX = "inbound:batch:"  # list per job of the entries it claimed
DONE_SUFFIX = ":done"  # set per batch of its settled (message, handler) pairs
STATS_KEY = "inbound:stats:ingest"  # hash: accepted, duplicates, quarantined, quarantine_evicted
SCHEDULED_KEY = "inbound:retry:scheduled"  # sorted set: retry batch job id scored by when it is due

# The `redis_stream` handler's default stream (INBOUND_REDIS_STREAM__KEY): read by consumers outside the service.
RESPONSES_STREAM_KEY = "inbound:responses"


def seen_key(message_id: str) -> str:
    return SEEN_PREFIX + message_id


def inbox_key(queue: str) -> str:
    return INBOX_PREFIX + queue


def pending_key(queue: str) -> str:
    """The queue's "a drain job is waiting" mark: that job's id."""
    return INBOX_PREFIX + queue + ":pending"


def batch_key(job_id: str) -> str:
    return BATCH_PREFIX + job_id


def done_key(batch_key: str) -> str:
    return batch_key + DONE_SUFFIX


# Handler lanes (infobip_inbound.contract.store.lanes): a handler that lags behind the others on a queue.
LANE_PREFIX = "inbound:lane:"  # list per (queue, handler) of inbox entries whose pair for that handler waits


def lane_key(queue: str, handler: str) -> str:
    return LANE_PREFIX + queue + "\x1f" + handler


def lane_batch_key(job_id: str, handler: str) -> str:
    """The batch one drain job claimed from a handler's lane (its done-set is keys.done_key of it)."""
    return BATCH_PREFIX + job_id + "\x1flane\x1f" + handler


# Workers.
SWEEP_CURSOR_PREFIX = "inbound:sweep:cursor:"  # string per queue: the failed-registry score the sweep has read to
SWEEPS_KEY = "inbound:sweep:counts"  # hash: job id -> times its batch was put back to work by the sweep
# sorted set: "<schema_version> <worker process>" scored by its last announce (readers.py): which versions the
# running workers read, so writers of a new version can wait for them.
READERS_KEY = "inbound:readers"
WORKERS_SEEN_KEY = "inbound:workers:seen"  # hash: worker process -> JSON of what it runs (store.announcements)
JOB_LEASE_PREFIX = "inbound:lease:job:"  # string per running job, renewed by its worker
HANDLED_PREFIX = "inbound:handled:"  # string per (message, handler) pair that succeeded
REPLY_PREFIX = "inbound:reply:"  # string per (message, handler) pair: its reply, "sending" or sent (JSON)
SEND_THROTTLE_PREFIX = "inbound:throttle:send:"  # string per API key: the send pacing's theoretical arrival time


def rq_failed_key(queue: str) -> str:
    """RQ's sorted set of the queue's jobs that failed for good, scored by when the record expires."""
    return FailedJobRegistry.key_template.format(queue)


def sweep_cursor_key(queue: str) -> str:
    return SWEEP_CURSOR_PREFIX + queue


def job_lease_key(job_id: str) -> str:
    return JOB_LEASE_PREFIX + job_id


def handled_key(pair: str) -> str:
    return HANDLED_PREFIX + pair


def reply_key(pair: str) -> str:
    return REPLY_PREFIX + pair


def send_throttle_key(api_key: str) -> str:
    """The send pacing key of an API key (sends have their own limit, apart from pulls), named by a digest."""
    return SEND_THROTTLE_PREFIX + hashlib.sha256(api_key.encode()).hexdigest()[:16]


# Dead letters (dead_letter.py).
DLQ_KEY = "inbound:dlq"  # hash: entry id -> JSON entry
DLQ_INDEX = "inbound:dlq:index"  # sorted set: entry id scored by failed_at

# Quarantine (quarantine.py): results that could not be made into a UserResponse.
QUARANTINE_KEY = "inbound:quarantine"  # hash: entry id -> JSON entry (the result as sent, why, whence)
QUARANTINE_INDEX = "inbound:quarantine:index"  # sorted set: entry id scored by when it was set aside

# The archive (archive.py): every accepted response with its journey, for look-up and replay.
ARCHIVE_PREFIX = "inbound:archive:m:"  # string per message id: its acceptance line (queue, request, response)
ARCHIVE_EVENTS_PREFIX = "inbound:archive:e:"  # string per message id: its later events, one line each
ARCHIVE_INDEX = "inbound:archive"  # sorted set: message id scored by when it was accepted (ms); the size bound
REPLAY_PREFIX = "inbound:replay:"  # string per (replay, message, handler): the pair was queued by that replay


def archive_key(message_id: str) -> str:
    return ARCHIVE_PREFIX + message_id


def archive_events_key(message_id: str) -> str:
    """Apart from the acceptance line: APPEND grows a string with room to spare, so only the small one grows."""
    return ARCHIVE_EVENTS_PREFIX + message_id


def replay_key(replay_id: str, pair: str) -> str:
    return REPLAY_PREFIX + replay_id + ":" + pair


# Throughput buckets (throughput.py).
THROUGHPUT_PREFIX = "inbound:stats:t:"  # hash per bucket, named by its start (unix seconds)
THROUGHPUT_BUCKET_SECONDS = 10
THROUGHPUT_KEEP_SECONDS = 3900  # a bucket's TTL: a little over the hour that `status` reads


def throughput_bucket(at: float | None = None) -> int:
    """Start of the bucket holding `at` (default now)."""
    return int(time.time() if at is None else at) // THROUGHPUT_BUCKET_SECONDS * THROUGHPUT_BUCKET_SECONDS


def throughput_key(bucket_start: int) -> str:
    return THROUGHPUT_PREFIX + str(bucket_start)


# Campaign counts (campaigns.py): responses per bulk id, and per application for those
# without one; written by the enqueue script, so duplicates are never counted.
CAMPAIGN_PREFIX = "inbound:campaign:"  # hash per group: totals, keyword counts, delay buckets, send time
CAMPAIGN_BULK_PREFIX = CAMPAIGN_PREFIX + "bulk:"  # group of the responses to one bulk (a campaign)
CAMPAIGN_APP_PREFIX = CAMPAIGN_PREFIX + "app:"  # group of an application's responses without a bulk id
# Responses of new groups past what one enqueue call may create (scripts.CAMPAIGN_NEW_GROUPS_PER_CALL).
CAMPAIGN_OTHER_KEY = CAMPAIGN_PREFIX + "other:*"
CAMPAIGN_INDEX = "inbound:campaigns"  # sorted set: group key scored by its last write (ms); the retention bound
CAMPAIGN_STATS_PREFIX = "inbound:campaign-stats:"  # string per bulk: Infobip's statistics (JSON), cached


def campaign_bulk_key(bulk_id: str) -> str:
    return CAMPAIGN_BULK_PREFIX + bulk_id


def campaign_app_key(application_code: str) -> str:
    return CAMPAIGN_APP_PREFIX + application_code


def campaign_stats_key(bulk_id: str) -> str:
    return CAMPAIGN_STATS_PREFIX + bulk_id


# Poller.
PULL_RAW_KEY = "inbound:pull:raw"  # hash: batch id -> raw answer body, until processed
# hash: batch id -> raw body; written by versions before the quarantine, moved into it by the poller at start
PULL_UNPARSEABLE_KEY = "inbound:pull:unparseable"
POLLER_STATUS_KEY = "inbound:poller:status"  # hash: poller owner -> JSON status, for `status` and probes
POLLER_LEASE_KEY = "inbound:poller:lease"  # string "owner|token": the leading poller
POLLER_FENCE_KEY = "inbound:poller:fence"  # counter: the last fencing token handed out
THROTTLE_PREFIX = "inbound:throttle:"  # string per API key: the GCRA's theoretical arrival time


def throttle_key(api_key: str) -> str:
    """The pull pacing key of an API key, named by a digest: the API key itself never goes to Redis."""
    return THROTTLE_PREFIX + hashlib.sha256(api_key.encode()).hexdigest()[:16]


# Flow control per handler (infobip_inbound.workers.handler_flow).
HANDLERS_PAUSED_KEY = "inbound:handlers:paused"  # hash: handler name -> when it was paused (unix seconds)
BREAKER_PREFIX = "inbound:breaker:"  # hash per handler: failures (consecutive), open_until, probe_until (unix ms)
HANDLER_PACE_PREFIX = "inbound:pace:handler:"  # string per handler: the GCRA's theoretical arrival time


def breaker_key(handler: str) -> str:
    return BREAKER_PREFIX + handler


def handler_pace_key(handler: str) -> str:
    return HANDLER_PACE_PREFIX + handler
