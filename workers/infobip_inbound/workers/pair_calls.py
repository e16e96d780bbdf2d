"""Running a batch's (message, handler) pairs: concurrently up to each handler's limit, or one after the other.

Async handlers run as tasks on the worker process's one event loop (running in a thread of its own), at most
`concurrency` calls of a handler at once in the process (HandlerFlow; 32 unless configured). A sync handler
configured above 1 runs in a thread pool of that size (one pool per handler and process); other sync handlers
run one call at a time on the thread running the batch, after the concurrent pairs. The limits hold per
process across the batches running at once (a drain job's batch and its handler lanes,
infobip_inbound.workers.lanes). Each call asks its run (infobip_inbound.workers.batch_run) right before it
goes: `admit` may hold the pair or set it aside and `pace` waits for the handler's rate slot. Each call runs
in its own copy of the context, so the context variables set around it (request id, current handler) are its
own.

Each handler's time per pair (its pacing wait and its call, averaged over its recent calls in this process)
is kept, so a batch shared with other handlers can tell the one that would hold it back (`seconds_per_pair`).

A pair's success is recorded (the run's `record`) before it counts (`succeeded`) and before its call's slot frees, so a
crash re-runs at most the pairs in flight. The successes of async calls are recorded in groups (_Grouped): one
transaction per group instead of one per pair, written off the event loop while the other calls go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
import traceback
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.contract.settings import Settings
from infobip_inbound.workers.observe import BatchObserver
from infobip_inbound.workers.registry import HandlerRegistry


@dataclass(frozen=True, slots=True)
class Pair:
    pair: str
    raw: bytes
    response: UserResponse
    handler: str
    tries: int = 1  # the try this call is (for a handler's context argument)


Record = Callable[[Sequence[Pair]], None]  # records pairs as succeeded, in one transaction


class Run(Protocol):
    """What a batch's calls ask of its run and report to it (infobip_inbound.workers.batch_run.BatchRun)."""

    @property
    def observer(self) -> BatchObserver: ...

    def admit(self, pair: Pair) -> bool:
        """Asked right before each call: False holds the pair or sets it aside (flow control)."""
        ...

    def pace(self, handler: str) -> None:
        """Waits until a call of the handler may go (its rate limit)."""
        ...

    async def pace_async(self, handler: str) -> None: ...

    def record(self, pairs: Sequence[Pair]) -> None:
        """Records pairs as succeeded, in one transaction."""
        ...

    def succeeded(self, pair: Pair) -> None:
        """Counts a pair whose success is recorded."""
        ...

    def failed(self, pair: Pair, exc: Exception, trace: str) -> None: ...


class _Grouped:
    """The successes of one batch's async calls, recorded in groups: those that come in while a group is being
    written (in a thread: the loop goes on running calls) make the next group. Each call awaits its group's
    write, so its success is recorded before it counts and before it frees its slot."""

    def __init__(self, record: Record) -> None:
        self._record = record
        self._next: list[tuple[Pair, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, pair: Pair) -> None:
        loop = asyncio.get_running_loop()
        written = loop.create_future()
        self._next.append((pair, written))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write())
        await written

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        while self._next:
            group, self._next = self._next, []
            try:
                await loop.run_in_executor(None, self._record, [pair for pair, _ in group])
            except BaseException as exc:
                # Redis gone for good, or the batch cancelled: every waiting call gets the error, as one
                # recording its own success would.
                unwritten, self._next = group + self._next, []
                for _, written in unwritten:
                    if written.done():
                        continue
                    if isinstance(exc, asyncio.CancelledError):
                        written.cancel()
                    else:
                        written.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return
            for _, written in group:
                if not written.done():
                    written.set_result(None)

    def cancel(self) -> None:
        if self._writer is not None:
            self._writer.cancel()


