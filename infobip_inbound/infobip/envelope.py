"""Infobip's `results` envelope (HTTP_FORWARD body and PULL answer) and its normalization to UserResponse.

Liberal in what it accepts: Infobip documents most result fields as required, but its SDKs send a null body,
omit `bulkId`/`initialMessageId` on unprompted messages and treat every inbound field as optional. A result
becomes a UserResponse when it has a usable `messageId` and an application code (`applicationCode`, or `to`,
which Infobip sets to the same code) to route it by. Whatever else is missing stays empty; a value of a known
field that cannot be normalized is kept as sent in `extra_fields`. A result that cannot be made into a
UserResponse at all is handed back, raw and with the reason, to be quarantined: one odd result never takes
its neighbours down with it. Only a body that is not an envelope at all is refused as a whole.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from infobip_inbound.contract.model import SCHEMA_VERSION, Source, as_utc
from infobip_inbound.infobip import exact_json

# Length bounds of a result's string fields, in characters: far above what Infobip sends (its ids are about 20
# characters), so only a hostile or broken sender meets them. A result over one is quarantined as sent, whole:
# its values never become keys or fields (docs/reliability.md, "Limits").
MAX_ID_CHARS = 256
MAX_TEXT_CHARS = 65_536


def _timestamp(value: Any) -> Any:
    """ISO 8601 in any of its offset forms (`+0000`, `+02`, `+02:00`, `Z`, none = UTC), or Unix time in
    seconds or milliseconds. Anything else is left for validation to refuse (and then kept as sent)."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) >= 100_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return value
    return value


def _count(value: Any) -> int | None:
    """An envelope count: an integer (or its digits), else nothing."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _usable(value: Any) -> bool:
    """A value that reads as an identifier: a non-blank string, or an integer."""
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, int) and not isinstance(value, bool)


def _payload(value: Any) -> Any:
    """customPayload sent as a JSON string of an object is that object."""
    if isinstance(value, str):
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
        return decoded if isinstance(decoded, dict) else value
    return value


class InfobipResult(BaseModel):
    """One result as Infobip sends it. Unknown fields are allowed and kept. No Python validators: an ordinary
    envelope is validated in one pass of pydantic's core; the other shapes are mended in `_read_result`."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    message_id: str = Field(alias="messageId", min_length=1, max_length=MAX_ID_CHARS)
    # Not blank: a blank code is mended from `to` (`_mended`), as a missing one is.
    application_code: str = Field(alias="applicationCode", min_length=1, max_length=MAX_ID_CHARS, pattern=r"\S")
    registration_id: str | None = Field(default=None, alias="from", max_length=MAX_ID_CHARS)
    to: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    received_at: datetime | None = Field(default=None, alias="receivedAt")
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    clean_text: str | None = Field(default=None, alias="cleanText", max_length=MAX_TEXT_CHARS)
    paired_message_id: str | None = Field(default=None, alias="pairedMessageId", max_length=MAX_ID_CHARS)
    subscriber_id: str | None = Field(default=None, alias="subscriberId", max_length=MAX_ID_CHARS)
    callback_data: str | None = Field(default=None, alias="callbackData", max_length=MAX_TEXT_CHARS)
    keyword: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    custom_payload: dict[str, Any] | None = Field(default=None, alias="customPayload")
    bulk_id: str | None = Field(default=None, alias="bulkId", max_length=MAX_ID_CHARS)
    initial_message_id: str | None = Field(default=None, alias="initialMessageId", max_length=MAX_ID_CHARS)


# Known result fields whose value may be kept as sent when it has an unexpected shape: the model's optional ones,
# by their wire names. `messageId` and `applicationCode` are required: without them there is nothing to queue.
_OPTIONAL_FIELDS = frozenset(
    field.alias or name for name, field in InfobipResult.model_fields.items() if not field.is_required()
)


class InfobipEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow")

    results: list[InfobipResult]
    message_count: int | None = Field(default=None, alias="messageCount")
    pending_message_count: int | None = Field(default=None, alias="pendingMessageCount")


class _ReadingEnvelope(InfobipEnvelope):
    """The envelope as the plain read takes it: each result validated on its own, in the one pass. A result that
    does not validate is left as sent (`Any`) for `_read_result` to mend or set aside, so its neighbours are
    neither read again nor held up by it. When every result validated, it is the envelope as read."""

    results: list[Annotated[InfobipResult | Any, Field(union_mode="left_to_right")]]


class _LooseEnvelope(BaseModel):
    """The envelope with its results unread: what is left to go on when the envelope itself does not validate
    as plainly read (odd counts), or when the body is read carefully (exact_json)."""

    model_config = ConfigDict(extra="allow")

    results: list[Any]
    # Counts of an odd shape are dropped rather than refusing the results with them.
    message_count: Annotated[int | None, BeforeValidator(_count)] = Field(default=None, alias="messageCount")
    pending_message_count: Annotated[int | None, BeforeValidator(_count)] = Field(
        default=None, alias="pendingMessageCount"
    )


