"""The flow state of each handler in Redis, shared by every worker: paused or not, and its circuit breaker.

Written by `infobip-inbound handlers pause|resume` and by the workers (infobip_inbound.workers.handler_flow);
read by the CLI, `status`, the status page and /metrics.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any

import redis
from redis.client import Pipeline

from infobip_inbound.contract.store.keys import BREAKER_PREFIX, HANDLERS_PAUSED_KEY, breaker_key


class Breaker(IntEnum):
    """A circuit breaker's state: the numbers are what the breaker script answers (scripts.breaker_admit), the
    labels what the CLI, `status` and the pages show."""

    CLOSED = 0  # calls go through
    OPEN = 1  # cooling off: the handler's pairs are held
    HALF_OPEN = 2  # cooled off: one probe goes through (the caller the script answered 2 sends it)

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


@dataclass(frozen=True, slots=True)
class HandlerState:
    name: str
    paused_at: float | None  # unix seconds
    breaker: str  # a Breaker's label: "closed", "open" or "half-open"
    failures: int  # consecutive failures counted by the breaker
    open_until: float | None  # unix seconds

    @property
    def state(self) -> str:
        return (
            "paused"
            if self.paused_at is not None
            else f"breaker {self.breaker}"
            if self.breaker != Breaker.CLOSED.label
            else "running"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"state": self.state}


def pause(connection: redis.Redis, handler: str) -> bool:
    """Pause `handler`: its pairs wait, spending no tries. False if it was paused already."""
    return bool(connection.hsetnx(HANDLERS_PAUSED_KEY, handler, repr(time.time())))


def is_paused(connection: redis.Redis, handler: str) -> bool:
    return bool(connection.hexists(HANDLERS_PAUSED_KEY, handler))


def resume(connection: redis.Redis, handler: str) -> bool:
    """Resume `handler`; its held pairs run at their next look. False if it was not paused."""
    return bool(connection.hdel(HANDLERS_PAUSED_KEY, handler))


def add_paused(pipe: Pipeline, names: list[str]) -> None:
    """Ask, in `pipe`, whether each of `names` is paused: one reply, read by `read_paused` (a batch reads its
    handlers' flags in the round trip that reads their lanes)."""
    pipe.hmget(HANDLERS_PAUSED_KEY, names)


def read_paused(reply: list[bytes | None]) -> list[bool]:
    return [value is not None for value in reply]


def paused(connection: redis.Redis, names: list[str]) -> list[bool]:
    """Whether each of `names` is paused, in one round trip (a batch reads its handlers' once)."""
    return [value is not None for value in connection.hmget(HANDLERS_PAUSED_KEY, names)] if names else []


def read(connection: redis.Redis, names: Iterable[str] = ()) -> list[HandlerState]:
    """The state of `names` and of every handler with a state in Redis, by name."""
    paused: dict[bytes, bytes] = connection.hgetall(HANDLERS_PAUSED_KEY)  # type: ignore[assignment]
    breakers = {key.decode().removeprefix(BREAKER_PREFIX) for key in connection.scan_iter(BREAKER_PREFIX + "*")}
    every = sorted(set(names) | {name.decode() for name in paused} | breakers)
    pipe = connection.pipeline(transaction=False)
    for name in every:
        pipe.hmget(breaker_key(name), ["failures", "open_until"])
    now_ms = time.time() * 1000
    states = []
    for name, (failures, open_until) in zip(every, pipe.execute(), strict=True):
        until = float(open_until) if open_until else 0.0
        breaker = Breaker.CLOSED if not until else Breaker.OPEN if until > now_ms else Breaker.HALF_OPEN
        paused_at = paused.get(name.encode())
        states.append(
            HandlerState(
                name,
                float(paused_at) if paused_at else None,
                breaker.label,
                int(failures or 0),
                until / 1000 if until else None,
            )
        )
    return states
