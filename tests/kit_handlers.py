"""Handlers using the handler kit (PermanentFailure, RetryLater, the context argument), for the tests."""

from __future__ import annotations

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.workers.handler_api import CallContext, PermanentFailure, RetryLater

seen: list[tuple[str, int, str | None, str, str]] = []


def permanent(response: UserResponse) -> None:
    raise PermanentFailure(f"{response.message_id} can never be handled")


def later(response: UserResponse) -> None:
    raise RetryLater("busy", after_seconds=120)


def with_context(response: UserResponse, context: CallContext) -> None:
    context.log.info("seen")
    seen.append((response.message_id, context.try_number, context.request_id, context.queue, context.handler))


async def async_with_context(response: UserResponse, *, context: CallContext) -> None:
    seen.append((response.message_id, context.try_number, context.request_id, context.queue, context.handler))
