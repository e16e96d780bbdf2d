"""Handler lookup: by name in the `infobip_inbound.handlers` entry-point group, or as `module:function`.

A handler is a plain callable taking one UserResponse; it may be sync or async.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Awaitable, Callable, Iterable
from importlib.metadata import entry_points
from typing import Any

from infobip_inbound.contract.model import UserResponse

ENTRY_POINT_GROUP = "infobip_inbound.handlers"

Handler = Callable[[UserResponse], Any] | Callable[[UserResponse], Awaitable[Any]]


class HandlerNotFound(LookupError):
    """A handler name is neither an entry point nor an importable module:function."""


def resolve(name: str) -> Handler:
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
    if not callable(handler):
        raise HandlerNotFound(f"handler {name!r} is not callable")
    return handler  # type: ignore[no-any-return]


class HandlerRegistry:
    """Resolved handlers of one worker process, and the event loop its async handlers run on."""

    def __init__(self, names: Iterable[str]) -> None:
        self._handlers = {name: resolve(name) for name in sorted(set(names))}
        self._loop: asyncio.AbstractEventLoop | None = None

    def call(self, name: str, response: UserResponse) -> None:
        handler = self._handlers.get(name)
        if handler is None:
            handler = self._handlers[name] = resolve(name)
        result = handler(response)
        if inspect.isawaitable(result):
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(result)
