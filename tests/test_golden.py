"""The wire format checked against Infobip's own examples, not against the client itself.

tests/golden/ holds every request and answer example of both seed documents (and of the API facts page),
written by hand from their text, each naming the section it comes from. Requests: the client builds each
one through its Python API and sends it to the simulator, whose JSON Schemas are written from the seed text
(simulator.schemas, not the client's models); the bytes the simulator received must equal the example.
Answers: a real HTTP server answers each example and the client must read all of it. A field the client
names or nests wrongly fails here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from infobip_inbound.infobip.client import InfobipClient, InfobipError
from infobip_inbound.infobip.omni import (
    OmniAdvancedRequest,
    OmniDestination,
    OmniPush,
    OmniSms,
    OmniTo,
    ScenarioRequest,
    ScenarioStep,
)
from infobip_inbound.infobip.push import (
    EmailDestination,
    ExternalUserDestination,
    MultipleDestination,
    NotificationOptions,
    PhoneNumberDestination,
    PushContent,
    PushMessage,
    PushOptions,
    PushRequest,
    RegistrationDestination,
)
from infobip_inbound.infobip.retry import RetryPolicy
from infobip_inbound.shell.redis_server import free_port
from infobip_inbound.simulator import schemas
from tests.simulator_support import APP, SimulatorProcess, make_client
from tests.support import wait_until

pytest_plugins = ["tests.simulator_fixtures"]

GOLDEN = Path(__file__).parent / "golden"
SEED_000 = "seeds/000_dc63bf682f1e058b.txt"
SEED_003 = "seeds/003_c358d99ca2fb0a75.txt"
FACTS = "infobip-api.md"


def golden(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads((GOLDEN / f"{name}.json").read_bytes())
    return loaded


def all_golden() -> dict[str, dict[str, Any]]:
    return {path.stem: golden(path.stem) for path in sorted(GOLDEN.glob("*.json"))}


# Every example (code sample, snippet, request example) of both seeds, by the section it is under.
SEED_EXAMPLES = {
    (SEED_000, "Target single recipient with non-personalized device > Code sample"): "000-destination-registration",
    (SEED_000, "Target single recipient with personalized device > Code sample"): "000-destination-external-user-id",
    (SEED_000, "Target multiple recipients by using AND operator > Code sample"): "000-destination-multiple-and",
    (
        SEED_000,
        "Target multiple recipients by using device attributes > Code sample",
    ): "000-destination-multiple-all-ios",
    (SEED_000, "Advanced targeting > Example 1 > Code sample"): "000-destination-advanced-example-1",
    (SEED_000, "Advanced targeting > Example 2 > Code sample"): "000-destination-advanced-example-2",
    (SEED_000, "Create OMNI Scenario > code snippet"): "000-omni-scenario-create",
    (SEED_000, "Send Messages With OMNI Scenario > code snippet"): "000-omni-advanced-send",
    (SEED_003, "Create New Action > Request example > HTTP FORWARD"): "003-action-create-http-forward",
    (SEED_003, "Create New Action > Request example > Pull"): "003-action-create-pull",
}


def test_every_seed_example_has_a_golden_file_naming_its_section() -> None:
    found = all_golden()
    for (seed, section), name in SEED_EXAMPLES.items():
        assert name in found, name
        assert found[name]["source"].startswith(seed) and section in found[name]["source"], name
    for name, example in found.items():
        assert example["source"].startswith((SEED_000, SEED_003, FACTS)), name
        assert example["kind"] in {"request", "answer"} and example["endpoint"].split()[0] in {"GET", "POST"}, name


# Requests: each built with the client's Python API, as a user of the client would.


def _message(*destinations: Any, options: PushOptions | None = None) -> PushRequest:
    message = PushMessage(sender=APP, destinations=list(destinations), content=PushContent(text="x"), options=options)
    return PushRequest(messages=[message])


PUSH_REQUESTS: dict[str, Callable[[], PushRequest]] = {
    "000-destination-registration": lambda: _message(
        RegistrationDestination(push_registration_id="DBE0B0B6-668E-491E-8EE8-2A3DB2C71CBE")
    ),
    "000-destination-external-user-id": lambda: _message(ExternalUserDestination(external_user_id="customer_21234")),
    "000-destination-primary-device": lambda: _message(
        ExternalUserDestination(external_user_id="customer_21234", target_only_primary_devices=True)
    ),
    "000-destination-phone-number": lambda: _message(PhoneNumberDestination(phone_number="41793026727")),
    "000-destination-email": lambda: _message(EmailDestination(email="jane.doe@example.com")),
    "000-destination-multiple-and": lambda: _message(
        MultipleDestination(and_=[{"externalUserId": "customer_21234"}, {"externalUserId": "customer_21235"}])
    ),
    "000-destination-multiple-all-ios": lambda: _message(MultipleDestination(or_=[{"platform": "iOS"}])),
    "000-destination-advanced-example-1": lambda: _message(
        MultipleDestination(and_=[{"platform": "iOS"}, {"phoneNumber": "441134960001"}])
    ),
    "000-destination-advanced-example-2": lambda: _message(
        MultipleDestination(and_=[{"platform": "iOS"}, {"DeviceType": "personal"}], or_=[{"DeviceType": "business"}])
    ),
    "000-destination-device-attributes": lambda: _message(
        MultipleDestination(
            and_=[
                {"platform": "Android"},
                {"sdkVersion": "6.1.0"},
                {"osVersion": "14"},
                {"deviceManufacturer": "Samsung"},
                {"deviceModel": "iPhone 6"},
                {"applicationVersion": "2.3.1"},
                {"osLanguage": "de"},
                {"deviceSecure": True},
                {"notificationsEnabled": True},
            ]
        )
    ),
    "000-push-notification-options": lambda: _message(
        RegistrationDestination(push_registration_id="R-1"),
        options=PushOptions(
            notification_options=NotificationOptions(
                vibration_enabled=True,
                sound_enabled=True,
                sound_name="notification_sound.wav",
                badge=1,
                content_url="https://www.mydomain.com/images/image1.jpg",
                category="mm_accept_decline",
                in_app_style="MODAL",
                is_silent=False,
                title="This is some title",
                web_view_url="https://www.mydomain.com/page",
                inbox_topic="offers",
                show_mirrored_push=True,
                mirrored_push_style="MODAL",
                mirrored_push_expiration_period=12,
                mirrored_push_expiration_time_unit="hours",
                mirrored_push_dismiss_title="Dismiss",
                mirrored_push_open_title="Open",
                on_tap_button_action="open_app",
            )
        ),
    ),
    "api-push-send-request": lambda: PushRequest(
        messages=[
            PushMessage(
                sender="8a9b7c6d5e4f",
                destinations=[RegistrationDestination(push_registration_id="69827EDB-A806-4AF6-A7F6-98298EAA4F14")],
                content=PushContent(title="Thanks", text="We got your answer."),
                options=PushOptions(custom_payload={"ticket": "T-1"}),
            )
        ]
    ),
}


def _part(body: Any, part: str | None, like: dict[str, Any]) -> Any:
    """The piece of a sent body a golden fragment shows (`messages[0]`, `messages[0].options`), cut to its keys."""
    for step in (part or "").replace("]", "").replace("[", ".").split("."):
        if step:
            body = body[int(step)] if step.isdigit() else body[step]
    return {key: body[key] for key in like if key in body} if part else body


def _sent(sim: SimulatorProcess) -> dict[str, Any]:
    last: dict[str, Any] = sim.admin("GET", "requests")["requests"][-1]
    return last


@pytest.mark.parametrize("name", sorted(PUSH_REQUESTS))
def test_push_requests_leave_the_client_exactly_as_the_examples(sim: SimulatorProcess, name: str) -> None:
    example = golden(name)
    assert example["endpoint"] == "POST /push/3/messages"
    with make_client(sim.base_url) as client:
        client.send_push(PUSH_REQUESTS[name]())  # the simulator checks it against its schema: it must pass
    sent = _sent(sim)
    assert (sent["method"], sent["path"]) == ("POST", "/push/3/messages")
    assert _part(sent["body"], example.get("part"), example["body"]) == example["body"]


def test_action_requests_leave_the_client_exactly_as_the_examples(sim: SimulatorProcess) -> None:
    with make_client(sim.base_url) as client:
        configuration = client.create_configuration(APP)
        forward = golden("003-action-create-http-forward")["body"]
        client.create_action(APP, configuration, "HTTP_FORWARD", forward["forwardUrl"], forward["callbackData"])
        assert _sent(sim)["body"] == forward
        pull = golden("003-action-create-pull")["body"]
        client.create_action(APP, configuration, "PULL", callback_data=pull["callbackData"])
        assert _sent(sim)["body"] == pull
    assert _sent(sim)["path"] == f"/push/1/applications/{APP}/configurations/{configuration}/actions"


def test_omni_requests_serialize_exactly_as_the_examples(sim: SimulatorProcess) -> None:
    scenario = ScenarioRequest(
        name="push + SMS scenario",
        flow=[
            ScenarioStep(from_="APPLICATION CODE", channel="PUSH"),
            ScenarioStep(from_="YOUR_REGISTERED_SMS_SENDER", channel="SMS"),
        ],
        default=True,
    )
    assert scenario.wire() == golden("000-omni-scenario-create")["body"]
    send = OmniAdvancedRequest(
        scenario_key="key",
        destinations=[OmniDestination(to=OmniTo(phone_number="41793026727"))],
        push=OmniPush(
            text="This PUSH message will pop up on your mobile device.",
            custom_payload={"contentUrl": "https://someurl.com/content", "deepLink": "myApp://some/link"},
            notification_options=NotificationOptions(
                vibration_enabled=True,
                sound_enabled=True,
                sound_name="sound.wav",
                badge=1,
                content_url="http://www.mydomain.com/images/image1.jpg",
                category="mm_accept_decline",
                in_app_style="MODAL",
                title="This is some title",
            ),
            target_only_primary_devices=True,
            include_notifications_disabled_devices=True,
        ),
        sms=OmniSms(text="This is the SMS failover message"),
    )
    assert send.wire() == golden("000-omni-advanced-send")["body"]
    # And through the simulator, with the scenario's placeholder sender made this account's application.
    with make_client(sim.base_url) as client:
        created = client.create_scenario(
            scenario.model_copy(update={"flow": [ScenarioStep(from_=APP, channel="PUSH")]})
        )
        assert _sent(sim)["body"]["default"] is True
        client.send_omni(send.model_copy(update={"scenario_key": created.key}))
    assert _sent(sim)["body"] == {**golden("000-omni-advanced-send")["body"], "scenarioKey": created.key}


# The simulator's schemas agree with the seeds, and refuse what the seeds do not name.

SCHEMAS = {
    "POST /push/3/messages": schemas.PUSH,
    "POST /omni/1/scenarios": schemas.SCENARIO,
    "POST /omni/1/advanced": schemas.OMNI,
    "POST /push/1/applications/{applicationCode}/configurations/{configurationKey}/actions": schemas.ACTION,
}


def _whole(example: dict[str, Any]) -> dict[str, Any]:
    """A golden fragment inside the smallest request around it."""
    body = example["body"]
    if example.get("part") == "messages[0]":
        return {"messages": [{"sender": APP, "destinations": [], "content": {"text": "x"}, **body}]}
    if example.get("part") == "messages[0].options":
        destination = {"type": "REGISTRATION", "pushRegistrationId": "R"}
        return {"messages": [{"sender": APP, "destinations": [destination], "content": {"text": "x"}, "options": body}]}
    return dict(body)


@pytest.mark.parametrize("name", sorted(n for n, e in all_golden().items() if e["kind"] == "request"))
def test_every_golden_request_passes_the_simulators_schema(name: str) -> None:
    example = golden(name)
    assert schemas.problems(SCHEMAS[example["endpoint"]], _whole(example)) == {}


def test_the_schemas_refuse_misnamed_or_misplaced_fields() -> None:
    registration = _whole(golden("000-destination-registration"))
    destination = registration["messages"][0]["destinations"][0]
    destination["pushRegistrationID"] = destination.pop("pushRegistrationId")
    assert set(schemas.problems(schemas.PUSH, registration)) == {
        "messages[0].destinations[0].pushRegistrationId",
        "messages[0].destinations[0]",
    }
    options = _whole(golden("000-push-notification-options"))
    options["messages"][0]["notificationOptions"] = options["messages"][0].pop("options")["notificationOptions"]
    assert "messages[0]" in schemas.problems(schemas.PUSH, options)
    omni = dict(golden("000-omni-advanced-send")["body"])
    omni["destinations"] = [{"to": {"phone": "41793026727"}}]
    assert "messages" not in str(schemas.problems(schemas.OMNI, omni))
    assert schemas.problems(schemas.OMNI, omni)
    older = {**golden("000-omni-scenario-create")["body"]}
    older["defaultScenario"] = older.pop("default")  # older public clients' name: read too
    assert schemas.problems(schemas.SCENARIO, older) == {}


# Answers: served by a real HTTP server exactly as the examples show them; the client must read all of it.


class GoldenInfobip:
    """A real HTTP server that answers every request with the golden answer set before the call."""

    def __init__(self) -> None:
        self.port = free_port()
        self.answer: tuple[int, bytes] = (200, b"{}")
        self.seen: list[str] = []
        app = Starlette(routes=[Route("/{rest:path}", self._answer, methods=["GET", "POST", "DELETE"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    async def _answer(self, request: Request) -> Response:
        self.seen.append(f"{request.method} {request.url.path}")
        status, body = self.answer
        return Response(body, status_code=status, media_type="application/json")

    def serve(self, name: str) -> dict[str, Any]:
        example = golden(name)
        assert example["kind"] == "answer"
        self.answer = (int(example.get("status", 200)), orjson.dumps(example["body"]))
        body: dict[str, Any] = example["body"]
        return body

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: self._server.started, timeout=10)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def infobip() -> Iterator[GoldenInfobip]:
    server = GoldenInfobip()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(infobip: GoldenInfobip) -> Iterator[InfobipClient]:
    with InfobipClient(
        f"http://127.0.0.1:{infobip.port}", SecretStr("k"), retry=RetryPolicy(max_tries=1), timeout=httpx.Timeout(5.0)
    ) as made:
        yield made


def test_every_golden_answer_is_read_by_the_client(infobip: GoldenInfobip, client: InfobipClient) -> None:
    read: set[str] = set()

    def check(name: str, call: Callable[[], Any], expected: Callable[[dict[str, Any]], Any]) -> None:
        body = infobip.serve(name)
        assert call() == expected(body), name
        endpoint = golden(name)["endpoint"].split()
        assert infobip.seen[-1].split()[0] == endpoint[0], name
        read.add(name)

    check("000-push-statistics-answer", lambda: client.push_statistics("bulk-42").wire(), lambda body: body)
    check("api-push-send-answer", lambda: client.send_push(PUSH_REQUESTS["api-push-send-request"]()).wire(), dict)
    check(
        "api-configurations-list-answer",
        lambda: client.list_configurations(APP),
        lambda body: [c["key"] for c in body["configurations"]],
    )
    check("api-configuration-create-answer", lambda: client.create_configuration(APP), lambda body: body["key"])
    check("api-configuration-get-answer", lambda: client.get_configuration(APP, "7D4E3F5F2B1E9A0C"), lambda b: b["key"])
    check(
        "003-action-http-forward-answer",
        lambda: client.create_action(APP, "cfg", "HTTP_FORWARD", "https://www.myDomain.com/messageReceiver").model_dump(
            by_alias=True, exclude_none=True
        ),
        dict,
    )
    check(
        "003-actions-list-answer",
        lambda: [a.model_dump(by_alias=True, exclude_none=True) for a in client.list_actions(APP, "cfg")],
        lambda body: body["actions"],
    )
    check(
        "api-omni-scenario-answer",
        lambda: client.create_scenario(
            ScenarioRequest(name="n", flow=[ScenarioStep(from_=APP, channel="PUSH")])
        ).wire(),
        dict,
    )
    check(
        "api-pull-answer",
        lambda: orjson.loads(client.pull_reports(10).raw),
        dict,
    )
    pulled = infobip.serve("api-pull-answer")
    envelope = client.pull_reports(10).envelope()
    assert (envelope.message_count, envelope.pending_message_count) == (1, 0)
    assert envelope.results[0].message_id == pulled["results"][0]["messageId"]

    error = infobip.serve("api-error-answer")["requestError"]["serviceException"]
    with pytest.raises(InfobipError) as caught:
        client.get_configuration(APP, "cfg")
    assert (caught.value.status, caught.value.message_id, caught.value.text) == (404, error["messageId"], error["text"])
    read.add("api-error-answer")

    answers = {name for name, example in all_golden().items() if example["kind"] == "answer"}
    assert read == answers
