"""Flow control per handler, shared by every worker through Redis: pause/resume, a circuit breaker, a rate.

A batch reads its handlers' state once (`FlowGate.open`): a paused handler, or one whose breaker is open,
has its pairs held; a breaker that has cooled off lets one probe through (one worker takes it, by script)
and holds the rest. While the batch runs, each handler's consecutive failures are counted on top of the
count in Redis, so a breaker trips mid-batch rather than after the whole batch failed. Held pairs become a
batch of their own that runs that handler after `hold_seconds`, with the tries they had: holding spends
none. `finish` records the batch's outcomes on each breaker (infobip_inbound.contract.store.scripts).

In a drain batch (the lane rule), a paused handler's pairs, and those of a handler that would hold the others
back, are set aside in that handler's lane instead (infobip_inbound.contract.store.lanes): a handler lags when
its lane already holds entries or this job runs its lane (its pairs queue up behind them), or when its pairs
left in the batch would take `worker_lane_after_ms` longer than those of the other handlers still running in
it, by each one's recent time per pair. The fastest handler of a batch never lags by this rule, nor the only
one. The pairs of a breaker that is open are held as before.

A handler's `rate_per_second` is paced in Redis under a key of the handler's (Redis' clock): each call
reserves the next slot of the handler's schedule, one script call, and sleeps until it. Slots follow each
other at the rate's interval whenever callers wait, so a call that wakes late does not push the later ones
back: over any stretch of steady work the calls match the rate, whichever process takes which slot.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from redis.client import Pipeline

from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import archive, handler_state, lanes, scripts
from infobip_inbound.contract.store.handler_state import Breaker
from infobip_inbound.contract.store.inbox import Batch
from infobip_inbound.contract.store.jobs import Jobs, schedule_batch
from infobip_inbound.workers.idempotency import persistently
from infobip_inbound.workers.pair_calls import Pair


@dataclass(slots=True)
class _Handler:
    paused: bool
    breaker: Breaker  # HALF_OPEN: this batch may send the one probe
    threshold: int | None
    failures: int  # consecutive, in Redis at the start plus this batch's since its last success
    probe_sent: bool = False
    succeeded: bool = False
    new_failures: int = 0  # this batch's failures since its last success
    lagging: bool = False  # its pairs go to its lane (the lane rule)
    left: int = 0  # its pairs not yet admitted, held or set aside


@dataclass(frozen=True, slots=True)
class LaneRule:
    """When a drain batch sets a handler's pairs aside in its lane (the module's docstring)."""

    queue: str
    running: frozenset[str]  # handlers whose lane this job runs now
    seconds_per_pair: Callable[[str], float]  # a handler's recent time per pair in this process
    after_seconds: float  # the most a handler may add to a batch shared with other handlers


@dataclass(slots=True)
class FlowGate:
    settings: Settings
    handlers: dict[str, _Handler]
    held: list[Pair] = field(default_factory=list)
    aside: list[Pair] = field(default_factory=list)  # set aside in their handlers' lanes
    rule: LaneRule | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(
        cls, connection: redis.Redis, settings: Settings, counts: Counter[str], rule: LaneRule | None = None
    ) -> FlowGate:
        """The state of the handlers of a batch's pending pairs (`counts`: pairs per handler), read once (with a
        drain batch's lane rule, the lengths of their lanes in the same round trip)."""
        ordered = sorted(counts)
        if not ordered:
            return cls(settings, {}, rule=rule)
        pipe = connection.pipeline(transaction=False)
        handler_state.add_paused(pipe, ordered)
        if rule is not None:
            lanes.add_lengths(pipe, rule.queue, ordered)
        paused_reply, *waiting = pipe.execute()
        handlers = {}
        for index, (name, paused) in enumerate(zip(ordered, handler_state.read_paused(paused_reply), strict=True)):
            policy = settings.flow_policy(name)
            state, failures = Breaker.CLOSED, 0
            if policy.breaker_failures is not None and not paused:
                cooloff_ms = round(policy.breaker_cooloff_seconds * 1000)
                state, failures = scripts.breaker_admit(handler=name, cooloff_ms=cooloff_ms).run(connection)
            handler = _Handler(paused, state, policy.breaker_failures, failures, left=counts[name])
            handler.lagging = rule is not None and (name in rule.running or waiting[index] > 0)
            handlers[name] = handler
        return cls(settings, handlers, rule=rule)

    def admit(self, pair: Pair) -> bool:
        """Whether `pair` may run now; if not it is held, or set aside in its handler's lane. Called right before
        each call."""
        with self._lock:
            state = self.handlers[pair.handler]
            state.left -= 1
            rule = self.rule
            if rule is not None and state.paused:
                self.aside.append(pair)
                return False
            if state.paused or state.breaker == Breaker.OPEN:
                admitted = False
            elif state.breaker == Breaker.HALF_OPEN:
                admitted, state.probe_sent = not state.probe_sent, True
            else:
                admitted = state.threshold is None or state.failures < state.threshold
                if admitted and rule is not None and self._lags(pair.handler, state, rule):
                    self.aside.append(pair)
                    return False
            if not admitted:
                self.held.append(pair)
            return admitted

    def _lags(self, name: str, state: _Handler, rule: LaneRule) -> bool:
        if state.lagging:
            return True
        # Its time left in the batch against the longest of the other handlers still running in it (none: it
        # holds nobody back).
        others = [
            other.left * rule.seconds_per_pair(n)
            for n, other in self.handlers.items()
            if n != name and not other.lagging and not other.paused
        ]
        if others:
            state.lagging = (state.left + 1) * rule.seconds_per_pair(name) > max(others) + rule.after_seconds
        return state.lagging

    def lanes_to_run(self) -> list[str]:
        """The handlers of the batch that lag and are not paused: their lanes hold (or will hold) work."""
        return [name for name, state in self.handlers.items() if state.lagging and not state.paused]

    def outcome(self, handler: str, ok: bool) -> None:
        with self._lock:
            state = self.handlers[handler]
            if ok:
                state.succeeded, state.failures, state.new_failures = True, 0, 0
            else:
                state.failures += 1
                state.new_failures += 1

    def finish(self, connection: redis.Redis, jobs: Jobs, batch: Batch, queue: str, tries: int) -> int:
        """Record the outcomes on each breaker; hand the held pairs to batches of their own. Returns how many
        pairs were held."""
        for name, state in self.handlers.items():
            if state.threshold is not None and (state.succeeded or state.new_failures):
                cooloff_ms = round(self.settings.flow_policy(name).breaker_cooloff_seconds * 1000)
                record = scripts.breaker_record(
                    handler=name,
                    succeeded=state.succeeded,
                    failures=state.new_failures,
                    threshold=state.threshold,
                    cooloff_ms=cooloff_ms,
                )
                persistently(lambda record=record: record.run(connection))  # type: ignore[misc]
        if self.held:
            hold_pairs(connection, self.settings, jobs, batch, queue, tries, self.held)
        if self.aside:
            aside = [lanes.LanePair(pair.pair, pair.handler, pair.raw) for pair in self.aside]
            ttl = self.settings.dedup_window_seconds

            def held(pipe: Pipeline) -> None:  # each pair's journey tells why it waits
                for pair in self.aside:
                    why = "paused" if self.handlers[pair.handler].paused else "lagging"
                    line = archive.handler_line(pair.handler, archive.HELD, pair.tries, why)
                    archive.note(pipe, self.settings, pair.response.message_id, line)

            persistently(lambda: lanes.set_aside(connection, queue, batch, aside, ttl, held))
        return len(self.held)


