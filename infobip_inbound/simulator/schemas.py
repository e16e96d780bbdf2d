"""JSON Schemas of the request bodies the simulator accepts, written from the seed documents (seed 000: send
push, OMNI; seed 003: actions) and the API facts page, not from the client's models: a field the client names
or nests wrongly fails here, as it would at Infobip.

Where the seed documents a closed set of fields (a destination, the content, a message, OMNI's `to`, a scenario,
an action) others are refused, so a misspelt field fails a test instead of being ignored; where it documents
only some (notificationOptions, options, other channels' blocks) others pass. Values are checked only as far as
the seed states them: types from its tables, the enumerations it gives (inAppStyle MODAL|BANNER, time units
minutes|hours, action types), required fields it names.
"""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator

STRING = {"type": "string"}
NON_EMPTY = {"type": "string", "minLength": 1}
BOOLEAN = {"type": "boolean"}
OBJECT = {"type": "object"}
SCALAR = {"type": ["string", "number", "boolean"]}

# Seed 000, "Target multiple recipients": each element of `$and` / `$or` filters on attributes (personal,
# device, custom) or nests another `$and` / `$or`.
CONDITION: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "properties": {
        "$and": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}},
        "$or": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}},
        # the device attribute table: String, except these two Booleans
        "deviceSecure": BOOLEAN,
        "notificationsEnabled": BOOLEAN,
        "platform": STRING,
        "sdkVersion": STRING,
        "osVersion": STRING,
        "deviceManufacturer": STRING,
        "deviceModel": STRING,
        "applicationVersion": STRING,
        "osLanguage": STRING,
        "externalUserId": STRING,
        "phoneNumber": STRING,
        "email": STRING,
    },
    "propertyNames": {"not": {"pattern": r"^\$(?!and$|or$)"}},  # no operators besides $and and $or
    "additionalProperties": SCALAR,  # {custom field}: String in the seed; typed custom attributes exist
}


def _destination(kind: str, address: str | None) -> dict[str, Any]:
    properties: dict[str, Any] = {"type": {"const": kind}, "targetOnlyPrimaryDevices": BOOLEAN}
    required = ["type"]
    if address is not None:
        properties[address] = NON_EMPTY
        required.append(address)
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


_MULTIPLE = _destination("MULTIPLE", None)
_MULTIPLE["properties"] |= {
    "$and": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}},
    "$or": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}},
}
_MULTIPLE["anyOf"] = [{"required": ["$and"]}, {"required": ["$or"]}]

# Seed 000, destination types: REGISTRATION (pushRegistrationId), EXTERNAL_USER_ID, PHONE_NUMBER, EMAIL, MULTIPLE.
DESTINATION: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"enum": ["REGISTRATION", "EXTERNAL_USER_ID", "PHONE_NUMBER", "EMAIL", "MULTIPLE"]}},
    "allOf": [
        {"if": {"properties": {"type": {"const": kind}}}, "then": _destination(kind, address)}
        for kind, address in (
            ("REGISTRATION", "pushRegistrationId"),
            ("EXTERNAL_USER_ID", "externalUserId"),
            ("PHONE_NUMBER", "phoneNumber"),
            ("EMAIL", "email"),
        )
    ]
    + [{"if": {"properties": {"type": {"const": "MULTIPLE"}}}, "then": _MULTIPLE}],
}

TIME_UNIT = {"enum": ["minutes", "hours", "MINUTES", "HOURS", "Minutes", "Hours"]}
STYLE = {"enum": ["MODAL", "BANNER"]}
# Seed 000: the push options table (types as given) and the mirrored-push parameters. Infobip documents more
# options per platform: others pass.
NOTIFICATION_OPTIONS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "vibrationEnabled": BOOLEAN,
        "soundEnabled": BOOLEAN,
        "soundName": STRING,
        "badge": {"type": "integer"},
        "contentUrl": STRING,
        "category": STRING,
        "inAppStyle": STYLE,
        "isSilent": BOOLEAN,
        "title": STRING,
        "webViewUrl": STRING,
        "inboxTopic": STRING,
        "showMirroredPush": BOOLEAN,
        "mirroredPushStyle": STYLE,
        "mirroredPushExpirationPeriod": {"type": "integer", "minimum": 1},
        "mirroredPushExpirationTimeUnit": TIME_UNIT,
        "mirroredPushDismissTitle": STRING,
        "mirroredPushOpenTitle": STRING,
        "onTapButtonAction": STRING,
    },
}

