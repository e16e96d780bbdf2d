"""The fast tier: which tests start processes of their own, found from their code rather than kept in a list.

A test is `slow` (left out of `make test-fast`) when its function, one of its fixtures, or a function or class of
the tests package that either of them reaches by name, names something that starts a process: a receiver,
worker, simulator or CLI run, a redis-server, a subprocess. The session's own Redis server does not count.
A test that starts nothing but runs at scale (a million messages) carries `@pytest.mark.slow` itself."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from types import CodeType, FunctionType
from typing import Any

import pytest

STARTERS = frozenset(
    {"Role", "ReceiverProcess", "SimulatorProcess", "RedisServer", "run_cli", "subprocess", "Popen", "multiprocessing"}
)
SHARED_FIXTURES = frozenset({"redis_server", "redis_url", "redis_client", "base_env"})
_PACKAGE = "tests"


def _code_names(code: CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _code_names(const)
    return names


def _functions(value: Any) -> Iterable[FunctionType]:
    """The test package's functions behind a name: the function itself, or a class's methods."""
    if isinstance(value, FunctionType) and (value.__module__ or "").split(".")[0] == _PACKAGE:
        yield value
    elif inspect.isclass(value) and (value.__module__ or "").split(".")[0] == _PACKAGE:
        for member in vars(value).values():
            yield from _functions(getattr(member, "__func__", member))


class ProcessFinder:
    """Remembers each function's answer: fixtures and helpers are shared by many tests."""

    def __init__(self) -> None:
        self._known: dict[FunctionType, bool] = {}

    def starts_processes(self, function: FunctionType) -> bool:
        if function not in self._known:
            self._known[function] = False  # a cycle ends here; the first caller has the answer
            names = _code_names(function.__code__)
            found = bool(names & STARTERS) or any(
                self.starts_processes(reached)
                for name in names
                for reached in _functions(function.__globals__.get(name))
                if reached is not function
            )
            self._known[function] = found
        return self._known[function]

    def mark(self, item: pytest.Item) -> None:
        function = getattr(item, "function", None)
        functions = [inspect.unwrap(function)] if function is not None else []
        definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
        for name, fixture_defs in definitions.items():
            if name not in SHARED_FIXTURES:
                functions.extend(inspect.unwrap(d.func) for d in fixture_defs)
        if any(isinstance(f, FunctionType) and self.starts_processes(f) for f in functions):
            item.add_marker(pytest.mark.slow)
