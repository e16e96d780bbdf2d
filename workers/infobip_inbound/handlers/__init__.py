"""Everything a handler author imports: the model a handler receives, the context it may ask for, the
exceptions that steer its retries, replies to the responding device, and the helpers that test a handler.

    from infobip_inbound.handlers import CallContext, PermanentFailure, UserResponse, run_handler, user_response

The names here are the public interface; the modules they are defined in may move.
"""

from __future__ import annotations

from infobip_inbound.contract.model import SCHEMA_VERSION, Source, UserResponse
from infobip_inbound.testing import HandlerRun, envelope, infobip_result, run_handler, user_response
from infobip_inbound.workers.handler_api import CallContext, PermanentFailure, RetryLater
from infobip_inbound.workers.reply import CannotReply, NotInHandler, Reply, areply, reply

__all__ = [
    "SCHEMA_VERSION",
    "CallContext",
    "CannotReply",
    "HandlerRun",
    "NotInHandler",
    "PermanentFailure",
    "Reply",
    "RetryLater",
    "Source",
    "UserResponse",
    "areply",
    "envelope",
    "infobip_result",
    "reply",
    "run_handler",
    "user_response",
]
