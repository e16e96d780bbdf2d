"""The send side over real HTTP: the typed client sends pushes and OMNI messages to the simulator, which
validates them like Infobip, records them per bulk and answers statistics and reports from what it recorded."""

from __future__ import annotations

import httpx
import pytest

from infobip_inbound.infobip.client import InfobipError
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
    ExternalUserDestination,
    MultipleDestination,
    PushMessage,
    PushRequest,
    RegistrationDestination,
)
from tests.simulator_support import API_KEY, APP, SimulatorProcess, make_client

pytest_plugins = ["tests.simulator_fixtures"]

AUTH = {"Authorization": f"App {API_KEY}"}


def _request(*destinations: object, sender: str = APP) -> PushRequest:
    message = PushMessage.model_validate(
        {"sender": sender, "destinations": list(destinations), "content": {"title": "T", "text": "Hello"}}
    )
    return PushRequest(messages=[message])


def test_statistics_reflect_what_was_sent(sim: SimulatorProcess) -> None:
    request = _request(
        RegistrationDestination(push_registration_id="REG-1"),
        RegistrationDestination(push_registration_id="invalid-REG-2"),
        ExternalUserDestination(external_user_id="expired-user"),
        ExternalUserDestination(external_user_id="customer_21234", target_only_primary_devices=True),
        MultipleDestination(and_=[{"platform": "iOS"}, {"notificationsEnabled": True}]),
    )
    with make_client(sim.base_url) as client:
        answer = client.send_push(request)
        other = client.push_to_registration(APP, "cloud-REG-3", "Hi")
        opened = [answer.messages[0].message_id, answer.messages[1].message_id]  # the second was not delivered
        assert sim.admin("POST", "seen", {"messageIds": opened}) == {"seen": 1}
        stats = client.push_statistics(answer.bulk_id or "")
        other_stats = client.push_statistics(other.bulk_id or "")
    assert answer.bulk_id and answer.bulk_id != other.bulk_id
    assert [m.status.group_name for m in answer.messages if m.status] == ["PENDING"] * 5
    assert answer.messages[3].destination == {
        "type": "EXTERNAL_USER_ID",
        "externalUserId": "customer_21234",
        "targetOnlyPrimaryDevices": True,
    }
    assert (stats.total_sent, stats.delivered, stats.seen) == (5, 3, 1)
    assert (stats.errors.registration, stats.errors.expired, stats.errors.cloud) == (1, 1, 0)
    assert stats.delivery.rate == pytest.approx(0.6)
    assert (other_stats.total_sent, other_stats.delivered, other_stats.errors.cloud) == (1, 0, 1)
    assert sim.counters()["pushes_sent"] == 2


def test_reports_are_handed_out_once_per_message(sim: SimulatorProcess) -> None:
    with make_client(sim.base_url) as client:
        first = client.send_push(
            _request(
                RegistrationDestination(push_registration_id="REG-1"),
                RegistrationDestination(push_registration_id="INVALID-2"),
            )
        )
        second = client.push_to_registration(APP, "REG-9", "Other bulk")
        reports = client.push_reports(bulk_id=first.bulk_id)
        again = client.push_reports(bulk_id=first.bulk_id)
        rest = client.push_reports()
    by_to = {r.to: r for r in reports.results}
    assert set(by_to) == {"REG-1", "INVALID-2"}
    assert {r.message_id for r in reports.results} == {m.message_id for m in first.messages}
    delivered, failed = by_to["REG-1"], by_to["INVALID-2"]
    assert (delivered.status and delivered.status.group_name, delivered.error and delivered.error.name) == (
        "DELIVERED",
        "NO_ERROR",
    )
    assert failed.status is not None and failed.status.group_name == "UNDELIVERABLE"
    assert failed.error is not None and failed.error.permanent is True
    assert again.results == []
    assert [r.bulk_id for r in rest.results] == [second.bulk_id]


def test_reports_at_the_newer_path_are_the_same(sim: SimulatorProcess) -> None:
    with make_client(sim.base_url) as client:
        sent = client.push_to_registration(APP, "REG-1", "Hi")
    client = make_client(sim.base_url)
    client.reports_path = "/push/3/reports"
    with client:
        assert [r.bulk_id for r in client.push_reports(limit=10).results] == [sent.bulk_id]


def test_bad_sends_get_infobips_error_body(sim: SimulatorProcess) -> None:
    url = sim.base_url + "/push/3/messages"
    bad_destination = {"messages": [{"sender": APP, "destinations": [{"type": "MULTIPLE"}], "content": {"text": "x"}}]}
    for body, field in [
        (bad_destination, "messages[0].destinations[0].$and"),
        ({"messages": []}, "messages"),
        ({"messages": [{"sender": APP, "content": {"text": "x"}}]}, "messages[0].destinations"),
    ]:
        response = httpx.post(url, json=body, headers=AUTH)
        assert response.status_code == 400
        exception = response.json()["requestError"]["serviceException"]
        assert (exception["messageId"], exception["text"]) == ("BAD_REQUEST", "Bad request")
        assert field in exception["validationErrors"]
    assert httpx.post(url, content=b"{", headers=AUTH).status_code == 400
    assert sim.counters()["pushes_sent"] == 0


