"""The receiver's OpenAPI 3.1 description (GET /openapi.json), built once from the envelope model: every route
the receiver serves (the /admin pages only when INBOUND_ADMIN_TOKENS enables them)."""

from __future__ import annotations

from typing import Any

from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store.archive import SELECTABLE
from infobip_inbound.infobip.envelope import InfobipEnvelope
from infobip_inbound.infobip.forward_url import FORWARD_PATH
from infobip_inbound.receiver.edge.errors import REFUSALS
from infobip_inbound.receiver.message_query import DEFAULT_LIMIT, MAX_LIMIT

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi(settings: Settings) -> dict[str, Any]:
    envelope = InfobipEnvelope.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    components = envelope.pop("$defs", {})
    components["InfobipEnvelope"] = envelope
    components["Error"] = _ERROR
    error = {"$ref": "#/components/schemas/Error"}
    accepted = {
        "type": "object",
        "required": ["accepted", "duplicates", "quarantined"],
        "properties": {
            "accepted": {"type": "integer", "description": "Results queued."},
            "duplicates": {"type": "integer", "description": "Results seen before (within the dedup window)."},
            "quarantined": {
                "type": "integer",
                "description": "Results that could not be made into a UserResponse, kept in the quarantine.",
            },
        },
    }
    refusals = {
        "400": "Malformed JSON, a body that is not a results envelope, or JSON nested too deep.",
        "401": "Missing or wrong credentials.",
        "403": "The caller's address is not on the allowlist.",
        "413": "Body or number of results over the limit.",
        "429": "Rate limit exceeded.",
        "503": "Redis cannot take the messages now; retry.",
    }
    responses = {"200": _json(accepted, "Every message is stored (or was already: a duplicate).")}
    for refused, text in refusals.items():
        codes = ", ".join(reason for reason, code in REFUSALS.items() if str(code) == refused)
        responses[refused] = _json(error, f"{text} (error: {codes})")
    body = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InfobipEnvelope"}}},
    }
    status = {"type": "object", "properties": {"status": {"type": "string"}}}
    paths = _core_paths(body, responses, status)
    if settings.admin_tokens:
        paths |= _admin_paths(error)
    return {
        "openapi": "3.1.0",
        "info": {"title": "infobip-inbound receiver", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "adminBearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def _core_paths(body: dict[str, Any], responses: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {
        FORWARD_PATH + "/{token}": {
            "post": {
                "summary": "Infobip HTTP_FORWARD of a results envelope (secret path token).",
                "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": body,
                "responses": responses,
            }
        },
        FORWARD_PATH: {
            "post": {
                "summary": "Infobip HTTP_FORWARD of a results envelope (HTTP Basic).",
                "security": [{"basic": []}],
                "requestBody": body,
                "responses": responses,
            }
        },
        "/health/live": {"get": {"responses": {"200": _json(status, "The process is up.")}}},
        "/health/ready": {
            "get": {
                "responses": {
                    "200": _json(status, "Redis is reachable."),
                    "503": _json(status, "Redis is not reachable."),
                }
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics of every receiver process.",
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {"get": {"responses": {"200": _json({"type": "object"}, "This description.")}}},
    }


def _admin_paths(error: dict[str, Any]) -> dict[str, Any]:
    """The status page and the message look-up: an admin token as a bearer token, or as the password of HTTP
    Basic (any user)."""
    security: list[dict[str, list[str]]] = [{"adminBearer": []}, {"basic": []}]
    refused = {
        "401": _json(error, "Missing or wrong admin credentials."),
        "503": _json(error, "Redis cannot be read now."),
    }
    return {
        "/admin/status": {
            "get": {
                "summary": "The status page (HTML).",
                "security": security,
                "responses": {
                    "200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}},
                    **refused,
                },
            }
        },
        "/admin/status.json": {
            "get": {
                "summary": "The status page's figures, as `infobip-inbound status --json` prints them.",
                "security": security,
                "responses": {"200": _json({"type": "object"}, "The figures."), **refused},
            }
        },
        **_message_paths(security, refused, error),
    }


_HTML = {"text/html": {"schema": {"type": "string"}}}
_JOURNEY = {
    "type": "object",
    "required": ["message_id", "events", "outcomes"],
    "description": "An archived message: its response, and every event since it was accepted.",
    "properties": {
        "message_id": {"type": "string"},
        "accepted_at": {"type": ["number", "null"], "description": "Unix seconds."},
        "queue": {"type": ["string", "null"]},
        "request_id": {"type": ["string", "null"]},
        "response": {"type": ["object", "null"], "description": "The UserResponse as queued."},
        "events": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "at": {"type": "number"},
                    "kind": {"type": "string"},
                    "handler": {"type": ["string", "null"]},
                    "tries": {"type": ["integer", "null"]},
                    "detail": {"type": "string"},
                },
            },
        },
        "outcomes": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def _search_parameters() -> list[dict[str, Any]]:
    described = {
        "id": "A message id, looked up directly.",
        "newer": "Accepted within this long: 90s, 15m, 1h, 2d, 1w or plain seconds.",
        "application": "The application code.",
        "keyword": "The keyword (any case).",
        "bulk_id": "The bulk id.",
        "source": "forward or pull.",
        "outcome": f"A handler's last outcome, quarantined or pending: one of {', '.join(SELECTABLE)}.",
        "handler": "The handler the outcome is about (with outcome).",
        "limit": f"Most messages answered (1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}).",
    }
    return [
        {"name": name, "in": "query", "required": False, "description": text, "schema": {"type": "string"}}
        for name, text in described.items()
    ]


def _message_paths(
    security: list[dict[str, list[str]]], refused: dict[str, Any], error: dict[str, Any]
) -> dict[str, Any]:
    message_id = [{"name": "message_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    found = {
        "type": "object",
        "required": ["messages", "more", "limit", "archive"],
        "properties": {
            "messages": {"type": "array", "items": _JOURNEY},
            "more": {"type": "boolean", "description": "More messages match than `limit`."},
            "limit": {"type": "integer"},
            "archive": {"type": "object", "description": "How many messages the archive holds; the oldest's time."},
        },
    }
    bad = {"400": _json(error, "A filter that cannot be used (named in the message).")}
    missing = {"404": _json(error, "No archived message has this id.")}
    return {
        "/admin/messages": {
            "get": {
                "summary": "Message look-up (HTML): the archived messages that match, newest first.",
                "security": security,
                "parameters": _search_parameters(),
                "responses": {"200": {"description": "The page.", "content": _HTML}, **bad, **refused},
            }
        },
        "/admin/messages.json": {
            "get": {
                "summary": "Message look-up: the archived messages that match, newest first.",
                "security": security,
                "parameters": _search_parameters(),
                "responses": {"200": _json(found, "The matches."), **bad, **refused},
            }
        },
        "/admin/messages/{message_id}": {
            "get": {
                "summary": "One archived message (HTML): its fields and its journey.",
                "security": security,
                "parameters": message_id,
                "responses": {
                    "200": {"description": "The page.", "content": _HTML},
                    "404": {"description": "Not in the archive (a page saying so).", "content": _HTML},
                    **refused,
                },
            }
        },
        "/admin/messages/{message_id}.json": {
            "get": {
                "summary": "One archived message: its response and its journey.",
                "security": security,
                "parameters": message_id,
                "responses": {"200": _json(_JOURNEY, "The message."), **missing, **refused},
            }
        },
    }
