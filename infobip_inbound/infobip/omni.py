"""OMNI: push with fallback to other channels (seed 000). Scenarios (`/omni/1/scenarios`), the advanced send
(`POST /omni/1/advanced`) and delivery reports (`GET /omni/1/reports`), as typed models.

Fields beyond the seed follow Infobip's published API clients (their `omni` models); what neither documents
is marked below and kept lenient.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, ConfigDict, Field, field_validator, model_validator

from infobip_inbound.infobip.push import PHONE_NUMBER, NotificationOptions
from infobip_inbound.infobip.wire import Answer, Extensible, Price, ReportError, Request, Status, warn

PUSH = "PUSH"


class ScenarioStep(Request):
    """One step of a scenario's flow. For PUSH, `from` is the application code of the mobile application."""

    from_: str = Field(alias="from", min_length=1)
    channel: str = Field(pattern=r"^[A-Z_]+$")  # PUSH, SMS, VIBER, EMAIL, VOICE, ...: the full list is Infobip's


class ScenarioRequest(Request):
    """The body of `POST /omni/1/scenarios`: steps run in order, each next one a fallback."""

    name: str = Field(min_length=1)
    flow: list[ScenarioStep] = Field(min_length=1)
    default: bool | None = None  # the seed's name; older public clients wrote `defaultScenario`

    @field_validator("flow")
    @classmethod
    def _channels_once(cls, flow: list[ScenarioStep]) -> list[ScenarioStep]:
        # Our reading, not the seed's rule: a channel twice is sent, with a warning.
        channels = [step.channel for step in flow]
        if len(set(channels)) != len(channels):
            warn(f"a channel appears more than once in the flow ({' -> '.join(channels)}): sent as given")
        return flow


class ScenarioStepAnswer(Answer):
    from_: str | None = Field(default=None, alias="from")
    channel: str | None = None


class Scenario(Answer):
    key: str
    name: str | None = None
    flow: list[ScenarioStepAnswer] = Field(default_factory=list)
    # The seed writes `default`; older public clients read `defaultScenario`: either is read.
    default: bool | None = Field(default=None, validation_alias=AliasChoices("default", "defaultScenario"))


class Scenarios(Answer):
    scenarios: list[Scenario] = Field(default_factory=list)


class OmniTo(Extensible):
    """Where to reach the person on each channel of the scenario; at least one address."""

    phone_number: str | None = Field(default=None, pattern=PHONE_NUMBER)
    email_address: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    push_registration_id: str | None = Field(default=None, min_length=1)
    external_user_id: str | None = Field(default=None, min_length=1)  # not in the older clients' model

    @model_validator(mode="after")
    def _some_address(self) -> OmniTo:
        if not any((self.phone_number, self.email_address, self.push_registration_id, self.external_user_id)):
            raise ValueError("a destination needs at least one address")
        return self


class OmniDestination(Extensible):
    to: OmniTo
    message_id: str | None = None


class OmniPush(Request):
    """The PUSH step's content and options (seed 000)."""

    text: str = Field(min_length=1)
    custom_payload: dict[str, Any] | None = None
    notification_options: NotificationOptions | None = None
    target_only_primary_devices: bool | None = None
    include_notifications_disabled_devices: bool | None = None
    validity_period: int | None = Field(default=None, gt=0)
    validity_period_time_unit: str | None = None


class OmniSms(Request):
    """The SMS fallback. Infobip's SMS step has more fields (flash, transliteration, ...): they pass through."""

    model_config = ConfigDict(extra="allow")

    text: str = Field(min_length=1)


class OmniAdvancedRequest(Request):
    """The body of `POST /omni/1/advanced`. Without `scenarioKey` Infobip uses the account's default scenario.
    Blocks of channels not modelled here (viber, email, voice, ...) pass through as given."""

    model_config = ConfigDict(extra="allow")

    scenario_key: str | None = Field(default=None, min_length=1)
    bulk_id: str | None = None
    destinations: list[OmniDestination] = Field(min_length=1)
    push: OmniPush | None = None
    sms: OmniSms | None = None
    callback_data: str | None = None
    notify_url: str | None = None

    @model_validator(mode="after")
    def _some_content(self) -> OmniAdvancedRequest:
        if self.push is None and self.sms is None and not self.model_extra:
            raise ValueError("give the content of at least one channel (push, sms, ...)")
        return self


class OmniSent(Answer):
    to: dict[str, Any] | None = None
    status: Status | None = None
    message_id: str | None = None


class OmniSendAnswer(Answer):
    bulk_id: str | None = None
    messages: list[OmniSent] = Field(default_factory=list)


class OmniReport(Answer):
    """One message's report: `channel` is where it ended (PUSH, or the fallback that took over)."""

    bulk_id: str | None = None
    message_id: str | None = None
    to: str | None = None
    sent_at: str | None = None
    done_at: str | None = None
    message_count: int | None = None
    mcc_mnc: str | None = None
    price: Price | None = None
    status: Status | None = None
    error: ReportError | None = None
    channel: str | None = None


class OmniReports(Answer):
    results: list[OmniReport] = Field(default_factory=list)
