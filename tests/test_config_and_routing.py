from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from infobip_inbound.contract.model import UserResponse, json_schema
from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import ConfigError, load_settings
from infobip_inbound.receiver.auth import ForwardAuth
from tests.support import ROOT


def response(**fields: object) -> UserResponse:
    base: dict[str, object] = {
        "message_id": "m1",
        "application_code": "app-1",
        "registration_id": "r1",
        "to": "app-1",
        "text": "STOP now",
        "clean_text": "now",
        "received_at": datetime(2026, 1, 1, tzinfo=UTC),
        "source": "forward",
        "ingested_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    base.update(fields)
    return UserResponse.model_validate(base)


def test_published_schema_matches_the_model() -> None:
    published = orjson.loads((ROOT / "docs" / "user-response.schema.json").read_bytes())
    assert published == json_schema(), "run `make schema` to refresh docs/user-response.schema.json"
    assert "message_id" in published["required"]


def test_schema_command_prints_the_schema() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "infobip_inbound.shell.cli", "schema"], capture_output=True, check=True, cwd=ROOT
    ).stdout
    assert orjson.loads(out) == json_schema()


def test_invalid_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOUND_DEDUP_WINDOW_SECONDS", "-5")
    with pytest.raises(ConfigError, match="INBOUND_DEDUP_WINDOW_SECONDS"):
        load_settings()


@pytest.mark.parametrize("name", ["INBOUND_POLL_ACCOUNTS", "INBOUND_ROUTES"])
def test_bad_json_in_a_setting_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "[{bad")
    with pytest.raises(ConfigError, match=f"{name} is not valid JSON") as caught:
        load_settings()
    assert "\n" not in str(caught.value)
    answer = subprocess.run(
        [sys.executable, "-m", "infobip_inbound.shell.cli", "status"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, name: "[{bad", "INBOUND_REDIS_URL": "redis://127.0.0.1:1/0"},
        timeout=60,
    )
    assert answer.returncode != 0 and "Traceback" not in answer.stderr
    assert [line for line in answer.stderr.splitlines() if line.startswith("Error:")] == [f"Error: {caught.value}"]


def test_invalid_basic_auth_pair_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOUND_FORWARD_BASIC_AUTH", "no-colon-here")
    with pytest.raises(ConfigError, match="INBOUND_FORWARD_BASIC_AUTH"):
        load_settings()


def test_unknown_setting_in_the_config_file_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "inbound.toml"
    config.write_text('redis_url = "redis://x"\nnot_a_setting = 1\n')
    monkeypatch.setenv("INBOUND_CONFIG_FILE", str(config))
    with pytest.raises(ConfigError, match="not_a_setting"):
        load_settings()


def test_missing_config_file_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INBOUND_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="no such file"):
        load_settings()


def test_config_file_with_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "inbound.toml"
    config.write_text(
        'default_queue = "from-file"\n'
        "[[routes]]\n"
        'name = "orders"\n'
        'handlers = ["log", "jsonl"]\n'
        'queue = "orders"\n'
        '[routes.match]\napplication_code = "shop"\ncustom_payload_keys = ["orderId"]\n'
    )
    monkeypatch.setenv("INBOUND_CONFIG_FILE", str(config))
    monkeypatch.setenv("INBOUND_DEFAULT_QUEUE", "from-env")
    monkeypatch.setenv("INBOUND_FORWARD_TOKENS", "tok-a1-0123456789ab, tok-b2-0123456789ab ,tok-c3-0123456789ab")
    settings = load_settings()
    assert settings.default_queue == "from-env"
    assert settings.routes[0].match.application_code == ["shop"]
    assert [t.get_secret_value() for t in settings.forward_tokens] == [
        "tok-a1-0123456789ab",
        "tok-b2-0123456789ab",
        "tok-c3-0123456789ab",
    ]
    assert settings.queues == ["from-env", "orders"]
    assert "tok-a1" not in repr(settings)


def test_routing_first_match_wins_with_default() -> None:
    settings = load_settings(
        routes=[
            {
                "name": "stop",
                "match": {"keyword": "stop"},
                "handlers": ["unsubscribe:run"],
                "queue": "urgent",
            },
            {"name": "orders", "match": {"custom_payload_keys": ["orderId"]}, "handlers": ["jsonl"]},
            {
                "name": "cb",
                "match": {"callback_data": ["x"], "application_code": ["app-2"]},
                "handlers": ["log"],
            },
        ],
        default_handlers=["log"],
    )
    router = Router.from_settings(settings)
    assert router.destination(response(keyword="STOP")).route == "stop"
    assert router.destination(response(keyword="STOP")).queue == "urgent"
    assert router.destination(response(custom_payload={"orderId": 1})).handlers == ("jsonl",)
    assert router.destination(response(custom_payload={"orderId": 1})).queue == settings.default_queue
    assert router.destination(response(callback_data="x", application_code="app-2")).route == "cb"
    assert router.destination(response(callback_data="x")).route == "default"
    assert router.destination(response()).handlers == ("log",)
    assert router.handler_names == {"unsubscribe:run", "jsonl", "log"}


def test_auth_tokens_and_basic_rotation() -> None:
    from pydantic import SecretStr

    auth = ForwardAuth([SecretStr("old"), SecretStr("new")], [SecretStr("infobip:pw")], disabled=False)
    assert auth.allows("old", None)
    assert auth.allows("new", None)
    assert not auth.allows("ne", None)
    assert not auth.allows(None, None)
    assert auth.allows(None, "Basic aW5mb2JpcDpwdw==")  # infobip:pw
    assert not auth.allows(None, "Basic aW5mb2JpcDpwdg==")  # infobip:pv
    assert not auth.allows(None, "Basic !!!")
    assert not auth.allows(None, "Bearer old")
    with pytest.raises(ValueError, match="INBOUND_FORWARD_TOKENS"):
        ForwardAuth([], [], disabled=False)
    assert ForwardAuth([], [], disabled=True).allows(None, None)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("INBOUND_FORWARD_TOKENS", "t"),
        ("INBOUND_FORWARD_TOKENS", "long-enough-token-1,short"),
        ("INBOUND_FORWARD_BASIC_AUTH", "infobip:short-password"),
        ("INBOUND_ADMIN_TOKENS", "admin"),
        ("INBOUND_FORWARD_TOKENS", "local-dev-token"),
        ("INBOUND_ADMIN_TOKENS", "local-dev-admin"),
    ],
)
def test_weak_or_published_credentials_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable) as refused:
        load_settings()
    assert "16 characters" in str(refused.value) or "published default" in str(refused.value)


def test_dev_accepts_its_own_published_credentials_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOUND_DEV_DEFAULTS", "true")
    monkeypatch.setenv("INBOUND_FORWARD_TOKENS", "local-dev-token")
    monkeypatch.setenv("INBOUND_ADMIN_TOKENS", "local-dev-admin")
    assert [t.get_secret_value() for t in load_settings().forward_tokens] == ["local-dev-token"]
    monkeypatch.setenv("INBOUND_FORWARD_TOKENS", "t")
    with pytest.raises(ConfigError, match="16 characters"):
        load_settings()


def test_a_strong_token_leaves_ordinary_words_in_the_logs(capsys: pytest.CaptureFixture[str]) -> None:
    from infobip_inbound.runtime.logs import configure_logging

    configure_logging(load_settings(forward_tokens=["t" * 16], log_format="console"))
    try:
        logging.getLogger("test").warning("time left without tokens")
    finally:
        logging.getLogger().handlers.clear()
    assert "time left without tokens" in capsys.readouterr().err
