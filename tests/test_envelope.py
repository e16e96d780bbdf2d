from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import pytest

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.infobip.envelope import (
    InfobipResult,
    InvalidEnvelope,
    Normalized,
    Unreadable,
    normalize,
    parse_envelope,
    read_envelope,
)
from tests.support import envelope, result


def normalize_one(**fields: object) -> UserResponse:
    (normalized,) = normalize(read_envelope(orjson.dumps(envelope(result("m1", **fields)))), "forward").responses
    return UserResponse.model_validate_json(normalized.json)


def test_wire_field_names_are_user_response_field_names() -> None:
    # The receiver writes UserResponse JSON straight from the validated wire model.
    assert set(InfobipResult.model_fields) < set(UserResponse.model_fields)


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2017-01-05T12:47:56.221+0000", datetime(2017, 1, 5, 12, 47, 56, 221000, tzinfo=UTC)),
        ("2017-01-05T13:47:56.221+0100", datetime(2017, 1, 5, 12, 47, 56, 221000, tzinfo=UTC)),
        ("2017-01-05T07:17:56.221-05:30", datetime(2017, 1, 5, 12, 47, 56, 221000, tzinfo=UTC)),
        ("2017-01-05T12:47:56Z", datetime(2017, 1, 5, 12, 47, 56, tzinfo=UTC)),
        ("2017-01-05T12:47:56.221", datetime(2017, 1, 5, 12, 47, 56, 221000, tzinfo=UTC)),
    ],
)
def test_received_at_is_utc_whatever_the_offset_format(sent: str, expected: datetime) -> None:
    response = normalize_one(receivedAt=sent)
    assert response.received_at == expected
    assert response.received_at.utcoffset().total_seconds() == 0


def test_every_infobip_field_is_mapped_to_snake_case() -> None:
    response = normalize_one(
        pairedMessageId="p1",
        subscriberId="s1",
        callbackData="cb",
        customPayload={"key1": 1, "nested": {"a": [1, 2]}},
        bulkId="b1",
        initialMessageId="i1",
    )
    dumped = response.model_dump(mode="json")
    assert dumped["message_id"] == "m1"
    assert dumped["registration_id"] == "REG-m1"
    assert dumped["application_code"] == "app-1"
    assert dumped["to"] == "app-1"
    assert dumped["text"] == "KEY hello"
    assert dumped["clean_text"] == "hello"
    assert dumped["keyword"] == "KEY"
    assert dumped["paired_message_id"] == "p1"
    assert dumped["subscriber_id"] == "s1"
    assert dumped["callback_data"] == "cb"
    assert dumped["custom_payload"] == {"key1": 1, "nested": {"a": [1, 2]}}
    assert dumped["bulk_id"] == "b1"
    assert dumped["initial_message_id"] == "i1"
    assert dumped["source"] == "forward"
    assert dumped["schema_version"] == 2
    assert dumped["extra_fields"] == {}


def test_unknown_fields_are_kept_not_rejected() -> None:
    response = normalize_one(newField="x", deviceInfo={"os": "iOS", "version": 17})
    assert response.extra_fields == {"newField": "x", "deviceInfo": {"os": "iOS", "version": 17}}


def test_unicode_and_emoji_survive_the_round_trip() -> None:
    text = "ČĆŽ 日本語 مرحبا 🍕👍🏽 \u200d"
    response = normalize_one(text=text, cleanText=text)
    again = UserResponse.model_validate_json(response.model_dump_json())
    assert again.text == text
    assert again == response


def test_optional_fields_may_be_missing_or_null() -> None:
    response = normalize_one(keyword=None, customPayload=None)
    assert response.keyword is None
    assert response.custom_payload is None
    assert response.subscriber_id is None


def test_numeric_message_id_is_taken_as_text() -> None:
    assert normalize_one(messageId=1561984815238926404).message_id == "1561984815238926404"


def test_envelope_level_counts_are_optional() -> None:
    parsed = parse_envelope(b'{"results": []}')
    assert parsed.results == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        (b'{"result": []}', "results"),
        (b'{"results": {}}', "results"),
    ],
)
def test_a_body_that_is_not_an_envelope_names_the_field(body: bytes, field: str) -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        read_envelope(body)
    assert field in [error.field for error in caught.value.errors]


def read_one(item: object) -> tuple[list[UserResponse], list[Unreadable]]:
    """Read an envelope of an ordinary result and `item`: the responses made, and what is set aside."""
    normalization = normalize(read_envelope(orjson.dumps(envelope(result("ok"), item))), "forward")  # type: ignore[arg-type]
    return [UserResponse.model_validate_json(n.json) for n in normalization.responses], normalization.unreadable


