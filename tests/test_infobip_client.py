"""InfobipClient against the simulator over real HTTP: management calls, error mapping, retries, pull."""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx
import pytest

from infobip_inbound.infobip.client import InfobipError, InfobipTransportError, error_from_response, with_scheme
from infobip_inbound.infobip.retry import RetryPolicy, parse_retry_after
from infobip_inbound.shell.redis_server import free_port
from tests.simulator_support import (
    API_KEY,
    APP,
    RecordingSleep,
    SimulatorProcess,
    make_client,
)
from tests.support import wait_until

pytest_plugins = ["tests.simulator_fixtures"]


def test_configuration_lifecycle(sim: SimulatorProcess) -> None:
    with make_client(sim.base_url) as client:
        assert client.list_configurations(APP) == []
        key = client.create_configuration(APP)
        assert client.list_configurations(APP) == [key]
        assert client.get_configuration(APP, key) == key
        with pytest.raises(InfobipError) as conflict:
            client.create_configuration(APP)
        assert conflict.value.status == 409
        client.delete_configuration(APP, key)
        assert client.list_configurations(APP) == []


def test_action_lifecycle(sim: SimulatorProcess) -> None:
    with make_client(sim.base_url) as client:
        cfg = client.create_configuration(APP)
        forward = client.create_action(APP, cfg, "HTTP_FORWARD", "https://example.test/hook/t", "cb-1")
        pull = client.create_action(APP, cfg, "PULL", callback_data="cb-2")
        assert (forward.type, forward.forward_url, forward.callback_data) == (
            "HTTP_FORWARD",
            "https://example.test/hook/t",
            "cb-1",
        )
        assert {a.key for a in client.list_actions(APP, cfg)} == {forward.key, pull.key}
        client.delete_action(APP, cfg, forward.key)
        assert [a.key for a in client.list_actions(APP, cfg)] == [pull.key]
    assert sim.state()["applications"][APP]["actions"] == [{"key": pull.key, "type": "PULL", "callbackData": "cb-2"}]


@pytest.mark.parametrize(
    ("call", "status", "message_id"),
    [
        (lambda c, cfg: c.list_configurations("no-such-app"), 404, "1"),
        (lambda c, cfg: c.get_configuration(APP, "no-such-configuration"), 404, "6"),
        (lambda c, cfg: c.list_actions(APP, "no-such-configuration"), 404, "6"),
        (lambda c, cfg: c.delete_action(APP, cfg, "no-such-action"), 404, "5"),
        (lambda c, cfg: c.create_action(APP, cfg, "HTTP_FORWARD"), 400, "8"),
        (lambda c, cfg: c.create_action(APP, cfg, "HTTP_FORWARD", "ftp://x/"), 400, "8"),
    ],
)
def test_error_bodies_become_infobip_errors(sim: SimulatorProcess, call: object, status: int, message_id: str) -> None:
    with make_client(sim.base_url) as client:
        cfg = client.create_configuration(APP)
        with pytest.raises(InfobipError) as caught:
            call(client, cfg)  # type: ignore[operator]
    assert (caught.value.status, caught.value.message_id) == (status, message_id)
    assert caught.value.text
    assert str(status) in str(caught.value)


def test_invalid_action_request_carries_validation_errors(sim: SimulatorProcess) -> None:
    with make_client(sim.base_url) as client:
        cfg = client.create_configuration(APP)
        with pytest.raises(InfobipError) as caught:
            client.create_action(APP, cfg, "HTTP_FORWARD")
    assert "forwardUrl" in caught.value.validation_errors


def test_wrong_key_is_401_and_not_retried(sim: SimulatorProcess) -> None:
    sleep = RecordingSleep()
    with (
        make_client(sim.base_url, api_key="wrong-key-abcdef", sleep=sleep) as client,
        pytest.raises(InfobipError) as caught,
    ):
        client.list_configurations(APP)
    assert (caught.value.status, caught.value.message_id) == (401, "UNAUTHORIZED")
    assert sleep.delays == []
    assert sim.counters()["unauthorized"] == 1


