"""Handler lanes, run beside a drain job's batches: a thread per handler whose lane holds entries.

A drain batch sets the pairs of a handler that would hold the others back aside in that handler's lane
(infobip_inbound.workers.handler_flow; the lane itself: infobip_inbound.contract.store.lanes). The drain job
runs each such lane in a thread of its own while it goes on claiming from the inbox. A round claims up to
`round_size` entries from the lane into the job's batch of that lane (store.lanes.lane_batch: a re-delivered job
finds it and runs it first) and runs the handler over it as a retry batch is run: successes recorded per pair
before they count, failures retried or dead-lettered per pair, pairs held while the handler's breaker is open.
A paused handler's lane is not claimed from: its backlog waits in the lane. Once the job's budget is spent its
lanes start no new round (`stop`), and the job goes on claiming from the inbox until their rounds in flight have
ended; it then makes sure a drain job waits for what a lane still holds (scripts.ensure_drain looks at lanes as
at inboxes).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence

import redis

from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import handler_state, lanes, scripts
from infobip_inbound.contract.store.jobs import Jobs

log = logging.getLogger("infobip_inbound.worker")

RunRound = Callable[[str, list[bytes] | None], object]  # (handler, claimed entries or None: the held batch)


class Lanes:
    """The lanes one drain job runs."""

    def __init__(
        self,
        connection: redis.Redis,
        settings: Settings,
        queue: str,
        job_id: str,
        handlers: Sequence[str],
        limit: Callable[[str], int],
        seconds_per_pair: Callable[[str], float],
        run_round: RunRound,
    ) -> None:
        self._connection = connection
        self._settings = settings
        self._queue = queue
        self._job_id = job_id
        self._handlers = list(handlers)
        self._limit = limit
        self._seconds_per_pair = seconds_per_pair
        self._run_round = run_round
        self._threads: dict[str, threading.Thread] = {}
        self._stop = threading.Event()
        self._errors: list[BaseException] = []

    @property
    def running(self) -> frozenset[str]:
        """The handlers whose lane this job runs now."""
        return frozenset(name for name, thread in self._threads.items() if thread.is_alive())

    def busy(self) -> bool:
        return bool(self.running)

    def look(self) -> None:
        """Start the lane of each handler whose lane holds entries, or of which this job holds a batch already."""
        if not self._handlers:
            return
        for handler, (waiting, held) in lanes.held_by_job(
            self._connection, self._queue, self._job_id, self._handlers
        ).items():
            if waiting or held:
                self.ensure([handler], held=held)

    def ensure(self, handlers: Iterable[str], held: bool = False) -> None:
        """Run the lanes of `handlers` unless they run already (`held`: this job holds a batch of the lane); none
        once stopped (the drain job that follows runs them)."""
        if self._stop.is_set():
            return
        for handler in handlers:
            thread = self._threads.get(handler)
            if thread is not None and thread.is_alive():
                continue
            thread = threading.Thread(target=self._run, args=(handler, held), name=f"lane-{handler}"[:32], daemon=True)
            self._threads[handler] = thread
            thread.start()

    def round_size(self, handler: str) -> int:
        """Entries per round: a few calls per concurrency slot, about a quarter second of the handler's recent
        calls, or half a second of a paced handler's (a round waits for its last call, so it stays short; one
        that is too short pays a claim too often)."""
        rate = self._settings.flow_policy(handler).rate_per_second
        per_pair = self._seconds_per_pair(handler)
        size = max(
            4 * self._limit(handler),
            math.ceil(0.25 / per_pair) if per_pair > 0 else 1,
            math.ceil(rate / 2) if rate else 1,
        )
        return min(size, self._settings.worker_claim_max)

    def _run(self, handler: str, held: bool) -> None:
        try:
            if held:
                self._run_round(handler, None)
            while not self._stop.is_set() and not handler_state.is_paused(self._connection, handler):
                entries = scripts.claim_lane(
                    queue=self._queue, handler=handler, job_id=self._job_id, claim_max=self.round_size(handler)
                ).run(self._connection)
                if entries == []:
                    break
                self._run_round(handler, entries)  # None: a batch of the lane held by this job, run first
        except BaseException as exc:
            log.exception("a handler lane stopped", extra={"handler": handler, "queue": self._queue})
            self._errors.append(exc)

    def wait(self, timeout: float) -> None:
        """Wait until the lanes' rounds have ended, `timeout` seconds at most."""
        until = time.monotonic() + timeout
        for thread in list(self._threads.values()):
            thread.join(max(0.0, until - time.monotonic()))

    def stop(self) -> None:
        """Start no new round: each lane ends once its round in flight has."""
        self._stop.set()

    def close(self, jobs: Jobs) -> None:
        """Let the rounds in flight end, then make sure a drain job waits for what the lanes still hold; a lane's
        error is raised here (the job then fails, and its retry runs the lane's batch again)."""
        self.stop()
        started = bool(self._threads)
        for thread in self._threads.values():
            thread.join()
        if self._errors:
            raise self._errors[0]
        if started:
            drain = scripts.ensure_drain(queue=self._queue, drain_job=jobs.drain(self._queue), handlers=self._handlers)
            drain.run(self._connection)