def test_unknown_sender_and_unknown_bulk_are_infobip_errors(sim: SimulatorProcess) -> None:
    with make_client(sim.base_url) as client:
        with pytest.raises(InfobipError) as unknown_app:
            client.send_push(_request(RegistrationDestination(push_registration_id="R"), sender="no-such-app"))
        with pytest.raises(InfobipError) as unknown_bulk:
            client.push_statistics("NO-SUCH-BULK")
    assert (unknown_app.value.status, unknown_app.value.message_id) == (400, "BAD_REQUEST")
    assert unknown_app.value.validation_errors == {"messages[0].sender": ["application does not exist"]}
    assert (unknown_bulk.value.status, unknown_bulk.value.message_id) == (404, "NOT_FOUND")


def test_statistics_are_throttled_like_the_other_push_1_endpoints(sim: SimulatorProcess) -> None:
    with make_client(sim.base_url) as client:
        bulk = client.push_to_registration(APP, "R", "x").bulk_id
    sim.reset(requests_per_second=2)
    url = sim.base_url + "/push/1/statistics"
    statuses = [httpx.get(url, params={"bulkId": bulk}, headers=AUTH).status_code for _ in range(5)]
    assert 429 in statuses


def _scenario(default: bool | None = None) -> ScenarioRequest:
    return ScenarioRequest(
        name="push + SMS",
        flow=[ScenarioStep(from_=APP, channel="PUSH"), ScenarioStep(from_="InfoSMS", channel="SMS")],
        default=default,
    )


def test_omni_scenarios_are_created_and_listed(sim: SimulatorProcess) -> None:
    with make_client(sim.base_url) as client:
        first = client.create_scenario(_scenario(default=True))
        second = client.create_scenario(_scenario(default=True))
        listed = client.list_scenarios()
        defaults = client.list_scenarios(default=True)
        with pytest.raises(InfobipError) as unknown_app:
            client.create_scenario(ScenarioRequest(name="x", flow=[ScenarioStep(from_="nope", channel="PUSH")]))
    assert [(s.key, s.default) for s in listed] == [(first.key, False), (second.key, True)]
    assert [s.key for s in defaults] == [second.key]
    assert [(step.channel, step.from_) for step in second.flow] == [("PUSH", APP), ("SMS", "InfoSMS")]
    assert unknown_app.value.validation_errors == {"flow[0].from": ["application does not exist"]}


def test_omni_send_falls_back_to_sms_and_reports_the_channel(sim: SimulatorProcess) -> None:
    request = OmniAdvancedRequest(
        destinations=[
            OmniDestination(to=OmniTo(push_registration_id="REG-1", phone_number="41793026727")),
            OmniDestination(to=OmniTo(push_registration_id="invalid-reg", phone_number="41793026728")),
            OmniDestination(to=OmniTo(push_registration_id="invalid-reg-2")),
        ],
        push=OmniPush(text="Your order shipped", custom_payload={"orderId": 1}),
        sms=OmniSms(text="Your order shipped (SMS)"),
    )
    with make_client(sim.base_url) as client:
        with pytest.raises(InfobipError) as no_scenario:
            client.send_omni(request)
        scenario = client.create_scenario(_scenario(default=True))
        by_default = client.send_omni(request)
        by_key = client.send_omni(request.model_copy(update={"scenario_key": scenario.key}))
        reports = client.omni_reports(bulk_id=by_default.bulk_id)
        with pytest.raises(InfobipError) as unknown_key:
            client.send_omni(request.model_copy(update={"scenario_key": "NOPE"}))
    assert no_scenario.value.validation_errors == {"scenarioKey": ["no scenarioKey and no default scenario"]}
    assert unknown_key.value.validation_errors == {"scenarioKey": ["scenario does not exist"]}
    assert len(by_default.messages) == len(by_key.messages) == 3
    assert by_default.messages[0].to == {"pushRegistrationId": "REG-1", "phoneNumber": "41793026727"}
    ended = [(r.channel, r.to, r.status.group_name if r.status else None) for r in reports.results]
    assert ended == [
        ("PUSH", "REG-1", "DELIVERED"),
        ("SMS", "41793026728", "DELIVERED"),
        ("PUSH", "invalid-reg-2", "UNDELIVERABLE"),
    ]
    assert sim.counters()["omni_sent"] == 6