def test_api_key_appears_in_no_repr_exception_or_log(sim: SimulatorProcess, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sim.faults(error_burst=10)
    with make_client(sim.base_url, max_tries=2) as client:
        assert API_KEY not in repr(client)
        assert API_KEY not in repr(client._http.auth)
        with pytest.raises(InfobipError) as caught:
            client.list_configurations(APP)
    for text in (str(caught.value), repr(caught.value), repr(vars(caught.value)), caplog.text):
        assert API_KEY not in text
    assert "retrying" in caplog.text


def test_5xx_burst_is_retried_until_it_passes(sim: SimulatorProcess) -> None:
    sim.faults(error_burst=2)
    sleep = RecordingSleep()
    with make_client(sim.base_url, sleep=sleep) as client:
        assert client.list_configurations(APP) == []
    assert len(sleep.delays) == 2
    assert sim.counters()["injected_errors"] == 2


def test_retries_are_bounded_in_tries(sim: SimulatorProcess) -> None:
    sim.faults(error_burst=100)
    sleep = RecordingSleep()
    with make_client(sim.base_url, sleep=sleep, max_tries=3) as client, pytest.raises(InfobipError) as caught:
        client.list_configurations(APP)
    assert (caught.value.status, caught.value.message_id) == (500, "GENERAL_ERROR")
    assert len(sleep.delays) == 2
    assert sim.counters()["injected_errors"] == 3


def test_backoff_grows_exponentially_with_jitter_within_the_cap() -> None:
    import random

    policy = RetryPolicy(max_tries=10, budget_seconds=1000, base_seconds=1.0, max_seconds=8.0)
    rng = random.Random(1)
    for retry in range(1, 8):
        ceiling = min(8.0, 2 ** (retry - 1))
        delays = [policy.backoff(retry, rng) for _ in range(50)]
        assert all(0 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_429_is_retried_with_backoff(sim: SimulatorProcess) -> None:
    sim.reset(requests_per_second=2)
    sleep = RecordingSleep()
    with make_client(sim.base_url, sleep=sleep, max_tries=40, base_seconds=0.05, max_seconds=0.3) as client:
        for _ in range(6):
            client.list_configurations(APP)
    assert sim.counters()["throttled"] >= 1
    assert len(sleep.delays) == sim.counters()["throttled"]


def test_retry_after_is_honoured(sim: SimulatorProcess) -> None:
    sim.reset(requests_per_second=1)
    sim.faults(retry_after_seconds=1)
    sleep = RecordingSleep()
    with make_client(sim.base_url, sleep=sleep, max_tries=5) as client:
        client.list_configurations(APP)
        client.list_configurations(APP)
    assert sleep.delays and all(d == 1.0 for d in sleep.delays)


def test_retry_after_beyond_the_time_budget_gives_up_at_once(sim: SimulatorProcess) -> None:
    sim.reset(requests_per_second=1)
    sim.faults(retry_after_seconds=30)
    sleep = RecordingSleep()
    with make_client(sim.base_url, sleep=sleep, budget_seconds=5) as client:
        client.list_configurations(APP)
        with pytest.raises(InfobipError) as caught:
            client.list_configurations(APP)
    assert (caught.value.status, caught.value.message_id) == (429, "TOO_MANY_REQUESTS")
    assert sleep.delays == []


def test_parse_retry_after_forms() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:05 GMT", now) == 5.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_timeout_on_an_idempotent_call_is_retried_then_reported(sim: SimulatorProcess) -> None:
    sim.faults(slow_seconds=1.0)
    sleep = RecordingSleep()
    client = make_client(sim.base_url, read_timeout=0.2, sleep=sleep, max_tries=2)
    with client, pytest.raises(InfobipTransportError) as caught:
        client.list_configurations(APP)
    assert caught.value.timed_out
    assert len(sleep.delays) == 1


def test_timeout_on_pull_is_not_retried_and_the_batch_is_gone(sim: SimulatorProcess) -> None:
    sim.enable_pull()
    sim.inject(generate=3)
    sim.faults(slow_seconds=1.0)
    sleep = RecordingSleep()
    with make_client(sim.base_url, read_timeout=0.2, sleep=sleep) as client:
        with pytest.raises(InfobipTransportError) as caught:
            client.pull_reports(10)
        assert caught.value.timed_out
        assert sleep.delays == []
        wait_until(lambda: sim.counters()["pulled"] == 3, timeout=10)
        sim.faults(slow_seconds=0)
        assert client.pull_reports(10).envelope().results == []


def test_dropped_connection_on_pull_loses_the_batch_and_is_not_retried(sim: SimulatorProcess) -> None:
    sim.enable_pull()
    sim.inject(generate=4)
    sim.faults(drop_next=1)
    sleep = RecordingSleep()
    with make_client(sim.base_url, sleep=sleep) as client:
        with pytest.raises(InfobipTransportError) as caught:
            client.pull_reports(10)
        assert not caught.value.timed_out
        assert sleep.delays == []
        assert client.pull_reports(10).envelope().results == []
    counters = sim.counters()
    assert (counters["pulled"], counters["dropped"], counters["pending"]) == (4, 1, 0)


def test_dropped_connection_on_an_idempotent_call_is_retried(sim: SimulatorProcess) -> None:
    sim.faults(drop_next=1)
    with make_client(sim.base_url) as client:
        assert client.list_configurations(APP) == []
    assert sim.counters()["dropped"] == 1


def test_refused_connection_is_retried_then_reported() -> None:
    sleep = RecordingSleep()
    client = make_client(f"http://127.0.0.1:{free_port()}", sleep=sleep, max_tries=3)
    with client, pytest.raises(InfobipTransportError):
        client.pull_reports(5)
    assert len(sleep.delays) == 2


def test_pull_hands_each_message_out_once(sim: SimulatorProcess) -> None:
    sim.enable_pull()
    ids = sim.inject(generate=5)
    with make_client(sim.base_url) as client:
        first = client.pull_reports(2)
        envelope = first.envelope()
        assert (envelope.message_count, envelope.pending_message_count) == (2, 3)
        assert first.raw.startswith(b"{")
        rest = client.pull_reports(1000).envelope()
        assert (rest.message_count, rest.pending_message_count) == (3, 0)
        assert client.pull_reports(10).envelope().message_count == 0
    pulled = [r.message_id for r in envelope.results] + [r.message_id for r in rest.results]
    assert pulled == ids
    assert sim.counters()["pulled"] == 5


def test_pull_limit_is_checked() -> None:
    with make_client("http://127.0.0.1:9") as client:
        for limit in (0, 1001):
            with pytest.raises(ValueError, match="limit"):
                client.pull_reports(limit)


def test_concurrent_pulls_are_counted(sim: SimulatorProcess) -> None:
    sim.faults(slow_seconds=1.0)
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def pull() -> None:
        try:
            with make_client(sim.base_url) as client:
                barrier.wait(timeout=10)
                client.pull_reports(10)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=pull) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert sim.counters()["max_concurrent_pulls"] >= 2


def test_send_push_reply(sim: SimulatorProcess) -> None:
    with make_client(sim.base_url) as client:
        answer = client.push_to_registration(APP, "REG-1", "Thanks! 🎉", title="Hi", custom_payload={"k": 1})
    assert answer.bulk_id
    assert answer.messages[0].destination == {"type": "REGISTRATION", "pushRegistrationId": "REG-1"}
    pushes = sim.admin("GET", "pushes")["pushes"]
    assert pushes[0]["content"] == {"title": "Hi", "text": "Thanks! 🎉"}
    assert pushes[0]["options"] == {"customPayload": {"k": 1}}


def test_identifiers_cannot_escape_their_path_segment(sim: SimulatorProcess) -> None:
    with make_client(sim.base_url) as client:
        for bad in ("../x", "a/b", "", "x?y"):
            with pytest.raises(ValueError):
                client.list_configurations(bad)


def test_a_push_accepted_then_answered_502_is_in_doubt_and_sent_once(sim: SimulatorProcess) -> None:
    sim.faults(accept_then_502=1)  # Infobip takes the push; a gateway loses the answer
    sleep = RecordingSleep()
    with make_client(sim.base_url, sleep=sleep) as client, pytest.raises(InfobipError) as caught:
        client.push_to_registration(APP, "REG-1", "Only once")
    assert (caught.value.status, caught.value.in_doubt) == (502, True)
    assert "in doubt" in str(caught.value)
    assert sleep.delays == []
    assert len(sim.admin("GET", "pushes")["pushes"]) == 1


@pytest.mark.parametrize(
    "send",
    [
        lambda c: c.push_to_registration(APP, "REG-1", "x"),
        lambda c: c.create_configuration(APP),
        lambda c: c.create_action(APP, "any", "PULL"),
    ],
)
def test_sends_are_not_retried_after_a_5xx_or_a_timeout(sim: SimulatorProcess, send: Any) -> None:
    sleep = RecordingSleep()
    sim.faults(error_burst=5)
    with make_client(sim.base_url, sleep=sleep) as client, pytest.raises(InfobipError) as caught:
        send(client)
    assert caught.value.in_doubt and sleep.delays == []
    assert sim.counters()["injected_errors"] == 1
    sim.faults(error_burst=0, slow_seconds=1.0)
    with (
        make_client(sim.base_url, sleep=sleep, read_timeout=0.2) as client,
        pytest.raises(InfobipTransportError) as timed_out,
    ):
        send(client)
    assert timed_out.value.in_doubt and timed_out.value.timed_out and not timed_out.value.refused
    assert sleep.delays == []


def test_sends_are_retried_when_infobip_certainly_did_not_act(sim: SimulatorProcess) -> None:
    sleep = RecordingSleep()
    nobody = f"http://127.0.0.1:{free_port()}"
    with make_client(nobody, sleep=sleep, max_tries=3) as client, pytest.raises(InfobipTransportError) as refused:
        client.push_to_registration(APP, "REG-1", "x")
    assert refused.value.refused and not refused.value.in_doubt
    assert len(sleep.delays) == 2
    sim.reset(requests_per_second=1)  # the configuration endpoints are throttled: the second call gets 429
    with make_client(sim.base_url, sleep=sleep, max_tries=40, base_seconds=0.05, max_seconds=0.3) as client:
        client.list_configurations(APP)
        assert client.create_configuration(APP)
    assert sim.counters()["throttled"] >= 1
    assert len(sim.state()["applications"][APP]["configuration"] or "") > 0


def _error(status: int, body: bytes) -> InfobipError:
    return error_from_response(httpx.Response(status, content=body), "GET", "/x")


def test_every_error_shape_infobip_answers_is_read() -> None:
    legacy = _error(
        400,
        b'{"requestError": {"serviceException": {"messageId": "6", "text": "Configuration does not exist",'
        b' "validationErrors": {"to": ["bad"]}}}}',
    )
    assert (legacy.message_id, legacy.text, legacy.validation_errors) == (
        "6",
        "Configuration does not exist",
        {"to": ["bad"]},
    )
    for empty in (b'{"requestError": null}', b'{"requestError": {"serviceException": null}}', b"[]", b"null", b""):
        error = _error(500, empty)
        assert (error.status, error.message_id) == (500, None)
    newer = _error(
        400,
        b'{"errorCode": "E400", "description": "Request cannot be processed.", "action": "Check the syntax",'
        b' "violations": [{"property": "messages[0].destinations", "violation": "must not be empty"}],'
        b' "resources": []}',
    )
    assert (newer.message_id, newer.text) == ("E400", "Request cannot be processed.")
    assert newer.validation_errors == {"messages[0].destinations": ["must not be empty"]}


def test_a_base_url_without_a_scheme_is_https() -> None:
    assert with_scheme("xyz123.api.infobip.com/") == "https://xyz123.api.infobip.com"
    assert with_scheme("http://127.0.0.1:9090") == "http://127.0.0.1:9090"
    with make_client("xyz123.api.infobip.com") as client:
        assert client.base_url == "https://xyz123.api.infobip.com"
