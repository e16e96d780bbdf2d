"""Routing on campaigns: bulk, initial message, paired or unprompted, regular expressions, payload values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import ConfigError, load_settings
from infobip_inbound.infobip.envelope import InfobipResult
from tests.support import ROOT
from tests.test_config_and_routing import response

ROUTES = [
    {"name": "spring", "match": {"bulk_id": "bulk-spring"}, "handlers": ["log"], "queue": "spring"},
    {"name": "first-push", "match": {"initial_message_id": ["init-1", "init-2"]}, "handlers": ["log"]},
    {"name": "yes", "match": {"paired": True, "keyword_regex": "(?i)^y(es)?$"}, "handlers": ["log"]},
    {"name": "help", "match": {"paired": False, "text_regex": r"\bhelp\b"}, "handlers": ["log"]},
    {"name": "gold", "match": {"custom_payload": {"tier": ["gold", "platinum"], "vip": True}}, "handlers": ["log"]},
    {"name": "unprompted", "match": {"paired": False}, "handlers": ["log"]},
]


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def router() -> Router:
    return Router.from_settings(load_settings(routes=ROUTES))


@pytest.mark.parametrize(
    ("fields", "route"),
    [
        ({"bulk_id": "bulk-spring", "paired_message_id": "p1", "keyword": "YES"}, "spring"),
        ({"bulk_id": "other", "initial_message_id": "init-2", "paired_message_id": "p1"}, "first-push"),
        ({"paired_message_id": "p1", "keyword": "Yes"}, "yes"),
        ({"paired_message_id": "p1", "keyword": "yesterday"}, "default"),
        ({"text": "please help me"}, "help"),
        ({"paired_message_id": "p1", "text": "please help me"}, "default"),
        ({"custom_payload": {"tier": "gold", "vip": True}, "paired_message_id": "p"}, "gold"),
        ({"custom_payload": {"tier": "bronze", "vip": True}, "paired_message_id": "p"}, "default"),
        ({"custom_payload": {"tier": "gold"}, "paired_message_id": "p"}, "default"),
        ({"text": "hello"}, "unprompted"),
    ],
)
def test_campaign_conditions_route_both_models_alike(fields: dict[str, object], route: str) -> None:
    user_response = response(**fields)
    wire = InfobipResult.model_validate(
        {"messageId": "m1", "applicationCode": "app-1", "text": "STOP now"} | {_camel(k): v for k, v in fields.items()}
    )
    assert router().destination(user_response).route == route
    assert router().destination(wire).route == route


def test_routed_bulk_goes_to_its_queue() -> None:
    destination = router().destination(response(bulk_id="bulk-spring", paired_message_id="p1"))
    assert (destination.route, destination.queue) == ("spring", "spring")


def test_regex_is_compiled_once_at_load() -> None:
    settings = load_settings(routes=ROUTES)
    pattern = settings.routes[2].match.keyword_regex
    assert pattern is not None
    assert pattern.pattern == "(?i)^y(es)?$"


@pytest.mark.parametrize(
    ("match", "field"),
    [
        ({"text_regex": "([unclosed"}, "match.text_regex"),
        ({"keyword_regex": "*"}, "match.keyword_regex"),
        ({"paired": "sometimes"}, "match.paired"),
        ({"bulk": "typo"}, "match.bulk"),
    ],
)
def test_invalid_route_names_route_and_field(match: dict[str, object], field: str) -> None:
    routes = [{"name": "spring-sale", "match": match, "handlers": ["log"]}]
    with pytest.raises(ConfigError) as caught:
        load_settings(routes=routes)
    assert "spring-sale" in str(caught.value)
    assert field in str(caught.value)


def test_invalid_route_file_stops_the_process_at_start(tmp_path: Path) -> None:
    config = tmp_path / "inbound.toml"
    config.write_text('[[routes]]\nname = "spring-sale"\nhandlers = ["log"]\n[routes.match]\ntext_regex = "(oops"\n')
    env = {"INBOUND_CONFIG_FILE": str(config), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "infobip_inbound.shell.cli", "worker"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert done.returncode != 0
    assert "spring-sale" in done.stderr
    assert "match.text_regex" in done.stderr
