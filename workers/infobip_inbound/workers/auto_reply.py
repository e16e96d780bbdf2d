"""The built-in `auto_reply` handler: answers each response with a push back to its device.

What it answers is configured per route (`auto_reply_routes`, by route name; other routes use `auto_reply`):
the template of the response's keyword, else the default template (none: no reply). Templates are formatted
with `str.format_map` over the response's fields as text (`{keyword}`, `{clean_text}`, `{registration_id}`,
...); a field that is missing or null formats empty, and settings refuse anything but plain field names.

Each call handles one response, so each reply is its own `POST /push/3/messages` (the endpoint
takes many messages per request, but batching them would tie the idempotency of one reply to others'). The
sends are paced across every worker (`reply_requests_per_second`), and each goes through
infobip_inbound.workers.reply: at most one reply per response, across retries.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import orjson

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import AutoReply, ReplyTemplate, Settings
from infobip_inbound.workers.registry import SettingsFactory
from infobip_inbound.workers.reply import reply

log = logging.getLogger("infobip_inbound.handlers.auto_reply")


class TemplateFields(dict[str, str]):
    """The response's fields as text, for str.format_map: a missing one is empty."""

    def __missing__(self, key: str) -> str:
        return ""


def template_fields(response: UserResponse) -> TemplateFields:
    return TemplateFields({name: _text(value) for name, value in response.model_dump(mode="json").items()})


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def choose(config: AutoReply, response: UserResponse) -> ReplyTemplate | None:
    """The template for `response`: its keyword's (case-insensitive), else the default."""
    keyword = (response.keyword or "").casefold()
    if keyword:
        for name, template in config.keywords.items():
            if name.casefold() == keyword:
                return template
    return config.default


class AutoReplyHandler(SettingsFactory):
    """`auto_reply`, built from the worker's settings."""

    name = "auto_reply"

    def for_settings(self, settings: Settings) -> Callable[[UserResponse], None]:
        return _AutoReply(settings)


class _AutoReply:
    """The handler itself. Each call waits for its send slot, so one call at a time would leave the slots its
    own send takes unused: it runs enough calls at once to keep its pace (`default_concurrency`, used unless
    INBOUND_HANDLER_FLOW sets one), about half a second of sends in flight; the pacing keeps it from exceeding
    the rate."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._router = Router.from_settings(settings)
        self.default_concurrency = max(2, min(32, math.ceil(settings.reply_requests_per_second / 2) + 1))

    def __call__(self, response: UserResponse) -> None:
        settings = self._settings
        route = self._router.destination(response).route
        config = settings.auto_reply_routes.get(route, settings.auto_reply)
        template = choose(config, response)
        if template is None:
            return
        if not response.registration_id:
            log.warning("no registration_id: nothing to reply to", extra={"message_id": response.message_id})
            return
        fields = template_fields(response)
        reply(
            response,
            template.text.format_map(fields),
            title=template.title.format_map(fields) if template.title else None,
            custom_payload=config.custom_payload,
            settings=settings,
        )


auto_reply_handler = AutoReplyHandler()
