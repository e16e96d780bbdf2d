"""The normalized model: the only thing that crosses from the receiver to the workers and handlers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

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
        default=SCHEMA_VERSION,
        description="Version of this model (SCHEMA_VERSION) when the response was queued; a response queued by a"
        " newer release is handed over as this version (read_response).",
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
        description="Result fields Infobip sent that this version does not know, as sent; in a response queued by"
        " a newer release, also the fields of its model that this version does not know.",
    )

    @field_validator("received_at", "ingested_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)


class UnreadableResponse(ValueError):
    """A queued response this release cannot hand to a handler: not a JSON object, or a field every
    response must have (message_id, application_code, source, ingested_at) in a form this version cannot
    take. The entry itself is kept (dead-lettered) for a release that can read it."""


@dataclass(frozen=True, slots=True)
class Read:
    """A queued response as this release hands it over, and how it was written."""

    response: UserResponse
    written_version: int  # the writer's schema_version: above SCHEMA_VERSION when a newer release queued it
    unknown: tuple[str, ...] = ()  # the writer's fields this version does not know, now in extra_fields

    @property
    def newer(self) -> bool:
        return self.written_version > SCHEMA_VERSION


# The fields every response has; any other field of this version is nullable.
_REQUIRED = frozenset(name for name, field in UserResponse.model_fields.items() if field.is_required())


def read_response(document: bytes | str) -> Read:
    """Read a UserResponse queued by this release, the previous one or a newer one (a rolling upgrade runs
    them side by side): be lenient in what is read, strict in what is handed over.

    - This version's and earlier versions' documents validate as they are (version 1 is a subset of 2).
    - A field this version does not know (a newer writer's) is moved into `extra_fields`; an `extra_fields`
      key the writer set itself wins over it (that is the value as Infobip sent it).
    - A document of a higher `schema_version` is read as this version: a nullable field whose value this
      version cannot take is null and its value kept in `extra_fields` under the field's name, and
      `schema_version` says SCHEMA_VERSION, so a handler gets exactly the model it was written against.
      `Read.written_version` tells the caller (the workers warn and count it).
    - Anything else is UnreadableResponse.
    """
    try:
        response = UserResponse.model_validate_json(document)
    except ValidationError:
        pass  # the fast path is every entry this release wrote; read the rest field by field
    else:
        return Read(response, response.schema_version)
    try:
        data = orjson.loads(document)
    except orjson.JSONDecodeError as exc:
        raise UnreadableResponse(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UnreadableResponse("not a JSON object")
    version = data.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise UnreadableResponse(f"schema_version {version!r} is not a version number")
    extra = data.get("extra_fields")
    extra = dict(extra) if isinstance(extra, dict) else {}
    unknown = tuple(sorted(name for name in data if name not in UserResponse.model_fields))
    for name in unknown:
        extra.setdefault(name, data.pop(name))
    data["extra_fields"] = extra
    newer = version > SCHEMA_VERSION
    if newer:
        data["schema_version"] = SCHEMA_VERSION
        for error in _errors(data):
            name = error["loc"][0] if error["loc"] else None
            if not isinstance(name, str) or name in _REQUIRED or name not in data:
                continue  # a field every response must have: unreadable, below
            extra.setdefault(name, data[name])
            data[name] = None
    try:
        return Read(UserResponse.model_validate(data), version, unknown)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise UnreadableResponse(f"schema_version {version}: {problems}") from None


def _errors(data: dict[str, Any]) -> list[Any]:
    try:
        UserResponse.model_validate(data)
    except ValidationError as exc:
        return list(exc.errors(include_url=False))
    return []


def json_schema() -> dict[str, Any]:
    """The JSON Schema published for downstream teams."""
    schema = UserResponse.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://infobip-inbound/schemas/user-response/v{SCHEMA_VERSION}.json"
    return schema