class FieldError(BaseModel):
    field: str
    message: str


class InvalidEnvelope(ValueError):
    """The body is not an Infobip envelope at all; `errors` name each offending field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A result that cannot be made into a UserResponse: the result as sent (JSON) and why."""

    index: int
    raw: bytes
    reason: str
    message_id: str | None


@dataclass(frozen=True, slots=True)
class ReadEnvelope:
    """An envelope read result by result: the valid ones, and the ones to quarantine."""

    envelope: InfobipEnvelope
    unreadable: list[Unreadable]
    # Per readable result (its index in envelope.results): known fields set aside as sent, by Infobip name.
    kept: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def result_count(self) -> int:
        return len(self.envelope.results) + len(self.unreadable)


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _field_errors(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False, include_input=False)[:20]:
        message = err["msg"]
        if err["type"] == "model_type" and not err["loc"] and not prefix:
            message = "must be a JSON object with a results array"
        elif err["type"] == "string_pattern_mismatch":  # the one pattern: an identifier that is not blank
            message = "must not be blank"
        errors.append(FieldError(field=_field_path((*prefix, *err["loc"])), message=message))
    return errors


def read_envelope(body: bytes) -> ReadEnvelope:
    """Read a raw envelope result by result. Raises InvalidEnvelope only when the body is not a JSON object
    with a `results` array, or has a key twice in one object; a result that cannot be read is returned in
    `unreadable`, with the reason. A body a plain read would change (exact_json) is read carefully: numbers
    keep their source text."""
    careful: Any = None
    if exact_json.plain(body):
        with contextlib.suppress(ValidationError):  # else the envelope itself is odd: read loosely below
            reading = _ReadingEnvelope.model_validate_json(body)
            if all(isinstance(result, InfobipResult) for result in reading.results):
                return ReadEnvelope(reading, [])
            return _read_results(reading, careful=False)
    else:
        try:
            careful = exact_json.careful(body)
        except exact_json.DuplicateKey as exc:
            raise InvalidEnvelope(
                [FieldError(field="body", message=f"{exc.key!r} appears twice in an object")]
            ) from None
        except ValueError:  # not JSON to the careful parser either (nests too deep): the plain read says why
            careful = None
    try:
        if isinstance(careful, dict):
            loose = _LooseEnvelope.model_validate(
                {k: v if k == "results" else exact_json.settled(v)[0] for k, v in careful.items()}
            )
        else:
            loose = (
                _LooseEnvelope.model_validate(careful)
                if careful is not None
                else _LooseEnvelope.model_validate_json(body)
            )
    except ValidationError as exc:
        raise InvalidEnvelope(_field_errors(exc)) from None
    return _read_results(loose, careful is not None)


def _read_results(read: _ReadingEnvelope | _LooseEnvelope, careful: bool) -> ReadEnvelope:
    """The envelope of the results read: those validated already taken as they are, the others read one by one."""
    results: list[InfobipResult] = []
    unreadable: list[Unreadable] = []
    kept: dict[int, dict[str, Any]] = {}
    for index, item in enumerate(read.results):
        if isinstance(item, InfobipResult):
            results.append(item)
            continue
        outcome = _read_result(index, item, careful)
        if isinstance(outcome, Unreadable):
            unreadable.append(outcome)
            continue
        result, set_aside = outcome
        if set_aside:
            kept[len(results)] = set_aside
        results.append(result)
    envelope = InfobipEnvelope.model_construct(
        results=results,
        message_count=read.message_count,
        pending_message_count=read.pending_message_count,
    )
    envelope.__pydantic_extra__ = read.__pydantic_extra__
    return ReadEnvelope(envelope, unreadable, kept)


