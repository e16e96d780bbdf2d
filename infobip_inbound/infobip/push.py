"""Sending Mobile Push: the `POST /push/3/messages` request and answer, the bulk statistics of
`GET /push/1/statistics` and the sent-message reports, as typed models (seed 000 and the API facts page).

Requests are validated when built, so a malformed one never leaves the process; `.wire()` gives the JSON
body exactly as Infobip documents it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from infobip_inbound.infobip.wire import Answer, Extensible, Price, ReportError, Request, Status, warn

# Device attributes that MULTIPLE destinations can filter on without any setup (seed 000).
DEVICE_STRING_ATTRIBUTES = frozenset(
    {"platform", "sdkVersion", "osVersion", "deviceManufacturer", "deviceModel", "applicationVersion", "osLanguage"}
)
DEVICE_BOOLEAN_ATTRIBUTES = frozenset({"deviceSecure", "notificationsEnabled"})
# Personal attributes: set over the Mobile SDK or the People API.
PERSON_ATTRIBUTES = frozenset({"externalUserId", "phoneNumber", "email"})
# The platforms Infobip documents (the seed lists Android and iOS; Infobip also has Huawei devices and SDK).
# An open set: another value is sent as given, with a warning.
PLATFORMS = ("Android", "iOS", "Huawei")
PHONE_NUMBER = r"^\+?[0-9]{3,20}$"  # MSISDN in international format, e.g. 41793026727
AND, OR = "$and", "$or"


def _check_condition(condition: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """One element of a `$and` / `$or` list: attribute filters (`{"platform": "iOS"}`, several in one object
    all apply), or nested `{"$and": [...]}` / `{"$or": [...]}` groups. Custom installation attributes are any
    other name; the seed types them as strings, numbers and booleans are let through since custom attributes
    may be typed."""
    if not condition:
        raise ValueError("a condition names at least one attribute (or a $and/$or group)")
    for name, value in condition.items():
        if name in (AND, OR):
            if depth >= 4:
                raise ValueError("conditions are nested too deeply")
            if not isinstance(value, list) or not value:
                raise ValueError(f"{name} must be a non-empty list of conditions")
            for item in value:
                if not isinstance(item, dict):
                    raise ValueError(f"each element of {name} must be an object")
                _check_condition(item, depth + 1)
        elif not name or name.startswith("$"):
            raise ValueError(f"unknown operator or empty attribute name {name!r}")
        elif name in DEVICE_BOOLEAN_ATTRIBUTES:
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
        elif name in DEVICE_STRING_ATTRIBUTES or name in PERSON_ATTRIBUTES:
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
            if name == "platform" and value not in PLATFORMS:
                warn(f"platform {value!r} is none of {', '.join(PLATFORMS)}: sent as given")
        elif not isinstance(value, str | bool | int | float):
            raise ValueError(f"custom attribute {name} must be a string, number or boolean")
    return condition


Condition = Annotated[dict[str, Any], AfterValidator(_check_condition)]


class RegistrationDestination(Extensible):
    """One installation (application instance on a device), personalized or not."""

    type: Literal["REGISTRATION"] = "REGISTRATION"
    push_registration_id: str = Field(min_length=1)


class ExternalUserDestination(Extensible):
    """Every device of the person with this external user ID (or only the primary one)."""

    type: Literal["EXTERNAL_USER_ID"] = "EXTERNAL_USER_ID"
    external_user_id: str = Field(min_length=1)
    target_only_primary_devices: bool | None = None


class PhoneNumberDestination(Extensible):
    type: Literal["PHONE_NUMBER"] = "PHONE_NUMBER"
    phone_number: str = Field(pattern=PHONE_NUMBER)
    target_only_primary_devices: bool | None = None


class EmailDestination(Extensible):
    type: Literal["EMAIL"] = "EMAIL"
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    target_only_primary_devices: bool | None = None


class MultipleDestination(Extensible):
    """A segment: `$and` (all must hold) and/or `$or` (any must hold) over personal and device attributes.
    With both, a device must satisfy both lists (seed 000, advanced targeting example 2)."""

    type: Literal["MULTIPLE"] = "MULTIPLE"
    and_: list[Condition] | None = Field(default=None, alias="$and", min_length=1)
    or_: list[Condition] | None = Field(default=None, alias="$or", min_length=1)
    target_only_primary_devices: bool | None = None

    @model_validator(mode="after")
    def _has_conditions(self) -> MultipleDestination:
        if not self.and_ and not self.or_:
            raise ValueError("a MULTIPLE destination needs $and or $or conditions")
        return self


Destination = Annotated[
    RegistrationDestination | ExternalUserDestination | PhoneNumberDestination | EmailDestination | MultipleDestination,
    Field(discriminator="type"),
]

InAppStyle = Literal["MODAL", "BANNER"]


class NotificationOptions(Request):
    """How the device shows the push (seed 000). Infobip documents more options than these (per platform):
    they pass through as given, unchecked."""

    model_config = ConfigDict(extra="allow")

    title: str | None = None
    vibration_enabled: bool | None = None
    sound_enabled: bool | None = None
    sound_name: str | None = None
    badge: int | None = Field(default=None, ge=0)
    content_url: str | None = None
    category: str | None = None  # e.g. mm_accept_decline
    in_app_style: InAppStyle | None = None
    is_silent: bool | None = None
    web_view_url: str | None = None
    inbox_topic: str | None = None
    # Mirrored push: the notification is also (or, silent, only) shown inside the application.
    show_mirrored_push: bool | None = None
    mirrored_push_style: InAppStyle | None = None
    mirrored_push_expiration_period: int | None = Field(default=None, gt=0)
    # "minutes or hours" in the seed; the exact spelling Infobip expects is not documented: kept as given.
    mirrored_push_expiration_time_unit: str | None = None
    mirrored_push_dismiss_title: str | None = None
    mirrored_push_open_title: str | None = None
    on_tap_button_action: str | None = None

    @field_validator("mirrored_push_expiration_time_unit")
    @classmethod
    def _time_unit(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in {"minutes", "hours"}:
            raise ValueError("must be minutes or hours")
        return value

    @model_validator(mode="after")
    def _mirrored_push(self) -> NotificationOptions:
        # Our reading, not the seed's rule: one without the other is sent, with a warning.
        if (self.mirrored_push_expiration_period is None) != (self.mirrored_push_expiration_time_unit is None):
            warn("mirroredPushExpirationPeriod and mirroredPushExpirationTimeUnit are usually given together")
        # The seed: "If the mirroredPushStyle is set to MODAL, you can also define buttons."
        buttons = self.mirrored_push_dismiss_title, self.mirrored_push_open_title, self.on_tap_button_action
        if any(b is not None for b in buttons) and self.mirrored_push_style != "MODAL":
            raise ValueError("mirrored push buttons need mirroredPushStyle MODAL")
        return self


class PushContent(Request):
    title: str | None = None
    text: str = Field(min_length=1)


class PushOptions(Request):
    """Message options. Options beyond these (validity period, platform overrides) pass through unchecked."""

    model_config = ConfigDict(extra="allow")

    custom_payload: dict[str, Any] | None = None
    notification_options: NotificationOptions | None = None


class PushMessage(Extensible):
    sender: str = Field(min_length=1)  # the application code (or application ID) of the application profile
    destinations: list[Destination] = Field(min_length=1)
    content: PushContent
    options: PushOptions | None = None


class PushRequest(Request):
    """The body of `POST /push/3/messages`."""

    messages: list[PushMessage] = Field(min_length=1)


class SentPush(Answer):
    message_id: str | None = None
    status: Status | None = None
    destination: Any = None


class PushSendAnswer(Answer):
    bulk_id: str | None = None
    messages: list[SentPush] = Field(default_factory=list)


class StatisticsErrors(Answer):
    """A figure Infobip left out is None, never 0: an absent count is not a real zero."""

    registration: int | None = None  # invalid registrations: the app was uninstalled
    expired: int | None = None  # validity period ran out (notifications disabled)
    cloud: int | None = None  # APNS / FCM failures


class Delivery(Answer):
    rate: float | None = None  # delivered / total sent


class PushStatistics(Answer):
    """`GET /push/1/statistics?bulkId=...`. Every figure Infobip left out is None (shown as "—")."""

    total_sent: int | None = None
    delivered: int | None = None
    seen: int | None = None
    errors: StatisticsErrors = Field(default_factory=StatisticsErrors)
    delivery: Delivery = Field(default_factory=Delivery)


class PushReport(Answer):
    """One sent message's delivery report. Times are kept as Infobip writes them (`yyyy-MM-dd'T'HH:mm:ss.SSSZ`)."""

    bulk_id: str | None = None
    message_id: str | None = None
    to: str | None = None
    sent_at: str | None = None
    done_at: str | None = None
    message_count: int | None = None
    price: Price | None = None
    status: Status | None = None
    error: ReportError | None = None


class PushReports(Answer):
    results: list[PushReport] = Field(default_factory=list)


def push_to_registration(
    application_code: str,
    registration_id: str,
    text: str,
    *,
    title: str | None = None,
    custom_payload: dict[str, Any] | None = None,
) -> PushRequest:
    """The request that pushes one message to one installation, e.g. back to the device that responded
    (its `from`, our `registration_id`)."""
    return PushRequest(
        messages=[
            PushMessage(
                sender=application_code,
                destinations=[RegistrationDestination(push_registration_id=registration_id)],
                content=PushContent(title=title, text=text),
                options=PushOptions(custom_payload=custom_payload) if custom_payload is not None else None,
            )
        ]
    )
