"""Helpers for testing handlers: build a UserResponse or an Infobip envelope from a few fields, and run a
handler as a worker runs it (sync or async, with its `context` argument if it declares one).

    from infobip_inbound.testing import run_handler, user_response

    def test_answers_yes() -> None:
        run = run_handler(my_handler, user_response("m-1", text="SURVEY yes", keyword="SURVEY"))
        assert run.outcome == "handled"
"""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from infobip_inbound.contract.model import Source, UserResponse
from infobip_inbound.contract.settings import Settings, load_settings
from infobip_inbound.infobip.envelope import normalize, read_envelope
from infobip_inbound.runtime.logs import request_id_var
from infobip_inbound.workers.handler_api import CallContext, PermanentFailure, RetryLater, call_context
from infobip_inbound.workers.observe import current_handler
from infobip_inbound.workers.registry import Handler, HandlerFactory, build, invoke, takes_context

__all__ = [
    "CallContext",
    "HandlerRun",
    "PermanentFailure",
    "RetryLater",
    "envelope",
    "infobip_result",
    "run_handler",
    "user_response",
]


def infobip_result(message_id: str = "m-1", **fields: Any) -> dict[str, Any]:
    """One result as Infobip sends it (its field names: `cleanText`, `customPayload`, ...)."""
    result: dict[str, Any] = {
        "messageId": message_id,
        "from": f"REG-{message_id}",
        "to": "app-1",
        "applicationCode": "app-1",
        "receivedAt": "2026-01-02T03:04:05.000+0000",
        "text": "KEY hello",
        "keyword": "KEY",
    }
    result.update(fields)
    return result


def envelope(*results: dict[str, Any], pending: int = 0) -> dict[str, Any]:
    """An envelope as Infobip forwards it (and as PULL returns it) around `results`."""
    return {"results": list(results), "messageCount": len(results), "pendingMessageCount": pending}


def user_response(message_id: str = "m-1", *, source: Source = "forward", **fields: Any) -> UserResponse:
    """A UserResponse as the receiver builds it from an Infobip result; `fields` are UserResponse's own
    (`text`, `keyword`, `custom_payload`, `registration_id`, ...) and replace what the result gave."""
    body = orjson.dumps(envelope(infobip_result(message_id)))
    (normalized,) = normalize(read_envelope(body), source).responses
    response = UserResponse.model_validate_json(normalized.json)
    if not fields:
        return response
    return UserResponse.model_validate({**response.model_dump(), **fields})


@dataclass(frozen=True, slots=True)
class HandlerRun:
    """What the worker would do after this call: `handled`, `retry` (after at least `not_before_seconds`,
    while tries remain) or `dead_letter` (PermanentFailure)."""

    outcome: Literal["handled", "retry", "dead_letter"]
    error: Exception | None = None
    not_before_seconds: float = 0.0


def run_handler(
    handler: str | Handler | HandlerFactory,
    response: UserResponse,
    *,
    name: str | None = None,
    settings: Settings | None = None,
    try_number: int = 1,
    request_id: str | None = None,
    queue: str = "infobip-inbound",
) -> HandlerRun:
    """Run `handler` (a callable, a factory, or a name as routes give it) on `response` as a worker does:
    built from `settings` if it is a factory, with the context a worker gives it, awaited if async."""
    if isinstance(handler, str):
        name = name or handler
        handler = build(handler, settings or load_settings())
    elif isinstance(handler, HandlerFactory):
        handler = handler.for_settings(settings or load_settings())
    name = name or str(getattr(handler, "__name__", type(handler).__name__))
    context: CallContext | None = None
    if takes_context(handler):
        context = call_context(name, response.message_id, try_number, request_id, queue)
    handler_token = current_handler.set(name)
    request_token = request_id_var.set(request_id)
    try:
        result = invoke(handler, response, context)
        if inspect.isawaitable(result):
            asyncio.run(_wait(result))
    except PermanentFailure as exc:
        return HandlerRun("dead_letter", exc)
    except RetryLater as exc:
        return HandlerRun("retry", exc, exc.after_seconds)
    except Exception as exc:
        return HandlerRun("retry", exc)
    finally:
        request_id_var.reset(request_token)
        current_handler.reset(handler_token)
    return HandlerRun("handled")


async def _wait(awaitable: Any) -> None:
    await awaitable
