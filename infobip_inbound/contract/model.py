"""The normalized model: the only thing that crosses from the receiver to the workers and handlers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

# 2: `registration_id`, `to`, `text`, `clean_text` and `received_at` may be null (Infobip's SDKs may leave them
# out). Version 1 documents (queued before the upgrade) still validate: they are a subset of version 2.
SCHEMA_VERSION: Literal[2] = 2

Source = Literal["forward", "pull"]


def as_utc(value: datetime) -> datetime:
    # Infobip sends an offset (usually +0000); a value without one is taken as UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UserResponse(BaseModel):
    """A mobile app user's response (a mobile-originated push message), as handlers receive it.

    Field names are the snake_case forms of Infobip's result fields; `registration_id` is Infobip's `from`.
    A field Infobip left out is null; a value Infobip sent in a shape this version cannot normalize is null
    here and kept, as sent and under its Infobip name, in `extra_fields`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", title="UserResponse")

    schema_version: Literal[1, 2] = Field(
        default=SCHEMA_VERSION, description="Version of this model (SCHEMA_VERSION) when the response was queued."
    )
    message_id: str = Field(min_length=1, description="Infobip's messageId; unique per response.")
    application_code: str = Field(
        min_length=1, description="Infobip's applicationCode (or, when Infobip left it out, its `to`)."
    )
    registration_id: str | None = Field(
        default=None, description="Push registration ID of the responding device (Infobip's `from`)."
    )
    to: str | None = Field(default=None, description="Infobip's `to` (the application code).")
    text: str | None = Field(default=None, description="The response's text; null when the device sent none.")
    clean_text: str | None = Field(
        default=None, description="The text without its keyword (derived from `text` when Infobip left it out)."
    )
    received_at: AwareDatetime | None = Field(default=None, description="When Infobip received the response, in UTC.")
    subscriber_id: str | None = None
    keyword: str | None = None
    custom_payload: dict[str, Any] | None = None
    callback_data: str | None = Field(default=None, description="The callbackData set on the Infobip action.")
    paired_message_id: str | None = Field(default=None, description="The push message this responds to.")
    bulk_id: str | None = None
    initial_message_id: str | None = None
    source: Source = Field(description="How it reached us: HTTP_FORWARD (`forward`) or PULL (`pull`).")
    ingested_at: AwareDatetime = Field(description="When infobip-inbound accepted it, in UTC.")
    extra_fields: dict[str, Any] = Field(
        default_factory=dict,
        description="Result fields Infobip sent that this version does not know, as sent.",
    )

    @field_validator("received_at", "ingested_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)


def json_schema() -> dict[str, Any]:
    """The JSON Schema published for downstream teams."""
    schema = UserResponse.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://infobip-inbound/schemas/user-response/v{SCHEMA_VERSION}.json"
    return schema