# POST /push/3/messages (the API facts page: sender, destinations, content {title, text}, options
# {customPayload, ...}).
PUSH_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["messages"],
    "additionalProperties": False,
    "properties": {
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["sender", "destinations", "content"],
                "additionalProperties": False,
                "properties": {
                    "sender": NON_EMPTY,
                    "destinations": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/destination"}},
                    "content": {
                        "type": "object",
                        "required": ["text"],
                        "additionalProperties": False,
                        "properties": {"title": STRING, "text": NON_EMPTY},
                    },
                    "options": {
                        "type": "object",
                        "properties": {"customPayload": OBJECT, "notificationOptions": NOTIFICATION_OPTIONS},
                    },
                },
            },
        }
    },
    "$defs": {"destination": DESTINATION, "condition": CONDITION},
}

# POST /omni/1/scenarios (seed 000's snippet: name, flow of {from, channel}, default). Older public clients
# wrote the flag as defaultScenario: read too.
SCENARIO_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["name", "flow"],
    "additionalProperties": False,
    "properties": {
        "name": NON_EMPTY,
        "flow": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["from", "channel"],
                "additionalProperties": False,
                "properties": {"from": NON_EMPTY, "channel": NON_EMPTY},
            },
        },
        "default": BOOLEAN,
        "defaultScenario": BOOLEAN,
    },
}

# POST /omni/1/advanced (seed 000's snippet; the `to` addresses beyond phoneNumber and the top-level
# bulkId/callbackData/notifyUrl follow Infobip's published clients, as the API facts page advises).
OMNI_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["destinations"],
    "properties": {
        "scenarioKey": NON_EMPTY,
        "bulkId": STRING,
        "callbackData": STRING,
        "notifyUrl": STRING,
        "destinations": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["to"],
                "additionalProperties": False,
                "properties": {
                    "messageId": STRING,
                    "to": {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": False,
                        "properties": {
                            "phoneNumber": NON_EMPTY,
                            "emailAddress": NON_EMPTY,
                            "pushRegistrationId": NON_EMPTY,
                            "externalUserId": NON_EMPTY,
                        },
                    },
                },
            },
        },
        "push": {
            "type": "object",
            "required": ["text"],
            "additionalProperties": False,
            "properties": {
                "text": NON_EMPTY,
                "customPayload": OBJECT,
                "notificationOptions": NOTIFICATION_OPTIONS,
                "targetOnlyPrimaryDevices": BOOLEAN,
                "includeNotificationsDisabledDevices": BOOLEAN,
                "validityPeriod": {"type": "integer", "minimum": 1},
                "validityPeriodTimeUnit": STRING,
            },
        },
        "sms": {"type": "object", "required": ["text"], "properties": {"text": NON_EMPTY}},
    },
    "additionalProperties": OBJECT,  # other channels' blocks (viber, email, voice, ...)
}

# POST .../actions (seed 003, Action Models: type HTTP_FORWARD with forwardUrl, or PULL; callbackData optional).
ACTION_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["HTTP_FORWARD", "PULL"]},
        "forwardUrl": {"type": "string", "pattern": r"^https?://[^/?#\s]+"},
        "callbackData": STRING,
    },
    "if": {"properties": {"type": {"const": "HTTP_FORWARD"}}},
    "then": {"required": ["forwardUrl"]},
}

PUSH = Draft202012Validator(PUSH_REQUEST)
SCENARIO = Draft202012Validator(SCENARIO_REQUEST)
OMNI = Draft202012Validator(OMNI_REQUEST)
ACTION = Draft202012Validator(ACTION_REQUEST)


def problems(validator: Draft202012Validator, body: Any) -> dict[str, list[str]]:
    """What is wrong with `body`, by field (`messages[0].destinations[0].pushRegistrationId`), the shape of
    Infobip's `validationErrors`; empty when it is valid."""
    found: dict[str, list[str]] = {}
    for error in validator.iter_errors(body):
        for leaf in _leaves(error):
            path = list(leaf.absolute_path)
            missing = re.match(r"'([^']+)' is a required property", leaf.message)
            if missing:  # named by the missing field, as Infobip names it
                path.append(missing.group(1))
            found.setdefault(_field(path) or "body", []).append(leaf.message)
    return found


def _leaves(error: Any) -> list[Any]:
    # An `if`/`then` or `anyOf` failure is explained by its sub-errors: report those.
    if error.context:
        return [leaf for sub in error.context for leaf in _leaves(sub)]
    return [error]


def _field(path: Any) -> str:
    field = ""
    for part in path:
        field += f"[{part}]" if isinstance(part, int) else f".{part}" if field else str(part)
    return field
