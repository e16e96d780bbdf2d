"""Running a batch's (message, handler) pairs: concurrently up to each handler's limit, or one after the other.

Async handlers run as tasks on the worker process's one event loop, at most `concurrency` calls of a handler
at once (HandlerFlow; 32 unless configured). A sync handler configured above 1 runs in a thread pool of that
size (one pool per handler and process); other sync handlers run one call at a time on the worker's thread,
as they always have, after the concurrent pairs. Right before each call, `admit` may hold the pair and `pace`
waits for the handler's rate slot (infobip_inbound.workers.handler_flow). Each call runs in its own copy of
the context, so the context variables set around it (request id, current handler) are its own.

A pair's success is recorded (`record`) before it counts (`succeeded`) and before its call's slot frees, so a
crash re-runs at most the pairs in flight. The successes of async calls are recorded in groups (_Grouped): one
transaction per group instead of one per pair, written off the event loop while the other calls go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

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
Succeeded = Callable[[Pair], None]  # counts a pair whose success is recorded
Failed = Callable[[Pair, Exception, str], None]
Admit = Callable[[Pair], bool]  # asked right before each call: False holds the pair (flow control)


class Pace(Protocol):
    """Waits until a call of the handler may go (its rate limit)."""

    def wait(self, handler: str) -> None: ...

    async def wait_async(self, handler: str) -> None: ...


def _always(pair: Pair) -> bool:
    return True


class _NoPace:
    def wait(self, handler: str) -> None:
        return None

    async def wait_async(self, handler: str) -> None:
        return None


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

    def limit(self, handler: str) -> int:
        """Calls of `handler` in flight at once in this process."""
        limit = self._limits.get(handler)
        if limit is None:
            limit = self._limits[handler] = self._settings.flow_policy(handler).limit(self._registry.is_async(handler))
        return limit

    def _concurrent(self, handler: str) -> bool:
        return self._registry.is_async(handler) or self.limit(handler) > 1

    def run(
        self,
        pairs: Sequence[Pair],
        observer: BatchObserver,
        record: Record,
        succeeded: Succeeded,
        failed: Failed,
        admit: Admit = _always,
        pace: Pace | None = None,
    ) -> None:
        pace = pace or _NoPace()
        concurrent = [p for p in pairs if self._concurrent(p.handler)]
        if concurrent:
            loop = self._registry.loop
            run = self._run_concurrently(concurrent, observer, record, succeeded, failed, admit, pace)
            main = loop.create_task(run)
            try:
                loop.run_until_complete(main)
            except BaseException:
                # A job timeout or a forced stop: leave no task of this batch behind on the loop.
                main.cancel()
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(main)
                raise
        for pair in pairs:
            if not self._concurrent(pair.handler):
                self._call(pair, observer, record, succeeded, failed, admit, pace)

    async def _run_concurrently(
        self,
        pairs: Sequence[Pair],
        observer: BatchObserver,
        record: Record,
        succeeded: Succeeded,
        failed: Failed,
        admit: Admit,
        pace: Pace,
    ) -> None:
        loop = asyncio.get_running_loop()
        gates = {name: asyncio.Semaphore(self.limit(name)) for name in {p.handler for p in pairs}}
        grouped = _Grouped(record)

        async def one(pair: Pair) -> None:
            async with gates[pair.handler]:
                if not self._registry.is_async(pair.handler):
                    context = contextvars.copy_context()
                    pool = self._pool(pair.handler)
                    call = self._call
                    args = (pair, observer, record, succeeded, failed, admit, pace)
                    await loop.run_in_executor(pool, context.run, call, *args)
                    return
                if not admit(pair):
                    return
                await pace.wait_async(pair.handler)
                try:
                    await observer.acall(self._registry, pair.handler, pair.response, pair.tries)
                except Exception as exc:
                    failed(pair, exc, traceback.format_exc())
                    return
                await grouped.record(pair)
                succeeded(pair)

        tasks = [asyncio.ensure_future(one(pair)) for pair in pairs]  # each copies the context
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            grouped.cancel()

    def _call(
        self,
        pair: Pair,
        observer: BatchObserver,
        record: Record,
        succeeded: Succeeded,
        failed: Failed,
        admit: Admit,
        pace: Pace,
    ) -> None:
        if not admit(pair):
            return
        pace.wait(pair.handler)
        try:
            observer.call(self._registry, pair.handler, pair.response, pair.tries)
        except Exception as exc:
            failed(pair, exc, traceback.format_exc())
            return
        record([pair])
        succeeded(pair)

    def _pool(self, handler: str) -> ThreadPoolExecutor:
        pool = self._pools.get(handler)
        if pool is None:
            pool = self._pools[handler] = ThreadPoolExecutor(
                max_workers=self.limit(handler), thread_name_prefix=f"handler-{handler}"
            )
        return pool
