"""The forward endpoint over real HTTP (uvicorn in a child process) against a real redis-server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from infobip_inbound.contract.store.entries import decode_entry
from infobip_inbound.contract.store.keys import INBOX_PREFIX, SEEN_PREFIX, STATS_KEY, inbox_key
from infobip_inbound.shell.redis_server import RedisServer
from tests.conftest import TOKEN
from tests.support import ReceiverProcess, envelope, result, wait_until

StartReceiver = Callable[[dict[str, str]], ReceiverProcess]
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def receiver(start_receiver: StartReceiver, base_env: dict[str, str]) -> ReceiverProcess:
    return start_receiver({**base_env, "INBOUND_MAX_BODY_BYTES": "20000"})


def post(
    receiver: ReceiverProcess, body: object, path: str = f"/infobip/forward/{TOKEN}", **kw: object
) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = kw.pop("headers", JSON)
    return httpx.post(receiver.base_url + path, content=content, headers=headers, timeout=10, **kw)  # type: ignore[arg-type]


def queued_responses(client: redis.Redis) -> list[dict[str, object]]:
    found = []
    for key in client.scan_iter(INBOX_PREFIX + "*"):
        if client.type(key) == b"list":
            found += [orjson.loads(decode_entry(raw)[1]) for raw in client.lrange(key, 0, -1)]
    return found


def test_accepts_one_and_many_results(receiver: ReceiverProcess, redis_client: redis.Redis) -> None:
    one = post(receiver, envelope(result("a1")))
    assert one.status_code == 200
    assert one.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
    many = post(receiver, envelope(*(result(f"b{i}") for i in range(30))))
    assert many.json() == {"accepted": 30, "duplicates": 0, "quarantined": 0}
    queued = queued_responses(redis_client)
    assert sorted(r["message_id"] for r in queued) == sorted(["a1", *(f"b{i}" for i in range(30))])
    assert {r["source"] for r in queued} == {"forward"}
    assert redis_client.llen(inbox_key("infobip-inbound")) == 31
    # One real RQ job waits to drain the inbox, however many requests came.
    from rq import Queue

    queue = Queue("infobip-inbound", connection=redis_client)
    assert queue.count == 1
    job = queue.jobs[0]
    assert job.func_name == "infobip_inbound.workers.jobs.drain_inbox"
    assert job.args == ("infobip-inbound",)


def test_duplicates_are_answered_200_and_not_queued_again(receiver: ReceiverProcess, redis_client: redis.Redis) -> None:
    assert post(receiver, envelope(result("d1"), result("d2"))).json() == {
        "accepted": 2,
        "duplicates": 0,
        "quarantined": 0,
    }
    again = post(receiver, envelope(result("d2"), result("d3"), result("d3")))
    assert again.status_code == 200
    assert again.json() == {"accepted": 1, "duplicates": 2, "quarantined": 0}
    assert sorted(r["message_id"] for r in queued_responses(redis_client)) == ["d1", "d2", "d3"]
    assert redis_client.hgetall(STATS_KEY) == {b"accepted": b"3", b"duplicates": b"2"}
    ttl = redis_client.ttl(SEEN_PREFIX + "d1")
    assert 0 < ttl <= 72 * 3600


def test_empty_results_is_fine(receiver: ReceiverProcess) -> None:
    answer = post(receiver, {"results": [], "messageCount": 0, "pendingMessageCount": 0})
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 0, "duplicates": 0, "quarantined": 0}


def test_malformed_json_is_400_naming_the_body(receiver: ReceiverProcess, redis_client: redis.Redis) -> None:
    answer = post(receiver, b'{"results": [')
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_envelope"
    assert answer.json()["fields"][0]["field"] == "body"
    assert queued_responses(redis_client) == []


def test_invalid_envelope_is_400_naming_the_field(receiver: ReceiverProcess, redis_client: redis.Redis) -> None:
    answer = post(receiver, {"results": {"0": result("ok1")}})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"
    assert [f["field"] for f in answer.json()["fields"]] == ["results"]
    assert queued_responses(redis_client) == []
    assert not redis_client.exists(SEEN_PREFIX + "ok1")


def test_a_result_without_application_code_takes_it_from_to(
    receiver: ReceiverProcess, redis_client: redis.Redis
) -> None:
    bad = result("x1", to="app-2")
    del bad["applicationCode"]
    answer = post(receiver, envelope(result("ok1"), bad))
    assert answer.json() == {"accepted": 2, "duplicates": 0, "quarantined": 0}
    assert {r["message_id"]: r["application_code"] for r in queued_responses(redis_client)} == {
        "ok1": "app-1",
        "x1": "app-2",
    }


@pytest.mark.parametrize("path", ["/infobip/forward/wrong-token", "/infobip/forward", f"/infobip/forward/{TOKEN}x"])
def test_bad_credentials_are_401(receiver: ReceiverProcess, path: str) -> None:
    answer = post(receiver, envelope(result("u1")), path=path)
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"
    assert TOKEN not in answer.text


def test_basic_auth_with_rotation(start_receiver: StartReceiver, base_env: dict[str, str]) -> None:
    env = {
        **base_env,
        "INBOUND_FORWARD_TOKENS": "",
        "INBOUND_FORWARD_BASIC_AUTH": "infobip:old-pw-0123456789ab,infobip:new-pw-0123456789ab",
    }
    receiver = start_receiver(env)
    for password, status in [("old-pw-0123456789ab", 200), ("new-pw-0123456789ab", 200), ("wrong", 401)]:
        answer = post(receiver, envelope(result(f"ba-{password}")), path="/infobip/forward", auth=("infobip", password))
        assert answer.status_code == status
    unauthenticated = post(receiver, envelope(result("ba-none")), path="/infobip/forward")
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["www-authenticate"].startswith("Basic")


def test_auth_disabled_only_when_explicit(start_receiver: StartReceiver, base_env: dict[str, str]) -> None:
    receiver = start_receiver({**base_env, "INBOUND_FORWARD_TOKENS": "", "INBOUND_AUTH_DISABLED": "true"})
    assert post(receiver, envelope(result("open1")), path="/infobip/forward").status_code == 200


def test_receiver_refuses_to_start_without_credentials(tmp_path: Path, base_env: dict[str, str]) -> None:
    receiver = ReceiverProcess({**base_env, "INBOUND_FORWARD_TOKENS": ""}, tmp_path / "nocreds.log")
    with pytest.raises(AssertionError, match="exited"):
        receiver.start()
    assert "INBOUND_FORWARD_TOKENS" in receiver.log()


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "text/plain; charset=ISO-8859-1", "application/x-json", "application/x-www-form-urlencoded"],
)
def test_an_envelope_is_read_whatever_its_content_type(receiver: ReceiverProcess, content_type: str | None) -> None:
    """Infobip does not document the forward's headers: a refusal for its form would be retried for ever."""
    headers = {"Content-Type": content_type} if content_type else {}
    message_id = f"c1-{content_type}"
    answer = post(receiver, envelope(result(message_id)), headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
    # A body that is not an envelope is refused for that, whatever its type; the size limit still holds.
    assert post(receiver, b"x", headers=headers).json()["error"] == "invalid_envelope"


def test_json_with_charset_is_accepted(receiver: ReceiverProcess) -> None:
    answer = post(receiver, envelope(result("cs1")), headers={"Content-Type": "application/json; charset=utf-8"})
    assert answer.status_code == 200


def test_body_over_the_limit_is_413_by_content_length(receiver: ReceiverProcess) -> None:
    big = envelope(*(result(f"big{i}", text="x" * 1000) for i in range(30)))
    answer = post(receiver, big)
    assert answer.status_code == 413
    assert answer.json()["error"] == "payload_too_large"


def test_body_over_the_limit_is_413_while_streaming(receiver: ReceiverProcess, redis_client: redis.Redis) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"results": ['
        for i in range(1000):  # far beyond the 20,000-byte limit; the server stops reading early
            chunk = orjson.dumps(result(f"s{i}", text="y" * 500)) + b","
            sent += len(chunk)
            yield chunk
        yield b"{}]}"

    try:
        answer = httpx.post(receiver.base_url + f"/infobip/forward/{TOKEN}", content=chunks(), headers=JSON, timeout=10)
    except httpx.TransportError:
        return  # the server may close the connection while the client still sends: refused either way
    assert answer.status_code == 413
    assert queued_responses(redis_client) == []


def test_health_endpoints(receiver: ReceiverProcess) -> None:
    assert httpx.get(receiver.base_url + "/health/live").json() == {"status": "ok"}
    ready = httpx.get(receiver.base_url + "/health/ready")
    assert ready.status_code == 200
    assert ready.json()["redis"] == "ok"


def test_redis_down_answers_503_then_recovers_without_restart(
    start_receiver: StartReceiver, base_env: dict[str, str], tmp_path: Path
) -> None:
    own = RedisServer(data_dir=tmp_path / "redis")
    own.start()
    try:
        receiver = start_receiver({**base_env, "INBOUND_REDIS_URL": own.url})
        assert post(receiver, envelope(result("r1"))).status_code == 200

        own.stop()
        down = post(receiver, envelope(result("r2")))
        assert down.status_code == 503
        assert down.json()["error"] == "unavailable"
        assert int(down.headers["retry-after"]) >= 1
        assert httpx.get(receiver.base_url + "/health/ready").status_code == 503
        assert httpx.get(receiver.base_url + "/health/live").status_code == 200

        own.start()  # same port, same append-only file
        wait_until(lambda: httpx.get(receiver.base_url + "/health/ready").status_code == 200, timeout=30)
        retried = post(receiver, envelope(result("r1"), result("r2")))
        assert retried.status_code == 200
        # r1 was stored before the outage (it survived the restart); r2 is new.
        assert retried.json() == {"accepted": 1, "duplicates": 1, "quarantined": 0}
    finally:
        own.cleanup()


def test_secret_token_never_logged(receiver: ReceiverProcess) -> None:
    post(receiver, envelope(result("l1")))
    post(receiver, envelope(result("l2")), path="/infobip/forward/wrong-secret-value")
    receiver.stop()
    log = receiver.log()
    assert "forward request" in log
    assert TOKEN not in log
    assert "wrong-secret-value" not in log


@pytest.mark.parametrize(
    "odd",
    [
        {"text": None},
        {"cleanText": None},
        {"to": None},
        {"customPayload": '{"campaign": "spring"}'},
        {"receivedAt": "2017-01-05T14:47:56.221+02"},
        {"receivedAt": "not a time"},
        {"from": None, "bulkId": None, "initialMessageId": None},
    ],
)
def test_an_odd_result_beside_an_ordinary_one_is_queued_with_it(
    receiver: ReceiverProcess, redis_client: redis.Redis, odd: dict[str, object]
) -> None:
    answer = post(receiver, envelope(result("plain"), result("odd", **odd)))
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 2, "duplicates": 0, "quarantined": 0}
    assert sorted(r["message_id"] for r in queued_responses(redis_client)) == ["odd", "plain"]


def test_a_result_that_cannot_be_read_is_quarantined_and_its_neighbours_queued(
    receiver: ReceiverProcess, redis_client: redis.Redis
) -> None:
    from infobip_inbound.contract.store import quarantine

    unreadable = {"text": "no message id", "applicationCode": "app-1"}
    body = envelope(result("plain-1"), unreadable, result("plain-2"))
    answer = post(receiver, body, headers={**JSON, "X-Request-ID": "req-42"})
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 2, "duplicates": 0, "quarantined": 1}
    assert sorted(r["message_id"] for r in queued_responses(redis_client)) == ["plain-1", "plain-2"]
    (entry,) = quarantine.select(redis_client)
    assert (entry.source, entry.kind, entry.request_id) == ("forward", "result", "req-42")
    assert "messageId" in entry.reason
    assert orjson.loads(entry.raw) == unreadable
    # Infobip retries the same body: the good ones are duplicates, the odd one replaces its own entry.
    again = post(receiver, body)
    assert again.json() == {"accepted": 0, "duplicates": 2, "quarantined": 1}
    assert quarantine.count(redis_client) == 1
    assert redis_client.hget(STATS_KEY, "quarantined") == b"1"


def test_a_body_that_is_not_an_envelope_is_refused_and_nothing_is_stored(
    receiver: ReceiverProcess, redis_client: redis.Redis
) -> None:
    from infobip_inbound.contract.store import quarantine

    answer = post(receiver, [result("x")])
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_envelope"
    assert queued_responses(redis_client) == []
    assert quarantine.count(redis_client) == 0
