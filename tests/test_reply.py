"""reply() against the simulator over real HTTP and a real Redis: one push per (message, handler), whatever
retries; the mark is removed only where Infobip certainly did not act. And auto_reply's templates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import redis
from pydantic import SecretStr

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.contract.settings import AutoReply, ReplyTemplate, Settings
from infobip_inbound.contract.store.handled import pair_id
from infobip_inbound.contract.store.keys import reply_key
from infobip_inbound.infobip.client import InfobipError, InfobipTransportError
from infobip_inbound.shell.redis_server import free_port
from infobip_inbound.workers.auto_reply import choose, template_fields
from infobip_inbound.workers.reply import CannotReply, NotInHandler, reply
from tests.simulator_support import API_KEY, APP, SimulatorProcess

pytest_plugins = ["tests.simulator_fixtures"]


def response(message_id: str = "m-1", registration_id: str = "device-1", **fields: Any) -> UserResponse:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "message_id": message_id,
        "application_code": APP,
        "registration_id": registration_id,
        "to": APP,
        "text": "YES please",
        "clean_text": "please",
        "keyword": "YES",
        "received_at": now,
        "source": "forward",
        "ingested_at": now,
    }
    return UserResponse(**(values | fields))


def settings_for(redis_url: str, base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "infobip_base_url": base_url,
        "infobip_api_key": SecretStr(API_KEY),
        "infobip_max_tries": 2,
        "infobip_backoff_base_seconds": 0.01,
        "infobip_read_timeout_seconds": 2,
        "reply_requests_per_second": 1000,
    }
    return Settings(**(values | overrides))


def pushes_to(sim: SimulatorProcess, registration_id: str) -> list[dict[str, Any]]:
    pushes: list[dict[str, Any]] = sim.admin("GET", "pushes")["pushes"]
    return [p for p in pushes if p["destinations"][0].get("pushRegistrationId") == registration_id]


def test_a_second_reply_of_the_same_pair_returns_the_first_without_sending(
    sim: SimulatorProcess, redis_url: str
) -> None:
    settings = settings_for(redis_url, sim.base_url)
    first = reply(response(), "Thanks!", title="Hi", custom_payload={"k": 1}, handler="h", settings=settings)
    again = reply(response(), "Thanks!", handler="h", settings=settings)
    assert first.status == "sent" and first.bulk_id and first.message_id
    assert (again.status, again.bulk_id, again.message_id) == ("already_sent", first.bulk_id, first.message_id)
    (push,) = pushes_to(sim, "device-1")
    assert push["sender"] == APP
    assert push["content"] == {"title": "Hi", "text": "Thanks!"}
    assert push["options"] == {"customPayload": {"k": 1}}
    # Another handler's reply to the same message is its own.
    assert reply(response(), "Other", handler="other", settings=settings).status == "sent"
    assert len(pushes_to(sim, "device-1")) == 2


def test_a_lost_answer_is_not_sent_again_unless_at_least_once(
    sim: SimulatorProcess, redis_url: str, redis_client: redis.Redis
) -> None:
    settings = settings_for(redis_url, sim.base_url)
    sim.faults(drop_next=1)  # the push is accepted, its answer cut off
    with pytest.raises(InfobipTransportError):
        reply(response(), "Thanks!", handler="h", settings=settings)
    mark = redis_client.get(reply_key(pair_id("m-1", "h")))
    assert mark is not None and orjson.loads(mark)["state"] == "sending"
    assert reply(response(), "Thanks!", handler="h", settings=settings).status == "in_doubt"
    assert len(pushes_to(sim, "device-1")) == 1

    at_least_once = settings_for(redis_url, sim.base_url, reply_at_least_once=True)
    assert reply(response(), "Thanks!", handler="h", settings=at_least_once).status == "sent"
    assert len(pushes_to(sim, "device-1")) == 2


def test_a_push_answered_5xx_is_in_doubt_and_never_sent_twice(
    sim: SimulatorProcess, redis_url: str, redis_client: redis.Redis
) -> None:
    settings = settings_for(redis_url, sim.base_url)
    sim.faults(accept_then_502=1)  # Infobip accepts the push, a gateway answers 502
    with pytest.raises(InfobipError) as caught:
        reply(response(), "Thanks!", handler="h", settings=settings)
    assert (caught.value.status, caught.value.in_doubt) == (502, True)
    mark = redis_client.get(reply_key(pair_id("m-1", "h")))
    assert mark is not None and orjson.loads(mark)["state"] == "sending"
    assert reply(response(), "Thanks!", handler="h", settings=settings).status == "in_doubt"
    assert len(pushes_to(sim, "device-1")) == 1


def test_a_refused_send_leaves_no_mark_so_the_retry_sends(
    sim: SimulatorProcess, redis_url: str, redis_client: redis.Redis
) -> None:
    settings = settings_for(redis_url, sim.base_url)
    key = reply_key(pair_id("m-1", "h"))
    unknown_app = response(application_code="no-such-app")
    with pytest.raises(InfobipError) as bad:
        reply(unknown_app, "Thanks!", handler="h", settings=settings)
    assert bad.value.status == 400
    assert redis_client.get(key) is None

    nobody = settings_for(redis_url, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(InfobipTransportError) as no_connection:
        reply(response(), "Thanks!", handler="h", settings=nobody)
    assert no_connection.value.refused
    assert redis_client.get(key) is None

    assert reply(response(), "Thanks!", handler="h", settings=settings).status == "sent"
    assert len(pushes_to(sim, "device-1")) == 1


def test_no_device_or_no_handler_is_a_clear_error(sim: SimulatorProcess, redis_url: str) -> None:
    settings = settings_for(redis_url, sim.base_url)
    with pytest.raises(CannotReply, match="no registration_id"):
        reply(response(registration_id=""), "Thanks!", handler="h", settings=settings)
    with pytest.raises(NotInHandler):
        reply(response(), "Thanks!", settings=settings)
    assert sim.counters()["pushes_sent"] == 0


def test_templates_by_keyword_format_the_fields_and_leave_missing_ones_empty() -> None:
    config = AutoReply(
        keywords={"yes": ReplyTemplate(text="In: {clean_text} ({subscriber_id}{nope})", title="Hi {keyword}")},
        default=ReplyTemplate(text="Thanks: {text}"),
    )
    yes = response()
    template = choose(config, yes)
    assert template is not None and template.title is not None
    fields = template_fields(yes)
    assert template.text.format_map(fields) == "In: please ()"
    assert template.title.format_map(fields) == "Hi YES"
    other = response(keyword=None, text="hello", custom_payload={"a": [1]})
    default = choose(config, other)
    assert default is not None and default.text.format_map(template_fields(other)) == "Thanks: hello"
    assert template_fields(other)["custom_payload"] == '{"a":[1]}'
    assert choose(AutoReply(default=None), other) is None


def test_templates_name_plain_fields_only() -> None:
    with pytest.raises(ValueError, match="plain field name"):
        ReplyTemplate(text="{custom_payload[a]}")
    with pytest.raises(ValueError, match="plain field name"):
        ReplyTemplate(text="{text.__class__}")