class PairCalls:
    """The calls of one worker process: its handlers' limits and the thread pools of its concurrent sync ones."""

    def __init__(self, registry: HandlerRegistry, settings: Settings) -> None:
        self._registry = registry
        self._settings = settings
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._limits: dict[str, int] = {}
        self._gates: dict[str, asyncio.Semaphore] = {}  # the async limits, used on the loop's thread only
        self._serial: dict[str, threading.Lock] = {}  # the one call at a time of each plain sync handler
        self._seconds: dict[str, float] = {}  # recent time per pair, moving average

    def seconds_per_pair(self, handler: str) -> float:
        """The handler's recent time per pair in this process at its concurrency (0 before its first call)."""
        return self._seconds.get(handler, 0.0) / self.limit(handler)

    def _took(self, handler: str, since: float) -> None:
        took = time.perf_counter() - since
        before = self._seconds.get(handler)
        self._seconds[handler] = took if before is None else before + (took - before) / 8

    def limit(self, handler: str) -> int:
        """Calls of `handler` in flight at once in this process."""
        limit = self._limits.get(handler)
        if limit is None:
            policy = self._settings.flow_policy(handler)
            if policy.concurrency is None and (own := self._registry.default_concurrency(handler)) is not None:
                limit = own
            else:
                limit = policy.limit(self._registry.is_async(handler))
            self._limits[handler] = limit
        return limit

    def _concurrent(self, handler: str) -> bool:
        return self._registry.is_async(handler) or self.limit(handler) > 1

    def run(self, pairs: Sequence[Pair], run: Run) -> None:
        concurrent = [p for p in pairs if self._concurrent(p.handler)]
        if concurrent:
            self._on_loop(self._run_concurrently(concurrent, run))
        for pair in pairs:
            if not self._concurrent(pair.handler):
                self._call(pair, run, self._serial_lock(pair.handler))

    def _serial_lock(self, handler: str) -> threading.Lock:
        lock = self._serial.get(handler)
        if lock is None:
            lock = self._serial.setdefault(handler, threading.Lock())
        return lock

    def _on_loop(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` on the process's loop, in this thread's context, until it ends."""
        loop = self._registry.loop
        context = contextvars.copy_context()
        ended = threading.Event()
        started: list[asyncio.Task[None]] = []

        def start() -> None:
            task = loop.create_task(work, context=context)
            task.add_done_callback(lambda _: ended.set())
            started.append(task)

        loop.call_soon_threadsafe(start)
        try:
            ended.wait()
        except BaseException:
            # A job timeout or a forced stop: leave no task of this batch behind on the loop.
            loop.call_soon_threadsafe(lambda: started[0].cancel())  # runs after start: the loop keeps their order
            ended.wait(timeout=30)
            raise
        started[0].result()

    async def _run_concurrently(self, pairs: Sequence[Pair], run: Run) -> None:
        loop = asyncio.get_running_loop()
        for name in {p.handler for p in pairs}:
            if name not in self._gates:
                self._gates[name] = asyncio.Semaphore(self.limit(name))
        gates = self._gates
        grouped = _Grouped(run.record)
        observer = run.observer

        async def one(pair: Pair) -> None:
            async with gates[pair.handler]:
                if not self._registry.is_async(pair.handler):
                    context = contextvars.copy_context()
                    await loop.run_in_executor(self._pool(pair.handler), context.run, self._call, pair, run)
                    return
                if not run.admit(pair):
                    return
                since = time.perf_counter()
                await run.pace_async(pair.handler)
                try:
                    await observer.acall(self._registry, pair.handler, pair.response, pair.tries)
                except Exception as exc:
                    self._took(pair.handler, since)
                    run.failed(pair, exc, traceback.format_exc())
                    return
                self._took(pair.handler, since)
                await grouped.record(pair)
                run.succeeded(pair)

        tasks = [asyncio.ensure_future(one(pair)) for pair in pairs]  # each copies the context
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            grouped.cancel()

    def _call(self, pair: Pair, run: Run, serial: threading.Lock | None = None) -> None:
        """One call on this thread; `serial`: the handler's one-call-at-a-time lock, taken once the pair is
        admitted (a pair set aside never waits for the handler's call in another batch)."""
        if not run.admit(pair):
            return
        with serial or contextlib.nullcontext():
            since = time.perf_counter()
            run.pace(pair.handler)
            try:
                run.observer.call(self._registry, pair.handler, pair.response, pair.tries)
            except Exception as exc:
                self._took(pair.handler, since)
                run.failed(pair, exc, traceback.format_exc())
                return
            self._took(pair.handler, since)
        run.record([pair])
        run.succeeded(pair)

    def _pool(self, handler: str) -> ThreadPoolExecutor:
        pool = self._pools.get(handler)
        if pool is None:
            pool = self._pools[handler] = ThreadPoolExecutor(
                max_workers=self.limit(handler), thread_name_prefix=f"handler-{handler}"
            )
        return pool
