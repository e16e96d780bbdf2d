"""Shared pieces of Infobip's send-side wire format: camelCase models, and the status, error and price
objects that send answers and delivery reports carry."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

log = logging.getLogger("infobip_inbound.infobip")


class Request(BaseModel):
    """A request body: snake_case in Python, camelCase on the wire. Unknown fields are refused (a typo
    would otherwise be sent and silently ignored)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def wire(self) -> dict[str, Any]:
        """The JSON body, exactly as Infobip documents it: camelCase, no unset fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Extensible(Request):
    """A request object Infobip may add fields to: `extra` holds them, sent beside the modelled fields as
    given. Explicit, so a typo in a modelled field is still refused rather than passed through."""

    extra: dict[str, Any] | None = Field(default=None, description="Fields Infobip added that are not modelled.")

    @model_validator(mode="after")
    def _extra_is_new(self) -> Extensible:
        modelled = {field.alias or name for name, field in type(self).model_fields.items()} | set(
            type(self).model_fields
        )
        clash = sorted(set(self.extra or {}) & modelled)
        if clash:
            raise ValueError(f"extra names modelled fields ({', '.join(clash)}): set them as fields")
        return self

    @model_serializer(mode="wrap")
    def _with_extra(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        data.pop("extra", None)
        if self.extra:
            data.update(self.extra)
        return data


def warn(message: str) -> None:
    """A request Infobip may accept that looks wrong to us: said, not refused (never stricter than Infobip)."""
    log.warning(message)


class Answer(BaseModel):
    """An answer body: Infobip adds fields over time, so unknown ones are accepted and kept."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Status(Answer):
    group_id: int | None = None
    group_name: str | None = None
    id: int | None = None
    name: str | None = None
    description: str | None = None
    action: str | None = None


class ReportError(Answer):
    group_id: int | None = None
    group_name: str | None = None
    id: int | None = None
    name: str | None = None
    description: str | None = None
    permanent: bool | None = None


class Price(Answer):
    price_per_message: float | None = None
    currency: str | None = None


def field_errors(exc: ValidationError) -> dict[str, list[str]]:
    """A validation failure by wire field (`messages[0].destinations[0].pushRegistrationId`), the shape of
    Infobip's `validationErrors`."""
    problems: dict[str, list[str]] = {}
    for error in exc.errors():
        field = ""
        for part in error["loc"]:
            field += f"[{part}]" if isinstance(part, int) else f".{part}" if field else str(part)
        problems.setdefault(field or "body", []).append(str(error["msg"]))
    return problems
