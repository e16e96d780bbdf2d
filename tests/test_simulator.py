"""The simulator's Infobip behaviour over real HTTP: auth, throttle, HTTP_FORWARD delivery, generator, faults."""

from __future__ import annotations

import httpx

from infobip_inbound.infobip.envelope import parse_envelope
from tests.simulator_support import (
    API_KEY,
    APP,
    OTHER_APP,
    SimulatorProcess,
    Sink,
    make_client,
)
from tests.support import wait_until

pytest_plugins = ["tests.simulator_fixtures"]

AUTH = {"Authorization": f"App {API_KEY}"}


def _forward_action(sim: SimulatorProcess, url: str, callback_data: str | None = "cb", app: str = APP) -> str:
    with make_client(sim.base_url) as client:
        keys = client.list_configurations(app)
        cfg = keys[0] if keys else client.create_configuration(app)
        return client.create_action(app, cfg, "HTTP_FORWARD", url, callback_data).key


def test_missing_or_other_auth_scheme_is_401(sim: SimulatorProcess) -> None:
    url = sim.base_url + f"/push/1/applications/{APP}/configurations"
    for headers in ({}, {"Authorization": f"Basic {API_KEY}"}, {"Authorization": "App nope"}):
        response = httpx.get(url, headers=headers)
        assert response.status_code == 401
        assert response.json()["requestError"]["serviceException"]["messageId"] == "UNAUTHORIZED"


def test_throttle_answers_429_with_infobip_body(sim: SimulatorProcess) -> None:
    sim.reset(requests_per_second=2)
    url = sim.base_url + f"/push/1/applications/{APP}/configurations"
    statuses = [httpx.get(url, headers=AUTH) for _ in range(6)]
    throttled = [r for r in statuses if r.status_code == 429]
    assert throttled
    assert throttled[0].json() == {
        "requestError": {"serviceException": {"messageId": "TOO_MANY_REQUESTS", "text": "Too many requests"}}
    }
    assert "retry-after" not in throttled[0].headers
    assert sim.counters()["throttled"] == len(throttled)


def test_delete_answers_204(sim: SimulatorProcess) -> None:
    with make_client(sim.base_url) as client:
        cfg = client.create_configuration(APP)
    response = httpx.delete(sim.base_url + f"/push/1/applications/{APP}/configurations/{cfg}", headers=AUTH)
    assert (response.status_code, response.content) == (204, b"")


def test_pull_limit_default_and_bad_values(sim: SimulatorProcess) -> None:
    sim.enable_pull()
    sim.inject(generate=60)
    url = sim.base_url + "/push/1/inbox/reports"
    first = httpx.get(url, headers=AUTH).json()
    assert (first["messageCount"], first["pendingMessageCount"]) == (50, 10)
    for bad in ("0", "-1", "x"):
        response = httpx.get(url, params={"limit": bad}, headers=AUTH)
        assert response.status_code == 400
        assert response.json()["requestError"]["serviceException"]["messageId"] == "BAD_REQUEST"


def test_forward_delivers_each_message_with_the_actions_callback_data(sim: SimulatorProcess, sink: Sink) -> None:
    _forward_action(sim, sink.url("secret-token"), callback_data="from-action")
    ids = sim.inject(generate=5, application_code=APP)
    wait_until(lambda: sim.counters()["forwarded"] == 5, timeout=20)
    assert sorted(b["results"][0]["messageId"] for b in sink.bodies) == sorted(ids)
    for body in sink.bodies:
        assert body["path"] == "/hook/secret-token"
        assert body["results"][0]["callbackData"] == "from-action"
        assert (body["messageCount"], body["pendingMessageCount"]) == (1, 0)
    # Forwarded messages are not also kept for pull when the application has no PULL action.
    assert sim.counters()["pending"] == 0


def test_forward_retries_until_2xx(sim: SimulatorProcess, sink: Sink) -> None:
    sink.fail_first = 3
    _forward_action(sim, sink.url())
    (message_id,) = sim.inject(generate=1, application_code=APP)
    wait_until(lambda: sim.counters()["forwarded"] == 1, timeout=20)
    counters = sim.counters()
    assert (counters["forward_attempts"], counters["forward_failures"], counters["forward_abandoned"]) == (4, 3, 0)
    assert [b["results"][0]["messageId"] for b in sink.bodies] == [message_id]


