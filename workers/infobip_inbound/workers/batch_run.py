"""One run of a batch's (message, handler) pairs, in named steps: read the batch, plan its pairs, call them,
settle what did not succeed, finish.

`read` takes the batch's entries (as claimed, or read back with the pairs an earlier delivery settled), read as
this release's model; entries no release can read fail alone (infobip_inbound.workers.reading). `plan` leaves
out the pairs already settled or handled. `call` runs the pairs (infobip_inbound.workers.pair_calls), which
report to this run: each success is recorded (its handled mark and the archive's event, in one transaction)
before it counts, so a crash re-runs at most the pairs in flight; each failure is kept. Flow control
(infobip_inbound.workers.handler_flow) may hold a pair before its call, or set it aside in its handler's lane
(infobip_inbound.workers.lanes), and paces the handlers with a rate. `settle`
records the breakers' outcomes, hands held pairs and failures to batches of their own (or the dead-letter
store, infobip_inbound.workers.failed_pairs); `finish` adds the run's counts and deletes the batch, in one
round trip.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from redis import Redis
from redis.client import Pipeline

from infobip_inbound.contract.redaction import Redactor
from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import archive
from infobip_inbound.contract.store.handled import already_handled, pair_id
from infobip_inbound.contract.store.inbox import Batch
from infobip_inbound.contract.store.jobs import Jobs
from infobip_inbound.workers.failed_pairs import FailedPair, settle_failures
from infobip_inbound.workers.handler_api import PermanentFailure, RetryLater
from infobip_inbound.workers.handler_flow import FlowGate, LaneRule, Pacer
from infobip_inbound.workers.idempotency import record_success
from infobip_inbound.workers.lanes import Lanes
from infobip_inbound.workers.observe import BatchObserver
from infobip_inbound.workers.pair_calls import Pair, PairCalls
from infobip_inbound.workers.reading import Entry, read_entries


class RunContext(Protocol):
    """What a run needs of its process's context (infobip_inbound.workers.jobs.HandlerContext)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def router(self) -> Router: ...

    @property
    def jobs(self) -> Jobs: ...

    @property
    def calls(self) -> PairCalls: ...

    @property
    def redact(self) -> Redactor: ...


