"""Identities are exact and bounded: a number that is not an exact integer never becomes a message id (it would
collide: `1e999` read as "inf"), an id or field over its bound is quarantined as sent and never becomes a key,
a duplicate key is refused by name, and non-finite numbers elsewhere keep their source text. Read by the real
envelope reader, and through a real receiver into a real Redis."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import httpx
import orjson
import pytest
import redis

from infobip_inbound.contract.store.keys import QUARANTINE_KEY
from infobip_inbound.infobip.envelope import MAX_ID_CHARS, MAX_TEXT_CHARS, InvalidEnvelope, normalize, read_envelope
from tests.conftest import TOKEN
from tests.support import ReceiverProcess, forward, result

BASE = b'"applicationCode":"app-1","text":"hi"'


def read(body: bytes) -> tuple[list[dict[str, object]], list[tuple[str, bytes, str | None]]]:
    normalized = normalize(read_envelope(body), "forward")
    return (
        [orjson.loads(r.json) for r in normalized.responses],
        [(u.reason, u.raw, u.message_id) for u in normalized.unreadable],
    )


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"1.5", b"1e3", b"2.0", b"NaN", b"Infinity", b"-Infinity"])
def test_a_message_id_that_is_not_an_exact_integer_is_quarantined_as_sent(number: bytes) -> None:
    sent = b'{"messageId":' + number + b"," + BASE + b"}"
    responses, unreadable = read(b'{"results":[' + sent + b"]}")
    assert responses == []
    assert unreadable == [("messageId: must be a JSON string or an integer written exactly", sent, None)]


@pytest.mark.parametrize("number", [b"123", b"-7", b"12345678901234567890123456789"])
def test_an_integer_id_is_read_as_written(number: bytes) -> None:
    responses, unreadable = read(b'{"results":[{"messageId":' + number + b"," + BASE + b"}]}")
    assert [r["message_id"] for r in responses] == [number.decode()] and unreadable == []


def test_non_finite_numbers_elsewhere_keep_their_source_text() -> None:
    body = b'{"results":[{"messageId":"m1","customPayload":{"a":NaN,"b":1.5},"odd":[1e999,-Infinity],' + BASE + b"}]}"
    responses, unreadable = read(body)
    assert unreadable == []
    [response] = responses
    assert response["custom_payload"] is None  # set aside, as sent but for the numbers no float holds
    assert response["extra_fields"] == {"customPayload": {"a": "NaN", "b": 1.5}, "odd": ["1e999", "-Infinity"]}


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"results":[{"messageId":"m1",' + BASE + b'}],"results":[]}', "results"),
        (b'{"results":[{"messageId":"m1","messageId":"m2",' + BASE + b"}]}", "messageId"),
        (b'{"results":[{"messageId":"m1","customPayload":{"k":1,"k" :2},' + BASE + b"}]}", "k"),
    ],
)
def test_a_duplicate_key_is_refused_by_name(body: bytes, key: str) -> None:
    with pytest.raises(InvalidEnvelope, match=f"'{key}' appears twice"):
        read_envelope(body)


def test_quotes_and_colons_inside_strings_are_no_duplicates() -> None:
    body = b'{"results":[{"messageId":"a\\":\\":","note":"\\":x","x":"\\u0022:",' + BASE + b"}]}"
    responses, unreadable = read(body)
    assert [r["message_id"] for r in responses] == ['a":":'] and unreadable == []


@pytest.mark.parametrize(
    "field", ["messageId", "applicationCode", "from", "to", "bulkId", "keyword", "pairedMessageId", "text"]
)
def test_a_field_over_its_bound_quarantines_the_result_whole(field: str) -> None:
    bound = MAX_TEXT_CHARS if field == "text" else MAX_ID_CHARS
    sent = {**result("m-long"), field: "x" * (bound + 1)}
    responses, unreadable = read(orjson.dumps({"results": [sent, result("m-ok")]}))
    assert [r["message_id"] for r in responses] == ["m-ok"]
    [(reason, raw, message_id)] = unreadable
    assert field in reason and orjson.loads(raw) == sent
    assert message_id == (None if field == "messageId" else "m-long")
    within = {**result("m-in"), field: "y" * bound}
    assert [r["message_id"] for r in read(orjson.dumps({"results": [within]}))[0]] == [
        "y" * bound if field == "messageId" else "m-in"
    ]


def test_through_the_receiver(
    base_env: dict[str, str], start_receiver: Callable[..., ReceiverProcess], redis_client: redis.Redis
) -> None:
    receiver = start_receiver(base_env)
    url = f"{receiver.base_url}/infobip/forward/{TOKEN}"
    # `1e999` is quarantined, so the real id "inf" later is not taken for its duplicate.
    answer = httpx.post(url, content=b'{"results":[{"messageId":1e999,' + BASE + b"}]}", timeout=10)
    assert answer.json() == {"accepted": 0, "duplicates": 0, "quarantined": 1}
    assert forward(receiver, result("inf")) == {"accepted": 1, "duplicates": 0, "quarantined": 0}
    # A duplicate key: 400 naming it, nothing stored.
    duplicated = httpx.post(url, content=b'{"results":[],"results":[{"messageId":"d1",' + BASE + b"}]}", timeout=10)
    assert duplicated.status_code == 400 and duplicated.json()["error"] == "invalid_envelope"
    assert "'results' appears twice" in duplicated.text
    # Five 1 MB ids: quarantined as sent, never made into keys.
    huge = "h" * 1_000_000
    keys_before = redis_client.dbsize()
    for _ in range(5):
        body = orjson.dumps({"results": [{**result("x"), "messageId": huge}]})
        assert httpx.post(url, content=body, timeout=30).json()["quarantined"] == 1
    assert not any(len(key) > 1000 for key in redis_client.scan_iter(count=1000))
    assert redis_client.dbsize() - keys_before <= 2  # at most the quarantine's own hash and index were new
    kept = [orjson.loads(entry) for entry in redis_client.hvals(QUARANTINE_KEY)]
    assert sum(1 for entry in kept if huge in str(entry)) >= 1  # the result is kept as sent


@pytest.mark.parametrize("depth", [199, 200, 230, 254, 255, 300, 1100])
def test_nesting_past_a_parser_limit_is_an_answer_not_a_crash(depth: int) -> None:
    """The cheap check's parse, its re-serialization and the careful parser each have a nesting limit of their
    own: past any of them the plain read answers (refused as too deep, or read)."""
    for inner in (b"[" * depth + b"1" + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        for field in (b'"customPayload":{"x":' + inner + b"}", b'"newField":' + inner):
            body = b'{"results":[{"messageId":"deep",' + field + b"," + BASE + b"}]}"
            with contextlib.suppress(InvalidEnvelope):  # refused as too deep: an answer
                read_envelope(body)
