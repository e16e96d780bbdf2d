"""GET /openapi.json: a valid OpenAPI 3.1 document that describes every route the receiver serves."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from starlette.routing import Route

from infobip_inbound.contract.settings import load_settings
from infobip_inbound.receiver.app import create_app
from infobip_inbound.receiver.openapi import openapi


def served_routes(app: Any) -> set[tuple[str, str]]:
    """(path, method) of every route of the Starlette app behind the edge's middleware."""
    while not hasattr(app, "routes"):
        app = getattr(app, "app", None) or app._app
    return {
        (re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), method.lower())  # OpenAPI has no convertors
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or ()) - {"HEAD"}
    }


def described_routes(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, operations in spec["paths"].items() for method in operations}


@pytest.mark.parametrize("admin", [False, True])
def test_the_description_is_valid_openapi_3_1_and_covers_every_route(admin: bool, redis_url: str) -> None:
    settings = load_settings(redis_url=redis_url, forward_tokens="t" * 24, admin_tokens="a" * 24 if admin else "")
    spec = openapi(settings)
    assert spec["openapi"] == "3.1.0"
    validate(spec)
    assert described_routes(spec) == served_routes(create_app(settings))
    assert any(path.startswith("/admin/") for path, _ in described_routes(spec)) is admin


def test_the_schemas_need_3_1_and_the_validator_notices() -> None:
    spec = openapi(load_settings(forward_tokens="t" * 24))
    spec["openapi"] = "3.0.3"  # what the description once declared: pydantic's schemas use 3.1 constructs
    with pytest.raises(OpenAPIValidationError):
        validate(spec)
