from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.infobip.envelope import (
    InfobipResult,
    InvalidEnvelope,
    normalize_envelope,
    parse_envelope,
    to_user_response,
)
from tests.support import envelope, result


def normalize_one(**fields: object) -> UserResponse:
    parsed = parse_envelope(orjson.dumps(envelope(result("m1", **fields))))
    return to_user_response(normalize_envelope(parsed, "forward")[0])


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
    assert dumped["schema_version"] == 1
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
        (orjson.dumps(envelope(result("m1", receivedAt="yesterday"))), "results[0].receivedAt"),
        (orjson.dumps(envelope(result("m1"), result(""))), "results[1].messageId"),
        (orjson.dumps(envelope(result("m1", customPayload=[1, 2]))), "results[0].customPayload"),
    ],
)
def test_invalid_envelopes_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        parse_envelope(body)
    assert field in [error.field for error in caught.value.errors]


def test_missing_required_fields_are_each_named() -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        parse_envelope(b'{"results": [{"messageId": "x"}]}')
    fields = {error.field for error in caught.value.errors}
    assert fields == {
        "results[0].from",
        "results[0].to",
        "results[0].applicationCode",
        "results[0].receivedAt",
        "results[0].text",
        "results[0].cleanText",
    }