def test_forward_gives_up_after_the_schedule(sim: SimulatorProcess, sink: Sink) -> None:
    sink.fail_first = 1000
    _forward_action(sim, sink.url())
    sim.inject(generate=1, application_code=APP)
    wait_until(lambda: sim.counters()["forward_abandoned"] == 1, timeout=20)
    counters = sim.counters()
    assert (counters["forward_attempts"], counters["forwarded"]) == (4, 0)  # 1 try + 3 retries


def test_duplicate_switch_delivers_twice(sim: SimulatorProcess, sink: Sink) -> None:
    sim.faults(duplicate_rate=1.0)
    _forward_action(sim, sink.url())
    ids = sim.inject(generate=3, application_code=APP)
    wait_until(lambda: sim.counters()["forward_duplicates"] == 3 and len(sink.bodies) == 6, timeout=20)
    assert sorted(b["results"][0]["messageId"] for b in sink.bodies) == sorted(ids * 2)


def test_every_forward_action_gets_the_message_and_pull_action_keeps_it(sim: SimulatorProcess, sink: Sink) -> None:
    _forward_action(sim, sink.url("one"))
    _forward_action(sim, sink.url("two"))
    with make_client(sim.base_url) as client:
        cfg = client.list_configurations(APP)[0]
        client.create_action(APP, cfg, "PULL", callback_data="pulled")
        (message_id,) = sim.inject(generate=1, application_code=APP)
        wait_until(lambda: sim.counters()["forwarded"] == 2, timeout=20)
        assert sorted(b["path"] for b in sink.bodies) == ["/hook/one", "/hook/two"]
        pulled = client.pull_reports(10).envelope().results
    assert [(r.message_id, r.callback_data) for r in pulled] == [(message_id, "pulled")]


def test_without_a_pull_action_nothing_is_kept_to_pull(sim: SimulatorProcess, sink: Sink) -> None:
    _forward_action(sim, sink.url(), app=APP)
    sim.inject(generate=2, application_code=OTHER_APP)  # no action at all: gone, as at Infobip
    sim.inject(generate=1, application_code=APP)  # forwarded only
    wait_until(lambda: sim.counters()["forwarded"] == 1, timeout=20)
    counters = sim.counters()
    assert (counters["pending"], counters["not_kept"]) == (0, 2)
    with make_client(sim.base_url) as client:
        assert client.pull_reports(10).envelope().results == []
    sim.enable_pull(OTHER_APP)
    sim.inject(generate=2, application_code=OTHER_APP)
    assert sim.counters()["pending"] == 2


def test_generated_messages_are_valid_varied_envelopes(sim: SimulatorProcess) -> None:
    sim.enable_pull()
    sim.inject(generate=300)
    with make_client(sim.base_url) as client:
        raw = client.pull_reports(1000).raw
    results = parse_envelope(raw).results
    assert len(results) == 300
    assert len({r.message_id for r in results}) == 300
    assert {r.application_code for r in results} >= {APP, OTHER_APP}
    assert len({r.keyword for r in results}) >= 4
    assert any(r.custom_payload for r in results)
    assert any(any(ord(ch) > 0xFFFF for ch in r.text) for r in results)  # emoji
    assert all(r.received_at.tzinfo is not None for r in results)
    assert b"+0000" in raw


def test_injected_messages_keep_given_fields(sim: SimulatorProcess) -> None:
    sim.enable_pull()
    (message_id,) = sim.inject({"text": "STOP now ✋", "keyword": "STOP", "cleanText": "now ✋", "newField": 1})
    with make_client(sim.base_url) as client:
        (result,) = client.pull_reports(5).envelope().results
    assert (result.message_id, result.text, result.keyword) == (message_id, "STOP now ✋", "STOP")
    assert result.model_extra == {"newField": 1}


def test_generator_rate(sim: SimulatorProcess) -> None:
    sim.admin("PUT", "options", {"generate_per_second": 200})
    wait_until(lambda: sim.counters()["generated"] >= 20, timeout=20)
    sim.admin("PUT", "options", {"generate_per_second": 0})
    assert len(sim.admin("GET", "messages")["message_ids"]) == sim.counters()["generated"]


def test_fault_switches_are_validated(sim: SimulatorProcess) -> None:
    assert httpx.put(sim.base_url + "/_sim/faults", json={"nope": 1}).status_code == 400
    assert httpx.put(sim.base_url + "/_sim/faults", json={"slow_seconds": -1}).status_code == 400
    assert sim.admin("PUT", "faults", {"slow_seconds": 0.5})["slow_seconds"] == 0.5
