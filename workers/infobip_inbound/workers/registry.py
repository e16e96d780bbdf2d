"""Handler lookup: by name in the `infobip_inbound.handlers` entry-point group, or as `module:function`.

A handler is a plain callable taking one UserResponse; it may be sync or async. A handler that also declares a
parameter named `context` gets a CallContext (try number, request id, queue, a logger); its signature is read
once, when the handler is resolved. A handler that needs the worker's settings (the built-in `jsonl`) is a
HandlerFactory instead: the registry builds it once, from the settings the worker was started with.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from importlib.metadata import entry_points
from typing import Any, ClassVar, NamedTuple, NoReturn, Protocol, cast, runtime_checkable

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.contract.settings import Settings
from infobip_inbound.workers.handler_api import CallContext, call_context

ENTRY_POINT_GROUP = "infobip_inbound.handlers"

# References to the built-ins from before the single `infobip_inbound` package: route configs may still name
# them, though the top-level `workers` module is no longer installed.
RENAMED = {
    "workers.builtin:log_handler": "infobip_inbound.workers.builtin:log_handler",
    "workers.builtin:jsonl_handler": "infobip_inbound.workers.builtin:jsonl_handler",
}

# Sync or async (an awaitable result is awaited); with a `context` parameter when the handler wants one.
Handler = (
    Callable[[UserResponse], Any]
    | Callable[[UserResponse], Awaitable[Any]]
    | Callable[[UserResponse, CallContext], Any]
)

log = logging.getLogger("infobip_inbound.worker")
_warned: set[str] = set()


@runtime_checkable
class HandlerFactory(Protocol):
    """A handler built from the worker's settings."""

    def for_settings(self, settings: Settings) -> Handler: ...


class SettingsFactory(ABC):
    """The base of a built-in output: a HandlerFactory named `name`, built once per worker process from its
    settings. The factory itself is no handler: calling it says how it is built."""

    name: ClassVar[str]

    @abstractmethod
    def for_settings(self, settings: Settings) -> Handler: ...

    def __call__(self, response: UserResponse) -> NoReturn:
        raise TypeError(f"{self.name} is built from the worker's settings: HandlerRegistry(names, settings)")


class HandlerNotFound(LookupError):
    """A handler name is neither an entry point nor an importable module:function."""


def _current_name(name: str) -> str:
    renamed = RENAMED.get(name)
    if renamed is None:
        return name
    if name not in _warned:  # once per process and name
        _warned.add(name)
        message = f"handler {name!r} is deprecated: name it {renamed!r} (or by its entry point)"
        warnings.warn(message, DeprecationWarning, stacklevel=3)
        log.warning(message)
    return renamed


def resolve(name: str) -> Handler | HandlerFactory:
    name = _current_name(name)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP, name=name):
        handler = entry_point.load()
        break
    else:
        module_name, sep, attribute = name.partition(":")
        if not sep or not module_name or not attribute:
            known = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
            raise HandlerNotFound(
                f"handler {name!r}: not an entry point of {ENTRY_POINT_GROUP} ({', '.join(known)}) "
                "nor a module:function reference"
            )
        try:
            handler = importlib.import_module(module_name)
            for part in attribute.split("."):
                handler = getattr(handler, part)
        except (ImportError, AttributeError) as exc:
            raise HandlerNotFound(f"handler {name!r}: {exc}") from exc
    if not callable(handler) and not isinstance(handler, HandlerFactory):
        raise HandlerNotFound(f"handler {name!r} is not callable")
    return handler  # type: ignore[no-any-return]


def build(name: str, settings: Settings) -> Handler:
    """The callable a worker runs for `name`: the handler itself, or what its factory builds."""
    handler = resolve(name)
    return handler.for_settings(settings) if isinstance(handler, HandlerFactory) else handler


