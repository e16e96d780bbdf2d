"""Infobip's `results` envelope (HTTP_FORWARD body and PULL answer) and its normalization to UserResponse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infobip_inbound.contract.model import SCHEMA_VERSION, Source, UserResponse, as_utc


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
        return InfobipEnvelope.model_validate_json(body)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False, include_input=False)[:20]:
            message = err["msg"]
            if err["type"] == "model_type" and not err["loc"]:
                message = "must be a JSON object with a results array"
            errors.append(FieldError(field=_field_path(err["loc"]), message=message))
        raise InvalidEnvelope(errors) from None


@dataclass(frozen=True, slots=True)
class Normalized:
    """One response ready to queue: its UserResponse JSON (what workers read) and the fields routing needs."""

    result: InfobipResult
    json: bytes

    @property
    def message_id(self) -> str:
        return self.result.message_id


def normalize_envelope(envelope: InfobipEnvelope, source: Source) -> list[Normalized]:
    """The envelope's results as UserResponse JSON. Built straight from the validated wire model: its field
    names are UserResponse's (tests hold the two together), so no second validation is needed."""
    common = {"schema_version": SCHEMA_VERSION, "source": source, "ingested_at": datetime.now(UTC)}
    try:
        return _normalize(envelope, common)
    except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits in customPayload
        raise InvalidEnvelope([FieldError(field="results", message=f"a value cannot be stored: {exc}")]) from None


def _normalize(envelope: InfobipEnvelope, common: dict[str, Any]) -> list[Normalized]:
    return [
        Normalized(
            result,
            orjson.dumps(
                {
                    **result.__dict__,
                    "received_at": as_utc(result.received_at),
                    **common,
                    "extra_fields": result.__pydantic_extra__ or {},
                }
            ),
        )
        for result in envelope.results
    ]


def to_user_response(normalized: Normalized) -> UserResponse:
    return UserResponse.model_validate_json(normalized.json)