class BatchRun:
    """The state of one run and the steps over it; `run` takes them in order. PairCalls reports each call's
    outcome to it (`record`, `succeeded`, `failed`) and asks it before each call (`admit`, `pace`)."""

    def __init__(
        self,
        connection: Redis,
        batch: Batch,
        context: RunContext,
        *,
        handler: str | None = None,
        tries: int = 1,
        queue: str | None = None,
        observer: BatchObserver | None = None,
        lanes: Lanes | None = None,
    ) -> None:
        """`lanes`: a drain job's, which take the pairs of a handler set aside in its lane."""
        self._connection = connection
        self._batch = batch
        self._context = context
        self._handler = handler
        self._tries = tries
        self._lane_queue = queue  # a drain batch's queue: its handlers' lanes are that queue's
        self._queue = queue or context.settings.default_queue
        self._lanes = lanes
        self.observer = observer or BatchObserver()
        self._done: set[str] = set()
        self._failures: list[FailedPair] = []
        self._entries = 0
        self._skipped = 0
        self._handled = 0
        self._counting = threading.Lock()  # pool threads of concurrent sync handlers count too
        self._gate = FlowGate(context.settings, {})  # opened for the planned pairs' handlers by `call`
        self._pacer = Pacer(connection, context.settings)

    def run(self, entries: list[bytes] | None = None) -> dict[str, int]:
        """`entries`: the batch's content when the caller has just claimed it (a fresh batch has no pair done
        yet); else it is read, with the pairs done in an earlier delivery."""
        pending = self.plan(self.read(entries))
        self.call(pending)
        outcome = self.settle()
        self.finish()
        return outcome

    # The steps.

    def read(self, entries: list[bytes] | None) -> list[Entry]:
        raw_entries, self._done = (entries, set()) if entries is not None else self._batch.load(self._connection)
        self._entries = len(raw_entries)
        # Entries any release queued, read as this one's model; those that cannot be are dead-lettered.
        readable, self._failures = read_entries(raw_entries)
        for entry in readable:
            self.observer.brought_by(entry.response.message_id, entry.request_id, entry.trace)
        self.observer.claimed(len(readable))  # a claim span when tracing is on
        return readable

    def plan(self, readable: list[Entry]) -> list[Pair]:
        """The pairs to call: every entry's handlers (this batch's one, or its routes'), less those settled in an
        earlier delivery of this batch or handled by any batch."""
        router = self._context.router
        plan = [(self._handler,) if self._handler else router.destination(e.response).handlers for e in readable]
        pairs = [
            [(pair_id(entry.response.message_id, name), name) for name in names]
            for entry, names in zip(readable, plan, strict=True)
        ]
        done = self._done
        done |= already_handled(self._connection, [pair for row in pairs for pair, _ in row if pair not in done])
        self._failures = [failure for failure in self._failures if failure.pair not in done]
        pending: list[Pair] = []
        for entry, row in zip(readable, pairs, strict=True):
            for pair, name in row:
                if pair in done:
                    self._skipped += 1
                else:
                    pending.append(Pair(pair, entry.raw, entry.response, name, self._tries))
        return pending

    def call(self, pending: list[Pair]) -> None:
        settings, calls = self._context.settings, self._context.calls
        rule = None
        if self._lanes is not None and self._lane_queue is not None:
            lane_after = settings.worker_lane_after_ms / 1000
            rule = LaneRule(self._lane_queue, self._lanes.running, calls.seconds_per_pair, lane_after)
        self._gate = FlowGate.open(self._connection, settings, Counter(pair.handler for pair in pending), rule)
        calls.run(pending, self)

    def settle(self) -> dict[str, int]:
        """Breakers' outcomes, held pairs, lanes and failures handed on; the run's outcome."""
        context = self._context
        held = self._gate.finish(self._connection, context.jobs, self._batch, self._queue, self._tries)
        outcome = {"responses": self._entries, "handled": self._handled, "skipped": self._skipped}
        if held:
            outcome["held"] = held
        if self._gate.aside:
            outcome["aside"] = len(self._gate.aside)
        if self._lanes is not None:
            self._lanes.ensure(self._gate.lanes_to_run())
        if self._failures:
            outcome |= settle_failures(
                self._connection, context.settings, context.jobs, self._batch, self._queue, self._tries, self._failures
            )
            self.observer.retrying(outcome["retrying"])
        return outcome

    def finish(self) -> None:
        """The run's counts and the batch's removal, in one round trip."""
        pipe = self._connection.pipeline(transaction=False)
        self.observer.finish(pipe)
        self._batch.delete(pipe)
        pipe.execute()

    # What PairCalls asks and reports.

    def admit(self, pair: Pair) -> bool:
        """Right before each call: False holds the pair (flow control)."""
        return self._gate.admit(pair)

    def pace(self, handler: str) -> None:
        self._pacer.wait(handler)

    async def pace_async(self, handler: str) -> None:
        await self._pacer.wait_async(handler)

    def record(self, pairs: Sequence[Pair]) -> None:
        """Record `pairs` as succeeded, in one transaction, before they count: a crash re-runs at most the pairs
        in flight."""
        settings = self._context.settings

        # Built once: a retry of the write after a lost answer appends the same lines, which the archive's
        # reader shows once (archive.parse).
        lines = [
            (pair.response.message_id, archive.handler_line(pair.handler, archive.HANDLED, pair.tries))
            for pair in pairs
        ]

        def events(pipe: Pipeline) -> None:
            for message_id, line in lines:
                archive.note(pipe, settings, message_id, line)

        record_success(self._connection, [pair.pair for pair in pairs], settings.dedup_window_seconds, events)

    def succeeded(self, pair: Pair) -> None:
        """Count a pair whose success is recorded."""
        self._gate.outcome(pair.handler, ok=True)
        with self._counting:
            self._handled += 1

    def failed(self, pair: Pair, exc: Exception, trace: str) -> None:
        self._gate.outcome(pair.handler, ok=False)
        redact = self._context.redact
        response = pair.response
        self._failures.append(
            FailedPair(
                pair.pair,
                response.message_id,
                response.application_code,
                pair.handler,
                pair.raw,
                redact(f"{type(exc).__name__}: {exc}"),
                redact(trace),
                isinstance(exc, PermanentFailure),
                exc.after_seconds if isinstance(exc, RetryLater) else 0.0,
            )
        )
