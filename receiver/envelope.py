"""Infobip's `results` envelope (HTTP_FORWARD body and PULL answer) and its normalization to UserResponse."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infobip_inbound.model import Source, UserResponse, as_utc


class InfobipResult(BaseModel):
    """One result as Infobip sends it. Unknown fields are allowed and kept."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    message_id: str = Field(alias="messageId", min_length=1)
    registration_id: str = Field(alias="from")
    to: str
    application_code: str = Field(alias="applicationCode", min_length=1)
    received_at: datetime = Field(alias="receivedAt")
    text: str
    clean_text: str = Field(alias="cleanText")
    paired_message_id: str | None = Field(default=None, alias="pairedMessageId")
    subscriber_id: str | None = Field(default=None, alias="subscriberId")
    callback_data: str | None = Field(default=None, alias="callbackData")
    keyword: str | None = None
    custom_payload: dict[str, Any] | None = Field(default=None, alias="customPayload")
    bulk_id: str | None = Field(default=None, alias="bulkId")
    initial_message_id: str | None = Field(default=None, alias="initialMessageId")


class InfobipEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow")

    results: list[InfobipResult]
    message_count: int | None = Field(default=None, alias="messageCount")
    pending_message_count: int | None = Field(default=None, alias="pendingMessageCount")


class FieldError(BaseModel):
    field: str
    message: str


class InvalidEnvelope(ValueError):
    """The body is not a valid Infobip envelope; `errors` name each offending field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def parse_envelope(body: bytes) -> InfobipEnvelope:
    """Parse and validate a raw envelope, raising InvalidEnvelope with the offending fields."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidEnvelope([FieldError(field="body", message=f"malformed JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise InvalidEnvelope([FieldError(field="body", message="must be a JSON object with a results array")])
    try:
        return InfobipEnvelope.model_validate(data)
    except ValidationError as exc:
        errors = [
            FieldError(field=_field_path(err["loc"]), message=err["msg"])
            for err in exc.errors(include_url=False, include_input=False)[:20]
        ]
        raise InvalidEnvelope(errors) from None


def normalize(result: InfobipResult, source: Source, ingested_at: datetime) -> UserResponse:
    # The wire model has validated every field already; build without validating twice.
    return UserResponse.model_construct(
        message_id=result.message_id,
        application_code=result.application_code,
        registration_id=result.registration_id,
        to=result.to,
        text=result.text,
        clean_text=result.clean_text,
        received_at=as_utc(result.received_at),
        subscriber_id=result.subscriber_id,
        keyword=result.keyword,
        custom_payload=result.custom_payload,
        callback_data=result.callback_data,
        paired_message_id=result.paired_message_id,
        bulk_id=result.bulk_id,
        initial_message_id=result.initial_message_id,
        source=source,
        ingested_at=ingested_at,
        extra_fields=dict(result.model_extra or {}),
    )


def normalize_envelope(envelope: InfobipEnvelope, source: Source) -> list[UserResponse]:
    ingested_at = datetime.now(UTC)
    return [normalize(result, source, ingested_at) for result in envelope.results]
