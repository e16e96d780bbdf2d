"""Replying to the user who sent a response: a push back to that device (`registration_id`, Infobip's `from`)
of the response's application, at most once per (message, handler).

A handler is retried after a failure, redriven from the dead-letter store, or re-run after its worker
crashed; none of these may push the same reply twice. So each reply is recorded in Redis under its
(message, handler) pair (`inbound:reply:<pair>`, TTL = the dedup window), around the send:

1. before the HTTP call, a "sending" mark, taken with SET NX: whoever holds it is the only sender;
2. after Infobip accepted it, the "sent" record with Infobip's bulkId and messageId.

A later call for the same pair that finds "sent" returns the recorded answer and sends nothing. One that finds
"sending" meets the one window no record can close: the process died (or lost its answer) between the send and
the record, so whether Infobip took the push is unknown. It does not send again (at most once: a user gets
no reply rather than two) and logs it; `reply_at_least_once` chooses the other way (a second reply is then
possible, a missing one is not). Where it is certain that Infobip did not act, the mark is removed so a retry
sends: Infobip refused the request (a 4xx; the client has already retried 429), the connection was never
made, or the request could not be built. A 5xx, a timeout or a connection dropped after the request went out
leaves the mark (the client's error says `in_doubt`, and it did not send again): Infobip may have sent it.

The Redis writes of the record are retried through a short Redis outage (`persistently`): the push went out,
and losing its record would re-open the window. Sends are paced per API key across every worker process
(`reply_requests_per_second`): each send reserves the next slot of the key's schedule in Redis and sleeps until
it, so concurrent calls (auto_reply runs several) keep the rate without exceeding it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import redis
from rq import get_current_job

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import replies, scripts
from infobip_inbound.contract.store.handled import pair_id
from infobip_inbound.infobip.client import InfobipClient, InfobipError, InfobipTransportError
from infobip_inbound.infobip.push import PushRequest, push_to_registration
from infobip_inbound.runtime.redis_client import sync_client
from infobip_inbound.workers.idempotency import persistently
from infobip_inbound.workers.jobs import current_context
from infobip_inbound.workers.observe import current_handler

log = logging.getLogger("infobip_inbound.reply")

Status = Literal["sent", "already_sent", "in_doubt"]


class CannotReply(ValueError):
    """The response names no device to push to (no `registration_id`). Permanent: a retry cannot help."""


class NotInHandler(RuntimeError):
    """reply() was called outside a handler run by a worker, and no handler name was given."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What became of a reply: `sent` now, `already_sent` by an earlier try (Infobip's ids as recorded then),
    or `in_doubt`: an earlier try may have sent it and this one did not send (at most once)."""

    status: Status
    bulk_id: str | None = None
    message_id: str | None = None


class _Sender:
    """One process's Infobip client and pacing for one Settings (built on first use, after any fork)."""

    def __init__(self, settings: Settings) -> None:
        self.client = InfobipClient.from_settings(settings)
        assert settings.infobip_api_key is not None  # from_settings refuses a missing key
        interval_us = int(1_000_000 / settings.reply_requests_per_second)
        self.pace = scripts.pace_send(api_key=settings.infobip_api_key.get_secret_value(), interval_us=interval_us)
        self._settings = settings
        self._redis: redis.Redis | None = None

    def connection(self) -> redis.Redis:
        job = get_current_job()
        if job is not None:
            return job.connection
        if self._redis is None:
            self._redis = sync_client(self._settings)
        return self._redis

    def wait_turn(self, connection: redis.Redis) -> None:
        """Reserve the next send slot of the API key and sleep until it."""
        if (wait_us := self.pace.run(connection)) > 0:
            time.sleep(wait_us / 1e6)


_senders: dict[tuple[int, int], _Sender] = {}


def _sender(settings: Settings) -> _Sender:
    key = (os.getpid(), id(settings))
    sender = _senders.get(key)
    if sender is None:
        sender = _senders[key] = _Sender(settings)
    return sender


