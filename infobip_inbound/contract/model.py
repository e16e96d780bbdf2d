"""The normalized model: the only thing that crosses from the receiver to the workers and handlers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1

Source = Literal["forward", "pull"]


def as_utc(value: datetime) -> datetime:
    # Infobip sends an offset (usually +0000); a value without one is taken as UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UserResponse(BaseModel):
    """A mobile app user's response (a mobile-originated push message), as handlers receive it.

    Field names are the snake_case forms of Infobip's result fields; `registration_id` is Infobip's `from`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", title="UserResponse")

    schema_version: Literal[1] = Field(default=1, description="Version of this model (SCHEMA_VERSION).")
    message_id: str = Field(min_length=1, description="Infobip's messageId; unique per response.")
    application_code: str = Field(min_length=1)
    registration_id: str = Field(description="Push registration ID of the responding device (Infobip's `from`).")
    to: str = Field(description="Infobip's `to` (the application code).")
    text: str
    clean_text: str = Field(description="The text without its keyword.")
    received_at: AwareDatetime = Field(description="When Infobip received the response, in UTC.")
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
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


def json_schema() -> dict[str, Any]:
    """The JSON Schema published for downstream teams."""
    schema = UserResponse.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://infobip-inbound/schemas/user-response/v{SCHEMA_VERSION}.json"
    return schema