def hold_pairs(
    connection: redis.Redis, settings: Settings, jobs: Jobs, batch: Batch, queue: str, tries: int, held: list[Pair]
) -> None:
    """Each handler's held pairs become a batch that runs that handler after its hold time, with the same
    tries; they are settled in this batch in the same transaction."""
    by_handler: dict[str, list[Pair]] = defaultdict(list)
    for pair in held:
        by_handler[pair.handler].append(pair)

    def writes(pipe: Pipeline) -> None:
        for handler, pairs in by_handler.items():
            delay = settings.flow_policy(handler).hold_seconds
            schedule_batch(pipe, jobs, queue, handler, tries - 1, [pair.raw for pair in pairs], delay)

    # The new batches and their jobs are not idempotent: settle_once writes them once, even when the write is
    # tried again after its answer was lost.
    settled = [pair.pair for pair in held]
    persistently(lambda: batch.settle_once(connection, settled, settings.dedup_window_seconds, writes))


class Pacer:
    """Waits for a handler's rate slot before each call (the handlers with `rate_per_second`)."""

    def __init__(self, connection: redis.Redis, settings: Settings) -> None:
        self._connection = connection
        self._settings = settings

    def _call(self, handler: str) -> scripts.Call[int] | None:
        rate = self._settings.flow_policy(handler).rate_per_second
        return None if rate is None else scripts.pace_handler(handler=handler, interval_us=max(1, round(1e6 / rate)))

    def wait(self, handler: str) -> None:
        call = self._call(handler)
        if call is None:
            return
        if (wait_us := call.run(self._connection)) > 0:
            time.sleep(wait_us / 1e6)

    async def wait_async(self, handler: str) -> None:
        call = self._call(handler)
        if call is None:
            return
        if (wait_us := call.run(self._connection)) > 0:
            await asyncio.sleep(wait_us / 1e6)
