"""`infobip ...`, `register` and `unregister` against the simulator over real HTTP; assertions read its state."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from infobip_inbound.contract.settings import load_settings
from infobip_inbound.infobip.forward_url import forward_url_for, redact_forward_url, same_service
from infobip_inbound.shell.cli import main
from tests.simulator_support import API_KEY, APP, SimulatorProcess, make_client

pytest_plugins = ["tests.simulator_fixtures"]

TOKEN = "fwd-token-0123456789abcdef"
PUBLIC = "https://inbound.example.test"


def run(sim: SimulatorProcess, *args: str, **env: str) -> Result:
    environment = {
        "INBOUND_INFOBIP_BASE_URL": sim.base_url,
        "INBOUND_INFOBIP_API_KEY": API_KEY,
        "INBOUND_INFOBIP_APPLICATION_CODE": APP,
        "INBOUND_INFOBIP_BACKOFF_BASE_SECONDS": "0.02",
        "INBOUND_INFOBIP_BACKOFF_MAX_SECONDS": "0.1",
        "INBOUND_INFOBIP_MAX_TRIES": "3",
        "INBOUND_FORWARD_TOKENS": TOKEN,
        **env,
    }
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)


def actions(sim: SimulatorProcess, app: str = APP) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = sim.state()["applications"][app]["actions"]
    return found


def test_configurations_commands(sim: SimulatorProcess) -> None:
    assert run(sim, "infobip", "configurations", "list").output.strip() == "(none)"
    created = run(sim, "infobip", "configurations", "create", "--json")
    key = json.loads(created.output)["key"]
    assert sim.state()["applications"][APP]["configuration"] == key
    listed = run(sim, "infobip", "configurations", "list")
    assert listed.output.split() == ["KEY", key]
    assert json.loads(run(sim, "infobip", "configurations", "list", "--json").output) == {
        "configurations": [{"key": key}]
    }
    second = run(sim, "infobip", "configurations", "create")
    assert second.exit_code == 1
    assert "already has a configuration" in second.output
    assert "HTTP 409" in second.output
    assert run(sim, "infobip", "configurations", "delete", key).exit_code == 0
    assert sim.state()["applications"][APP]["configuration"] is None


def test_actions_commands(sim: SimulatorProcess) -> None:
    no_configuration = run(sim, "infobip", "actions", "list")
    assert no_configuration.exit_code == 1
    assert "has no configuration" in no_configuration.output
    run(sim, "infobip", "configurations", "create")
    url = f"https://user:s3cret@hooks.example.test/infobip/forward/{TOKEN}"
    created = run(
        sim, "infobip", "actions", "create", "--type", "HTTP_FORWARD", "--forward-url", url, "--callback-data", "x"
    )
    assert created.exit_code == 0, created.output
    (action,) = actions(sim)
    assert (action["forwardUrl"], action["callbackData"]) == (url, "x")
    table = run(sim, "infobip", "actions", "list").output
    assert action["key"] in table and "HTTP_FORWARD" in table
    assert TOKEN not in table and "s3cret" not in table
    shown = json.loads(run(sim, "infobip", "actions", "list", "--json", "--show-secrets").output)
    assert shown["actions"][0]["forwardUrl"] == url
    assert run(sim, "infobip", "actions", "delete", action["key"]).exit_code == 0
    assert actions(sim) == []


def test_errors_are_explained(sim: SimulatorProcess) -> None:
    run(sim, "infobip", "configurations", "create")
    missing = run(sim, "infobip", "actions", "delete", "NOPE")
    assert (missing.exit_code, "action does not exist" in missing.output) == (1, True)
    unknown_app = run(sim, "infobip", "configurations", "list", "--app", "no-such-app")
    assert "application does not exist" in unknown_app.output
    bad = run(sim, "infobip", "actions", "create", "--type", "HTTP_FORWARD", "--forward-url", "ftp://x")
    assert "rejected the action request" in bad.output and "forwardUrl" in bad.output
    wrong_key = run(sim, "infobip", "configurations", "list", INBOUND_INFOBIP_API_KEY="wrong-key-123456")
    assert "rejected the API key" in wrong_key.output
    assert "wrong-key-123456" not in wrong_key.output
    unconfigured = run(sim, "infobip", "configurations", "list", INBOUND_INFOBIP_BASE_URL="")
    assert "INBOUND_INFOBIP_BASE_URL" in unconfigured.output


def test_register_creates_configuration_and_forward_action(sim: SimulatorProcess) -> None:
    result = run(sim, "register", "--public-url", PUBLIC)
    assert result.exit_code == 0, result.output
    assert "create the configuration" in result.output
    assert TOKEN not in result.output
    (action,) = actions(sim)
    assert action["type"] == "HTTP_FORWARD"
    assert action["forwardUrl"] == f"{PUBLIC}/infobip/forward/{TOKEN}"
    assert "callbackData" not in action  # the user's to set, not ours to take


def test_register_sets_callback_data_only_when_asked(sim: SimulatorProcess) -> None:
    run(sim, "register", "--public-url", PUBLIC)
    result = run(sim, "register", "--public-url", PUBLIC, "--callback-data", "shop")
    assert result.exit_code == 0, result.output
    assert "(callbackData 'shop')" in result.output and "delete stale HTTP_FORWARD" in result.output
    (action,) = actions(sim)
    assert (action["forwardUrl"], action["callbackData"]) == (f"{PUBLIC}/infobip/forward/{TOKEN}", "shop")
    assert "nothing to change" in run(sim, "register", "--public-url", PUBLIC, "--callback-data", "shop").output


def test_register_pull_keeps_other_pull_actions_and_replaces_legacy_marked_ones(sim: SimulatorProcess) -> None:
    with make_client(sim.base_url) as client:
        cfg = client.create_configuration(APP)
        client.create_action(APP, cfg, "PULL", callback_data="infobip-inbound")  # as earlier versions marked ours
        client.create_action(APP, cfg, "PULL", callback_data="someone-elses")
    result = run(sim, "register", "--public-url", PUBLIC, "--pull", "--callback-data", "shop")
    assert result.exit_code == 0, result.output
    assert sorted(a["callbackData"] for a in actions(sim)) == ["shop", "someone-elses"]
    run(sim, "unregister", "--public-url", PUBLIC, "--callback-data", "shop")
    assert [a["callbackData"] for a in actions(sim)] == ["someone-elses"]


def test_register_twice_changes_nothing(sim: SimulatorProcess) -> None:
    run(sim, "register", "--public-url", PUBLIC)
    before = sim.state()["applications"]
    again = run(sim, "register", "--public-url", PUBLIC + "/")
    assert "nothing to change" in again.output
    assert sim.state()["applications"] == before


def test_register_after_rotation_replaces_the_action_and_keeps_others(sim: SimulatorProcess) -> None:
    run(sim, "register", "--public-url", PUBLIC)
    with make_client(sim.base_url) as client:
        cfg = client.list_configurations(APP)[0]
        other = client.create_action(APP, cfg, "HTTP_FORWARD", "https://someone-else.example.test/hook", "theirs")
        # A duplicate of ours, as a crashed earlier run could leave behind.
        client.create_action(APP, cfg, "HTTP_FORWARD", f"{PUBLIC}/infobip/forward/old-token", "infobip-inbound")
    rotated = run(sim, "register", "--public-url", PUBLIC, INBOUND_FORWARD_TOKENS=f"new-token-xyz-0123456,{TOKEN}")
    assert rotated.exit_code == 0, rotated.output
    assert rotated.output.count("delete stale") == 2
    urls = sorted(a["forwardUrl"] for a in actions(sim))
    assert urls == sorted([other.forward_url, f"{PUBLIC}/infobip/forward/new-token-xyz-0123456"])


def test_register_dry_run_changes_nothing(sim: SimulatorProcess) -> None:
    result = run(sim, "register", "--public-url", PUBLIC, "--dry-run")
    assert "would create the configuration" in result.output
    assert "would create HTTP_FORWARD action" in result.output
    assert sim.state()["applications"][APP] == {"configuration": None, "actions": []}


def test_register_with_basic_credentials(sim: SimulatorProcess) -> None:
    run(
        sim,
        "register",
        "--public-url",
        PUBLIC,
        INBOUND_FORWARD_TOKENS="",
        INBOUND_FORWARD_BASIC_AUTH="infobip:pa ss-0123456789ab",
    )
    (action,) = actions(sim)
    assert action["forwardUrl"] == "https://infobip:pa%20ss-0123456789ab@inbound.example.test/infobip/forward"


def test_register_pull_replaces_forward(sim: SimulatorProcess) -> None:
    run(sim, "register", "--public-url", PUBLIC)
    result = run(sim, "register", "--public-url", PUBLIC, "--pull")
    assert result.exit_code == 0, result.output
    assert [(a["type"], a.get("callbackData")) for a in actions(sim)] == [("PULL", None)]
    assert "nothing to change" in run(sim, "register", "--public-url", PUBLIC, "--pull").output


def test_unregister_removes_ours_only(sim: SimulatorProcess) -> None:
    run(sim, "register", "--public-url", PUBLIC)
    with make_client(sim.base_url) as client:
        cfg = client.list_configurations(APP)[0]
        client.create_action(APP, cfg, "HTTP_FORWARD", "https://someone-else.example.test/hook", "theirs")
    dry = run(sim, "unregister", "--public-url", PUBLIC, "--dry-run")
    assert "would delete stale HTTP_FORWARD" in dry.output and len(actions(sim)) == 2
    run(sim, "unregister", "--public-url", PUBLIC)
    assert [a["callbackData"] for a in actions(sim)] == ["theirs"]


def test_unregister_deletes_the_configuration_it_leaves_empty(sim: SimulatorProcess) -> None:
    run(sim, "register", "--public-url", PUBLIC)
    run(sim, "unregister", "--public-url", PUBLIC)
    assert sim.state()["applications"][APP] == {"configuration": None, "actions": []}
    assert "nothing to change" in run(sim, "unregister", "--public-url", PUBLIC).output


def test_forward_url_helpers() -> None:
    settings = load_settings(forward_tokens=["a/b-0123456789abcd"])
    assert (
        forward_url_for("https://h.example:443/base/", settings)
        == "https://h.example/base/infobip/forward/a%2Fb-0123456789abcd"
    )
    assert (
        forward_url_for("http://h:8080/infobip/forward", settings)
        == "http://h:8080/infobip/forward/a%2Fb-0123456789abcd"
    )
    assert same_service("https://u:p@H.example/base/infobip/forward", "https://h.example/base")
    assert same_service("https://h.example/base/infobip/forward/old", "https://h.example/base")
    assert not same_service("https://h.example/other/infobip/forward/old", "https://h.example/base")
    assert not same_service("http://h.example/base/infobip/forward/old", "https://h.example/base")
    assert redact_forward_url("https://u:p@h/infobip/forward/tok") == "https://u:***@h/infobip/forward/***"