def takes_context(handler: Handler) -> bool:
    """Whether `handler` declares a `context` parameter (read once per handler, not per call)."""
    try:
        parameters = inspect.signature(handler).parameters
    except (TypeError, ValueError):  # a callable without a readable signature takes the response only
        return False
    parameter = parameters.get("context")
    return parameter is not None and parameter.kind is not inspect.Parameter.POSITIONAL_ONLY


def invoke(handler: Handler, response: UserResponse, context: CallContext | None) -> Any:
    """Call `handler` the way its signature asks (`takes_context`); an async handler's awaitable is returned."""
    call = cast(Callable[..., Any], handler)
    return call(response) if context is None else call(response, context=context)


class _Resolved(NamedTuple):
    handler: Handler
    takes_context: bool
    is_async: bool
    concurrency: int | None  # the handler's own `default_concurrency`, if it declares one


class HandlerRegistry:
    """Resolved handlers of one worker process, and the event loop its async handlers run on."""

    def __init__(self, names: Iterable[str], settings: Settings) -> None:
        self._settings = settings
        self._handlers: dict[str, _Resolved] = {}
        for name in sorted(set(names)):
            self._resolved(name)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_pid = 0
        self._loop_lock = threading.Lock()

    def _resolved(self, name: str) -> _Resolved:
        resolved = self._handlers.get(name)
        if resolved is None:
            handler = build(name, self._settings)
            # What the signature says is read once, here, not per call.
            is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(type(handler).__call__)
            concurrency = getattr(handler, "default_concurrency", None)
            concurrency = concurrency if isinstance(concurrency, int) and concurrency >= 1 else None
            resolved = self._handlers[name] = _Resolved(handler, takes_context(handler), is_async, concurrency)
        return resolved

    def handler(self, name: str) -> Handler:
        return self._resolved(name).handler

    def default_concurrency(self, name: str) -> int | None:
        """Calls in flight the handler asks for unless INBOUND_HANDLER_FLOW sets its `concurrency`."""
        return self._resolved(name).concurrency

    def is_async(self, name: str) -> bool:
        """Whether `name` is an async handler (a coroutine function, or an object whose __call__ is one)."""
        return self._resolved(name).is_async

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The process's one event loop, running in a thread of its own from first use (after a fork: a pool's
        processes each start one). The drain job and its handler lanes run calls on it at the same time, each
        from its own thread (infobip_inbound.workers.pair_calls)."""
        with self._loop_lock:
            if self._loop is None or self._loop_pid != os.getpid():
                loop = _new_loop()
                threading.Thread(target=loop.run_forever, name="handler-loop", daemon=True).start()
                self._loop, self._loop_pid = loop, os.getpid()
            return self._loop

    def _invoke(
        self, name: str, response: UserResponse, try_number: int, request_id: str | None, queue: str | None
    ) -> Any:
        handler, with_context, _, _ = self._resolved(name)
        if not with_context:
            return invoke(handler, response, None)
        context = call_context(name, response.message_id, try_number, request_id, queue or self._settings.default_queue)
        return invoke(handler, response, context)

    def call(
        self,
        name: str,
        response: UserResponse,
        *,
        try_number: int = 1,
        request_id: str | None = None,
        queue: str | None = None,
    ) -> None:
        result = self._invoke(name, response, try_number, request_id, queue)
        if inspect.isawaitable(result):  # a sync-looking handler returned an awaitable: run it on the loop
            asyncio.run_coroutine_threadsafe(_awaited(result), self.loop).result()

    async def acall(
        self,
        name: str,
        response: UserResponse,
        *,
        try_number: int = 1,
        request_id: str | None = None,
        queue: str | None = None,
    ) -> None:
        """Run the handler as a task of the running loop."""
        result = self._invoke(name, response, try_number, request_id, queue)
        if inspect.isawaitable(result):
            await result


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (uvicorn[standard] brings it on Linux and macOS): its I/O costs a fraction of
    asyncio's per call, which is most of a worker's CPU with I/O-bound handlers; else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
