"""Batches left behind by jobs that failed for good, put back to work by the workers' maintenance.

A drain or batch job whose whole-job retries ran out (Redis failing under it for minutes, a job timeout) is
in RQ's failed registry, and the batch it had claimed stays in `inbound:batch:<job id>`. The sweep queues such
a job again with a fresh set of retries (its re-run handles that batch first, skipping the pairs already
settled), at most MAX_SWEEPS times; after that the batch's entries are dead-lettered, each with the handler
name empty (`dlq retry` sends it through the routes again), and the batch removed, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from infobip_inbound.contract.model import UnreadableResponse, read_response
from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import archive, dead_letter, keys, scripts
from infobip_inbound.contract.store.entries import decode_entry

MAX_SWEEPS = 5  # times one job is queued again before its batch is dead-lettered
PAGE = 500  # failed-registry entries read per call
COUNTS_TTL_SECONDS = 7 * 24 * 3600

ROUTED = dead_letter.ROUTED


@dataclass(frozen=True, slots=True)
class SweepOutcome:
    requeued: int = 0  # jobs queued again
    dead_lettered: int = 0  # entries dead-lettered, from batches swept MAX_SWEEPS times


class StuckBatches:
    """Sweeps the queues' failed registries (owns SWEEPS_KEY and the sweep cursors)."""

    def __init__(self, connection: redis.Redis, settings: Settings) -> None:
        self._connection = connection
        self._settings = settings

    def sweep(self, queue: str) -> SweepOutcome:
        swept = scripts.sweep_failed(
            queue=queue,
            limit=PAGE,
            retries=self._settings.job_retries,
            max_sweeps=MAX_SWEEPS,
            counts_ttl=COUNTS_TTL_SECONDS,
        ).run(self._connection)
        dead = sum(self._dead_letter(queue, job_id) for job_id in swept.to_dead_letter)
        return SweepOutcome(swept.requeued, dead)

    def _dead_letter(self, queue: str, job_id: str) -> int:
        batch = keys.batch_key(job_id)
        with self._connection.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(batch)  # type: ignore[no-untyped-call]  # a worker still on it changes it
                    entries: list[bytes] = pipe.lrange(batch, 0, -1)  # type: ignore[assignment]
                    pipe.multi()
                    for raw in entries:
                        entry = _dead_pair(queue, raw, job_id)
                        dead_letter.add(pipe, entry)
                        line = archive.handler_line(ROUTED, archive.DEAD, MAX_SWEEPS, f"{entry.id}: {entry.error}")
                        archive.note(pipe, self._settings, entry.message_id, line)
                    pipe.delete(batch, keys.done_key(batch))
                    pipe.hdel(keys.SWEEPS_KEY, job_id)
                    pipe.execute()
                    return len(entries)
                except redis.WatchError:
                    continue


def _dead_pair(queue: str, raw: bytes, job_id: str) -> dead_letter.DeadPair:
    _, document = decode_entry(raw)
    try:
        response = read_response(document)
        message_id, application_code = response.response.message_id, response.response.application_code
    except UnreadableResponse:
        message_id, application_code = f"unreadable-{dead_letter.entry_id(document.decode(errors='replace'), '')}", ""
    return dead_letter.DeadPair.build(
        message_id=message_id,
        handler=ROUTED,
        application_code=application_code,
        queue=queue,
        tries=MAX_SWEEPS,
        error=f"StuckBatch: job {job_id} failed for good {MAX_SWEEPS + 1} times; its batch is dead-lettered",
        traceback="",
        response=document,
    )