def reply(
    response: UserResponse,
    text: str,
    *,
    title: str | None = None,
    custom_payload: dict[str, Any] | None = None,
    handler: str | None = None,
    settings: Settings | None = None,
) -> Reply:
    """Push `text` back to the device that sent `response`, unless this handler already replied to it.

    `handler` and `settings` default to the calling handler's name and the worker's settings. Raises
    CannotReply for a response without `registration_id`, and the client's InfobipError or
    InfobipTransportError when the send fails (the handler fails; its retry sends only if this one did not).
    """
    if not response.registration_id:
        raise CannotReply(f"response {response.message_id} has no registration_id: there is no device to reply to")
    handler = handler or current_handler.get()
    if handler is None:
        raise NotInHandler("reply() outside a handler run by a worker: pass handler=<name> (and settings=)")
    settings = settings or current_context().settings
    request = push_to_registration(
        response.application_code, response.registration_id, text, title=title, custom_payload=custom_payload
    )
    sender = _sender(settings)
    connection = sender.connection()
    pair = pair_id(response.message_id, handler)
    fields = {"message_id": response.message_id, "application_code": response.application_code, "handler": handler}
    ttl = settings.dedup_window_seconds
    mark = orjson.dumps({"state": "sending", "token": uuid.uuid4().hex, "since": time.time()})
    if not replies.take(connection, pair, mark, ttl):
        earlier = _earlier(connection, pair)
        if earlier is not None:
            if earlier.status == "already_sent":
                log.info("reply already sent; not sending again", extra={**fields, "bulk_id": earlier.bulk_id})
                return earlier
            doubt = "reply may have been sent by an earlier try"
            if not settings.reply_at_least_once:
                log.warning(f"{doubt}; not sending again (at most once)", extra=fields)
                return earlier
            log.warning(f"{doubt}; sending again (at least once)", extra=fields)
        replies.write(connection, pair, mark, ttl)
    return _send(sender, connection, request, pair, mark, ttl, fields)


async def areply(
    response: UserResponse,
    text: str,
    *,
    title: str | None = None,
    custom_payload: dict[str, Any] | None = None,
    handler: str | None = None,
    settings: Settings | None = None,
) -> Reply:
    """reply() for async handlers: the same, in a thread (the calling handler's name goes with it)."""
    return await asyncio.to_thread(
        reply, response, text, title=title, custom_payload=custom_payload, handler=handler, settings=settings
    )


def _earlier(connection: redis.Redis, pair: str) -> Reply | None:
    """The pair's recorded reply: sent (with its ids), or in doubt; None if the record just expired."""
    raw = replies.read(connection, pair)
    if raw is None:
        return None
    record = orjson.loads(raw)
    if record.get("state") == "sent":
        return Reply("already_sent", record.get("bulk_id"), record.get("message_id"))
    return Reply("in_doubt")


def _send(
    sender: _Sender,
    connection: redis.Redis,
    request: PushRequest,
    pair: str,
    mark: bytes,
    ttl: int,
    fields: dict[str, Any],
) -> Reply:
    def record(bulk_id: str | None, message_id: str | None) -> None:
        sent = orjson.dumps({"state": "sent", "bulk_id": bulk_id, "message_id": message_id, "at": time.time()})
        persistently(lambda: replies.write(connection, pair, sent, ttl))

    try:
        sender.wait_turn(connection)
        answer = sender.client.send_push(request)
    except InfobipError as exc:
        if exc.status < 300:  # accepted, but the answer could not be read: it was sent
            record(None, None)
        elif exc.in_doubt:
            log.warning(
                f"reply outcome unknown (Infobip answered {exc.status}): not sent again by a retry", extra=fields
            )
        else:
            _release(connection, pair, mark)
        raise
    except InfobipTransportError as exc:
        if not exc.in_doubt:
            _release(connection, pair, mark)
        else:
            log.warning("reply outcome unknown (no answer): not sent again by a retry", extra=fields)
        raise
    except Exception:
        # Nothing reached Infobip (a Redis error while pacing): a retry may send.
        _release(connection, pair, mark)
        raise
    message_id = answer.messages[0].message_id if answer.messages else None
    record(answer.bulk_id, message_id)
    log.info("reply sent", extra={**fields, "bulk_id": answer.bulk_id, "reply_message_id": message_id})
    return Reply("sent", answer.bulk_id, message_id)


def _release(connection: redis.Redis, pair: str, mark: bytes) -> None:
    persistently(lambda: scripts.release_reply(pair=pair, mark=mark.decode()).run(connection))