def _read_result(index: int, item: Any, careful: bool = False) -> tuple[InfobipResult, dict[str, Any]] | Unreadable:
    """Validate one result after mending the shapes Infobip's SDKs send (applicationCode only in `to`,
    receivedAt in another offset form or as Unix time, customPayload as a JSON string); a known optional
    field still of an unexpected shape is set aside (kept as sent, returned beside the result) and the result
    validated again without it."""
    if not isinstance(item, dict):
        return Unreadable(index, _json_as_sent(item), "result is not a JSON object", None)
    kept: dict[str, Any] = {}
    if careful:
        # Read carefully: an identity must be a string or an integer as written; any other number is settled
        # (a non-finite one kept as its source text, a known field holding one set aside as such).
        if isinstance(item.get("messageId"), exact_json.LosslessFloat):
            reason = "messageId: must be a JSON string or an integer written exactly"
            return Unreadable(index, _json_as_sent(item), reason, None)
        settled: dict[str, Any] = {}
        for name, value in item.items():
            settled[name], as_text = exact_json.settled(value)
            if as_text and name in _OPTIONAL_FIELDS:
                kept[name] = settled.pop(name)
        item_read = settled
    else:
        item_read = item
    data = _mended(item_read)
    for _ in range(2):
        try:
            result = InfobipResult.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
            fields = {str(err["loc"][0]) for err in errors if err["loc"]}
            movable = fields & _OPTIONAL_FIELDS
            # A value over its length bound is not set aside: the result goes to the quarantine whole.
            if movable and movable == fields and not any(err["type"] == "string_too_long" for err in errors):
                for name in movable:
                    kept[name] = data.pop(name)
                continue
            reason = "; ".join(f"{e.field}: {e.message}" for e in _field_errors(exc))
            return Unreadable(index, _json_as_sent(item), reason, _message_id(item))
        return result, kept
    return Unreadable(index, _json_as_sent(item), "result could not be read", _message_id(item))


def _mended(item: dict[str, Any]) -> dict[str, Any]:
    data = dict(item)
    # Infobip sets `to` to the application code; an SDK that leaves out applicationCode still sends it.
    if not _usable(data.get("applicationCode")) and _usable(data.get("to")):
        data["applicationCode"] = data["to"]
    if "receivedAt" in data:
        data["receivedAt"] = _timestamp(data["receivedAt"])
    if "customPayload" in data:
        data["customPayload"] = _payload(data["customPayload"])
    return data


def _json_as_sent(value: Any) -> bytes:
    """JSON of a value as Infobip sent it (numbers read carefully as their source text); the standard library's
    encoder takes integers of any size."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return exact_json.as_sent(value)


def _message_id(item: dict[str, Any]) -> str | None:
    """The result's id for its quarantine entry: only a usable one within its bound (an id over it never
    becomes a key)."""
    value = item.get("messageId")
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = str(value) if isinstance(value, str) or abs(value) < 10**MAX_ID_CHARS else ""
    return text if text and len(text) <= MAX_ID_CHARS else None


def parse_envelope(body: bytes) -> InfobipEnvelope:
    """Parse a raw envelope, raising InvalidEnvelope when it, or any result in it, cannot be read."""
    read = read_envelope(body)
    if read.unreadable:
        raise InvalidEnvelope([FieldError(field=f"results[{u.index}]", message=u.reason) for u in read.unreadable[:20]])
    return read.envelope


@dataclass(frozen=True, slots=True)
class Normalized:
    """One response ready to queue: its UserResponse JSON (what workers read) and the fields routing needs."""

    result: InfobipResult
    json: bytes

    @property
    def message_id(self) -> str:
        return self.result.message_id


@dataclass(frozen=True, slots=True)
class Normalization:
    """The envelope's results as UserResponse JSON, and those that cannot be stored as one."""

    responses: list[Normalized]
    unreadable: list[Unreadable]


def normalize(read: ReadEnvelope, source: Source) -> Normalization:
    """UserResponse JSON for every readable result. Built straight from the validated wire model: its field
    names are UserResponse's (tests hold the two together), so no second validation is needed."""
    common = {"schema_version": SCHEMA_VERSION, "source": source, "ingested_at": datetime.now(UTC)}
    responses: list[Normalized] = []
    unreadable = list(read.unreadable)
    for index, result in enumerate(read.envelope.results):
        kept = read.kept.get(index)
        try:
            responses.append(Normalized(result, orjson.dumps(_fields(result, common, kept))))
        except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits in customPayload
            # The result kept as sent, in Infobip's names.
            raw = _json_as_sent({**result.model_dump(mode="json", by_alias=True, exclude_none=True), **(kept or {})})
            unreadable.append(Unreadable(index, raw, f"a value cannot be stored: {exc}", result.message_id))
    return Normalization(responses, unreadable)


def _fields(result: InfobipResult, common: dict[str, Any], kept: dict[str, Any] | None) -> dict[str, Any]:
    fields = {**result.__dict__, **common}
    if result.received_at is not None:
        fields["received_at"] = as_utc(result.received_at)
    if result.clean_text is None and result.text is not None and not (kept and "cleanText" in kept):
        fields["clean_text"] = _without_keyword(result.text, result.keyword)
    extra = result.__pydantic_extra__ or {}
    fields["extra_fields"] = {**extra, **kept} if kept else extra
    return fields


def _without_keyword(text: str, keyword: str | None) -> str:
    """Infobip's cleanText: the text without its leading keyword."""
    if keyword and text[: len(keyword)].casefold() == keyword.casefold():
        return text[len(keyword) :].lstrip()
    return text
