"""The send-side request models against the documented examples of seed 000: each example, read into its
model (and built in Python), serializes back to exactly the documented JSON; invalid requests are refused
when built, before anything could be sent. The seed's snippets have stray commas: here they are valid JSON."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from infobip_inbound.infobip.omni import (
    OmniAdvancedRequest,
    OmniDestination,
    OmniPush,
    OmniSms,
    OmniTo,
    Scenario,
    ScenarioRequest,
    ScenarioStep,
)
from infobip_inbound.infobip.push import (
    Destination,
    EmailDestination,
    ExternalUserDestination,
    MultipleDestination,
    NotificationOptions,
    PhoneNumberDestination,
    PushContent,
    PushMessage,
    PushOptions,
    PushRequest,
    PushStatistics,
    RegistrationDestination,
    push_to_registration,
)

DESTINATION = TypeAdapter(Destination)

REGISTRATION = {"pushRegistrationId": "DBE0B0B6-668E-491E-8EE8-2A3DB2C71CBE", "type": "REGISTRATION"}
EXTERNAL_USER = {"externalUserId": "customer_21234", "type": "EXTERNAL_USER_ID"}
AND_USERS = {"$and": [{"externalUserId": "customer_21234"}, {"externalUserId": "customer_21235"}], "type": "MULTIPLE"}
ALL_IOS = {"$or": [{"platform": "iOS"}], "type": "MULTIPLE"}
IOS_OF_PHONE = {"$and": [{"platform": "iOS"}, {"phoneNumber": "441134960001"}], "type": "MULTIPLE"}
IOS_PERSONAL_OR_BUSINESS = {
    "$and": [{"platform": "iOS"}, {"DeviceType": "personal"}],
    "$or": [{"DeviceType": "business"}],
    "type": "MULTIPLE",
}
SCENARIO = {
    "name": "push + SMS scenario",
    "flow": [{"from": "APPLICATION CODE", "channel": "PUSH"}, {"from": "YOUR_REGISTERED_SMS_SENDER", "channel": "SMS"}],
    "default": True,
}
OMNI_SEND = {
    "scenarioKey": "key",
    "destinations": [{"to": {"phoneNumber": "41793026727"}}],
    "push": {
        "text": "This PUSH message will pop up on your mobile device.",
        "customPayload": {"contentUrl": "https://someurl.com/content", "deepLink": "myApp://some/link"},
        "notificationOptions": {
            "vibrationEnabled": True,
            "soundEnabled": True,
            "soundName": "sound.wav",
            "badge": 1,
            "contentUrl": "http://www.mydomain.com/images/image1.jpg",
            "category": "mm_accept_decline",
            "inAppStyle": "MODAL",
            "title": "This is some title",
        },
        "targetOnlyPrimaryDevices": True,
        "includeNotificationsDisabledDevices": True,
    },
    "sms": {"text": "This is the SMS failover message"},
}


@pytest.mark.parametrize(
    "example", [REGISTRATION, EXTERNAL_USER, AND_USERS, ALL_IOS, IOS_OF_PHONE, IOS_PERSONAL_OR_BUSINESS]
)
def test_documented_destinations_round_trip_exactly(example: dict[str, Any]) -> None:
    destination = DESTINATION.validate_python(example)
    assert destination.wire() == example
    message = PushMessage(sender="8a9b7c6d5e4f", destinations=[destination], content=PushContent(text="Hi"))
    assert PushRequest(messages=[message]).wire()["messages"][0]["destinations"] == [example]


def test_documented_destinations_built_in_python() -> None:
    built = [
        RegistrationDestination(push_registration_id="DBE0B0B6-668E-491E-8EE8-2A3DB2C71CBE"),
        ExternalUserDestination(external_user_id="customer_21234"),
        MultipleDestination(and_=[{"externalUserId": "customer_21234"}, {"externalUserId": "customer_21235"}]),
        MultipleDestination(or_=[{"platform": "iOS"}]),
        MultipleDestination(and_=[{"platform": "iOS"}, {"phoneNumber": "441134960001"}]),
        MultipleDestination(and_=[{"platform": "iOS"}, {"DeviceType": "personal"}], or_=[{"DeviceType": "business"}]),
    ]
    examples = [REGISTRATION, EXTERNAL_USER, AND_USERS, ALL_IOS, IOS_OF_PHONE, IOS_PERSONAL_OR_BUSINESS]
    assert [d.wire() for d in built] == examples


def test_other_destinations_and_primary_devices() -> None:
    assert PhoneNumberDestination(phone_number="41793026727", target_only_primary_devices=True).wire() == {
        "type": "PHONE_NUMBER",
        "phoneNumber": "41793026727",
        "targetOnlyPrimaryDevices": True,
    }
    assert EmailDestination(email="jane@example.com").wire() == {"type": "EMAIL", "email": "jane@example.com"}
    segment = {
        "type": "MULTIPLE",
        "$and": [{"notificationsEnabled": True}, {"osVersion": "17.1"}, {"$or": [{"tier": "gold"}, {"tier": 2}]}],
    }
    assert DESTINATION.validate_python(segment).wire() == segment


def test_full_message_with_mirrored_push_serializes_to_camel_case() -> None:
    request = PushRequest(
        messages=[
            PushMessage(
                sender="8a9b7c6d5e4f",
                destinations=[ExternalUserDestination(external_user_id="customer_21234")],
                content=PushContent(title="Order", text="Your order shipped"),
                options=PushOptions(
                    custom_payload={"orderId": 42},
                    notification_options=NotificationOptions(
                        show_mirrored_push=True,
                        mirrored_push_style="MODAL",
                        mirrored_push_expiration_period=2,
                        mirrored_push_expiration_time_unit="hours",
                        mirrored_push_dismiss_title="Later",
                        mirrored_push_open_title="Open",
                        on_tap_button_action="open_order",
                        is_silent=True,
                    ),
                ),
            )
        ]
    )
    assert request.wire() == {
        "messages": [
            {
                "sender": "8a9b7c6d5e4f",
                "destinations": [{"type": "EXTERNAL_USER_ID", "externalUserId": "customer_21234"}],
                "content": {"title": "Order", "text": "Your order shipped"},
                "options": {
                    "customPayload": {"orderId": 42},
                    "notificationOptions": {
                        "isSilent": True,
                        "showMirroredPush": True,
                        "mirroredPushStyle": "MODAL",
                        "mirroredPushExpirationPeriod": 2,
                        "mirroredPushExpirationTimeUnit": "hours",
                        "mirroredPushDismissTitle": "Later",
                        "mirroredPushOpenTitle": "Open",
                        "onTapButtonAction": "open_order",
                    },
                },
            }
        ]
    }
    assert PushRequest.model_validate(request.wire()) == request


def test_push_to_registration_is_the_api_facts_reply_shape() -> None:
    assert push_to_registration("app", "REG-1", "Thanks", title="Hi", custom_payload={"k": 1}).wire() == {
        "messages": [
            {
                "sender": "app",
                "destinations": [{"type": "REGISTRATION", "pushRegistrationId": "REG-1"}],
                "content": {"title": "Hi", "text": "Thanks"},
                "options": {"customPayload": {"k": 1}},
            }
        ]
    }


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"messages": []}, "at least 1"),
        ({"messages": [{"sender": "a", "destinations": [], "content": {"text": "x"}}]}, "at least 1"),
        ({"messages": [{"sender": "a", "destinations": [REGISTRATION], "content": {"text": ""}}]}, "at least 1"),
        (
            {"messages": [{"sender": "a", "destinations": [{"type": "FAX", "fax": "1"}], "content": {"text": "x"}}]},
            "tag",
        ),
        ({"messages": [{"sender": "a", "destination": [REGISTRATION], "content": {"text": "x"}}]}, "Extra inputs"),
    ],
)
def test_invalid_push_requests_are_refused(body: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        PushRequest.model_validate(body)


@pytest.mark.parametrize(
    ("destination", "complaint"),
    [
        ({"type": "REGISTRATION"}, "pushRegistrationId"),
        ({"type": "REGISTRATION", "pushRegistrationId": ""}, "at least 1"),
        ({"type": "PHONE_NUMBER", "phoneNumber": "call me"}, "pattern"),
        ({"type": "EMAIL", "email": "nobody"}, "pattern"),
        ({"type": "MULTIPLE"}, "needs \\$and or \\$or"),
        ({"type": "MULTIPLE", "$and": []}, "at least 1"),
        ({"type": "MULTIPLE", "$or": [{"notificationsEnabled": "yes"}]}, "true or false"),
        ({"type": "MULTIPLE", "$or": [{"$not": [{"platform": "iOS"}]}]}, "unknown operator"),
        ({"type": "MULTIPLE", "$or": [{"$and": []}]}, "non-empty list"),
        ({"type": "MULTIPLE", "$or": [{"tier": ["gold"]}]}, "string, number or boolean"),
        ({"type": "MULTIPLE", "$or": [{}]}, "at least one attribute"),
        ({"type": "REGISTRATION", "pushRegistrationId": "R", "extra": {"type": "EMAIL"}}, "modelled fields"),
        ({"type": "REGISTRATION", "pushRegistrationId": "R", "pushRegistrationID": "typo"}, "Extra inputs"),
    ],
)
def test_invalid_destinations_are_refused(destination: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        DESTINATION.validate_python(destination)


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"mirroredPushOpenTitle": "Open"}, "MODAL"),
        ({"mirroredPushStyle": "BANNER", "onTapButtonAction": "x"}, "MODAL"),
        ({"mirroredPushExpirationPeriod": 5, "mirroredPushExpirationTimeUnit": "days"}, "minutes or hours"),
        ({"inAppStyle": "FULLSCREEN"}, "MODAL"),
        ({"badge": -1}, "greater than or equal"),
    ],
)
def test_invalid_notification_options_are_refused(options: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        NotificationOptions.model_validate(options)


def test_omni_scenario_example_round_trips_and_builds() -> None:
    assert ScenarioRequest.model_validate(SCENARIO).wire() == SCENARIO
    built = ScenarioRequest(
        name="push + SMS scenario",
        flow=[
            ScenarioStep(from_="APPLICATION CODE", channel="PUSH"),
            ScenarioStep(from_="YOUR_REGISTERED_SMS_SENDER", channel="SMS"),
        ],
        default=True,
    )
    assert built.wire() == SCENARIO


def test_omni_send_example_round_trips_and_builds() -> None:
    assert OmniAdvancedRequest.model_validate(OMNI_SEND).wire() == OMNI_SEND
    push = OMNI_SEND["push"]
    assert isinstance(push, dict)
    built = OmniAdvancedRequest(
        scenario_key="key",
        destinations=[OmniDestination(to=OmniTo(phone_number="41793026727"))],
        push=OmniPush(
            text=push["text"],
            custom_payload=push["customPayload"],
            notification_options=NotificationOptions(
                vibration_enabled=True,
                sound_enabled=True,
                sound_name="sound.wav",
                badge=1,
                content_url="http://www.mydomain.com/images/image1.jpg",
                category="mm_accept_decline",
                in_app_style="MODAL",
                title="This is some title",
            ),
            target_only_primary_devices=True,
            include_notifications_disabled_devices=True,
        ),
        sms=OmniSms(text="This is the SMS failover message"),
    )
    assert built.wire() == OMNI_SEND


@pytest.mark.parametrize(
    ("model", "body", "complaint"),
    [
        (ScenarioRequest, {**SCENARIO, "flow": []}, "at least 1"),
        (ScenarioRequest, {**SCENARIO, "flow": [{"from": "a", "channel": "push"}]}, "pattern"),
        (ScenarioRequest, {**SCENARIO, "flow": [{"channel": "PUSH"}]}, "from"),
        (OmniAdvancedRequest, {**OMNI_SEND, "destinations": [{"to": {}}]}, "at least one address"),
        (OmniAdvancedRequest, {**OMNI_SEND, "destinations": []}, "at least 1"),
        (OmniAdvancedRequest, {"scenarioKey": "k", "destinations": OMNI_SEND["destinations"]}, "at least one channel"),
        (OmniAdvancedRequest, {**OMNI_SEND, "push": {"text": ""}}, "at least 1"),
    ],
)
def test_invalid_omni_requests_are_refused(model: Any, body: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        model.model_validate(body)


def test_statistics_answer_is_read_with_unknown_fields_kept() -> None:
    stats = PushStatistics.model_validate(
        {
            "totalSent": 10,
            "delivered": 7,
            "seen": 3,
            "errors": {"registration": 1, "expired": 1, "cloud": 1},
            "delivery": {"rate": 0.7},
            "clicked": 2,
        }
    )
    assert (stats.total_sent, stats.delivered, stats.errors.cloud, stats.delivery.rate) == (10, 7, 1, 0.7)
    assert stats.wire()["clicked"] == 2


def test_statistics_infobip_left_out_are_none_not_zero() -> None:
    from infobip_inbound.contract.store.campaigns import Campaign, rates

    stats = PushStatistics.model_validate({"totalSent": 4, "errors": {"cloud": 0}})
    assert (stats.total_sent, stats.delivered, stats.seen) == (4, None, None)
    assert (stats.errors.registration, stats.errors.cloud, stats.delivery.rate) == (None, 0, None)
    figures = rates(Campaign("bulk", "B-1", total=2), stats.wire())
    assert (figures["sent"], figures["delivered"], figures["seen"]) == (4, None, None)


def test_never_stricter_than_infobip_open_platforms_and_several_attributes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "infobip_inbound.infobip")
    huawei = {"type": "MULTIPLE", "$or": [{"platform": "Huawei"}]}
    assert DESTINATION.validate_python(huawei).wire() == huawei
    assert caplog.records == []
    # Several attributes in one condition, as the seed's device attributes combine (all must hold).
    several = {"type": "MULTIPLE", "$and": [{"platform": "iOS", "osVersion": "17.1", "notificationsEnabled": True}]}
    assert DESTINATION.validate_python(several).wire() == several
    future = {"type": "MULTIPLE", "$or": [{"platform": "HarmonyOS"}]}
    assert DESTINATION.validate_python(future).wire() == future
    assert [r.getMessage() for r in caplog.records] == [
        "platform 'HarmonyOS' is none of Android, iOS, Huawei: sent as given"
    ]


def test_fields_infobip_may_add_go_through_the_explicit_extra_mapping() -> None:
    message = PushMessage.model_validate(
        {
            "sender": "8a9b7c6d5e4f",
            "destinations": [{**REGISTRATION, "extra": {"newDestinationField": True}}],
            "content": {"text": "Hi"},
            "extra": {"validityPeriod": 3600},
        }
    )
    assert message.wire() == {
        "sender": "8a9b7c6d5e4f",
        "destinations": [{**REGISTRATION, "newDestinationField": True}],
        "content": {"text": "Hi"},
        "validityPeriod": 3600,
    }
    to = OmniTo(phone_number="41793026727", extra={"viberNumber": "41793026727"})
    destination = OmniDestination(to=to, extra={"newField": "x"})
    assert destination.wire() == {"to": {"phoneNumber": "41793026727", "viberNumber": "41793026727"}, "newField": "x"}


def test_the_projects_own_rules_warn_instead_of_refusing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "infobip_inbound.infobip")
    twice = {**SCENARIO, "flow": SCENARIO["flow"] * 2}  # type: ignore[operator]
    assert ScenarioRequest.model_validate(twice).wire() == twice
    alone = {"mirroredPushExpirationPeriod": 5}
    assert NotificationOptions.model_validate(alone).wire() == alone
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "more than once" in messages[0] and "together" in messages[1]


def test_the_scenario_default_flag_is_read_under_either_name() -> None:
    assert Scenario.model_validate({"key": "k", "default": True}).default is True
    assert Scenario.model_validate({"key": "k", "defaultScenario": True}).default is True
    assert ScenarioRequest.model_validate(SCENARIO).wire()["default"] is True  # sent as the seed writes it