@pytest.mark.parametrize(
    ("odd", "check"),
    [
        ({"text": None, "cleanText": None}, lambda r: r.text is None and r.clean_text is None),
        ({"cleanText": None}, lambda r: r.clean_text == "hello"),  # derived from text and keyword
        ({"to": None}, lambda r: r.to is None and r.application_code == "app-1"),
        ({"from": None}, lambda r: r.registration_id is None),
        (
            {"receivedAt": "2017-01-05T14:47:56.221+02"},
            lambda r: r.received_at == datetime(2017, 1, 5, 12, 47, 56, 221000, tzinfo=UTC),
        ),
        (
            {"receivedAt": 1483620476221},
            lambda r: r.received_at == datetime(2017, 1, 5, 12, 47, 56, 221000, tzinfo=UTC),
        ),
        (
            {"receivedAt": "yesterday"},
            lambda r: r.received_at is None and r.extra_fields == {"receivedAt": "yesterday"},
        ),
        ({"customPayload": '{"a": 1}'}, lambda r: r.custom_payload == {"a": 1}),
        ({"customPayload": [1, 2]}, lambda r: r.custom_payload is None and r.extra_fields == {"customPayload": [1, 2]}),
        ({"text": {"body": "hi"}}, lambda r: r.text is None and r.extra_fields == {"text": {"body": "hi"}}),
        ({"keyword": 42}, lambda r: r.keyword == "42"),
    ],
)
def test_odd_results_are_normalized_or_kept_as_sent_beside_an_ordinary_one(
    odd: dict[str, object], check: Callable[[UserResponse], bool]
) -> None:
    responses, unreadable = read_one(result("odd", **odd))
    assert unreadable == []
    assert [r.message_id for r in responses] == ["ok", "odd"]
    assert check(responses[1]), responses[1]


def test_missing_fields_are_null_and_clean_text_is_derived() -> None:
    item = {"messageId": "odd", "applicationCode": "app-1", "text": "yes please", "keyword": "YES"}
    responses, unreadable = read_one(item)
    assert unreadable == []
    odd = responses[1]
    assert (odd.registration_id, odd.to, odd.received_at, odd.bulk_id) == (None, None, None, None)
    assert odd.clean_text == "please"


def test_application_code_falls_back_to_to() -> None:
    item = {key: value for key, value in result("odd", to="app-2").items() if key != "applicationCode"}
    responses, _ = read_one(item)
    assert responses[1].application_code == "app-2"


@pytest.mark.parametrize(
    ("item", "reason", "message_id"),
    [
        (result(""), "messageId", None),
        ({k: v for k, v in result("m2").items() if k != "messageId"}, "messageId", None),
        ({"messageId": "m2"}, "applicationCode", "m2"),
        ("not an object", "not a JSON object", None),
    ],
)
def test_a_result_that_cannot_be_normalized_is_set_aside_raw_with_why(
    item: object, reason: str, message_id: str | None
) -> None:
    responses, unreadable = read_one(item)
    assert [r.message_id for r in responses] == ["ok"]
    (aside,) = unreadable
    assert reason in aside.reason
    assert aside.message_id == message_id
    assert aside.index == 1
    assert orjson.loads(aside.raw) == item


def test_a_value_that_cannot_be_stored_sets_that_result_aside() -> None:
    body = orjson.dumps(envelope(result("ok"), result("m2", customPayload={"n": "BIG"})))
    normalization = normalize(read_envelope(body.replace(b'"BIG"', str(2**70).encode())), "forward")
    assert [n.message_id for n in normalization.responses] == ["ok"]
    (aside,) = normalization.unreadable
    assert "cannot be stored" in aside.reason
    assert aside.message_id == "m2"


def test_version_1_documents_still_validate() -> None:
    current = normalize_one().model_dump(mode="json")
    old = UserResponse.model_validate({**current, "schema_version": 1})
    assert old.schema_version == 1


def test_counts_of_an_odd_shape_do_not_refuse_the_results() -> None:
    body = orjson.dumps({"results": [result("ok")], "messageCount": "one", "pendingMessageCount": "7"})
    read = read_envelope(body)
    assert [r.message_id for r in read.envelope.results] == ["ok"]
    assert (read.envelope.message_count, read.envelope.pending_message_count) == (None, 7)


def test_a_result_reads_the_same_beside_one_that_cannot_be_read() -> None:
    # An envelope whose every result validates is read in one pass; one beside an unreadable result too, that
    # result alone read again: each readable result comes out the same either way.
    odd_shapes = [
        result("a"),
        result("b", keyword=42, customPayload={"nested": {"deep": [1, 2]}}),
        result("c", receivedAt="2017-01-05T14:47:56.221+02:00", extra="kept"),
        result("d", applicationCode="   ", to="app-from-to"),
    ]
    alone = normalize(read_envelope(orjson.dumps(envelope(*odd_shapes))), "forward")
    beside = normalize(read_envelope(orjson.dumps(envelope(*odd_shapes, {"messageId": "x"}))), "forward")

    def fields(n: Normalized) -> dict[str, object]:
        return {k: v for k, v in orjson.loads(n.json).items() if k != "ingested_at"}

    assert alone.unreadable == []
    assert [u.message_id for u in beside.unreadable] == ["x"]
    assert [fields(n) for n in alone.responses] == [fields(n) for n in beside.responses]
    assert fields(alone.responses[3])["application_code"] == "app-from-to"  # a blank code is mended from `to`


def test_a_blank_application_code_with_no_usable_to_is_set_aside_as_blank() -> None:
    responses, unreadable = read_one(result("m2", applicationCode=" ", to=""))
    assert [r.message_id for r in responses] == ["ok"]
    (aside,) = unreadable
    assert aside.reason == "applicationCode: must not be blank"
    assert aside.message_id == "m2"
