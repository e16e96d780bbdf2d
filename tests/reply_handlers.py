"""Handlers of the reply tests, referenced as `tests.reply_handlers:<name>`."""

from __future__ import annotations

from collections.abc import Callable

from rq import get_current_job

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.contract.settings import Settings
from infobip_inbound.workers.builtin import auto_reply_handler
from infobip_inbound.workers.reply import areply

FAILED_PREFIX = "test:failed-after-reply:"


def fails_this_once(message_id: str) -> bool:
    """Every fourth message, the first time only (marked in the worker's Redis, shared by all processes)."""
    job = get_current_job()
    assert job is not None
    return int(message_id) % 4 == 0 and bool(job.connection.set(FAILED_PREFIX + message_id, b"1", nx=True))


class AutoReplyThenFail:
    """`auto_reply`, then, for some messages, a failure after the reply went out: their retry must not reply
    again."""

    def for_settings(self, settings: Settings) -> Callable[[UserResponse], None]:
        auto_reply = auto_reply_handler.for_settings(settings)

        def handler(response: UserResponse) -> None:
            auto_reply(response)
            if fails_this_once(response.message_id):
                raise RuntimeError(f"failing after replying to {response.message_id}")

        return handler


auto_reply_then_fail = AutoReplyThenFail()


async def async_reply_then_fail(response: UserResponse) -> None:
    """An async handler replying with `areply`, failing once after the reply for some messages."""
    await areply(response, f"Got it: {response.text}")
    if fails_this_once(response.message_id):
        raise RuntimeError(f"failing after replying to {response.message_id}")
