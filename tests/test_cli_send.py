"""`infobip push ...`, `infobip omni ...` and `infobip configurations get` against the simulator over real HTTP;
assertions read what the simulator recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from infobip_inbound.shell.cli import main
from tests.simulator_support import API_KEY, APP, SimulatorProcess

pytest_plugins = ["tests.simulator_fixtures"]


def run(sim: SimulatorProcess, *args: str, **env: str) -> Result:
    environment = {
        "INBOUND_INFOBIP_BASE_URL": sim.base_url,
        "INBOUND_INFOBIP_API_KEY": API_KEY,
        "INBOUND_INFOBIP_APPLICATION_CODE": APP,
        "INBOUND_INFOBIP_BACKOFF_BASE_SECONDS": "0.02",
        "INBOUND_INFOBIP_BACKOFF_MAX_SECONDS": "0.1",
        "INBOUND_INFOBIP_MAX_TRIES": "3",
        **env,
    }
    return CliRunner().invoke(main, ["infobip", *args], env=environment, catch_exceptions=False)


def pushes(sim: SimulatorProcess) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = sim.admin("GET", "pushes")["pushes"]
    return found


def test_push_send_from_flags_then_stats_and_reports(sim: SimulatorProcess) -> None:
    sent = run(
        sim,
        "push",
        "send",
        "--registration-id",
        "REG-1",
        "--external-user-id",
        "invalid-user",
        "--and",
        "platform=iOS",
        "--and",
        "notificationsEnabled=true",
        "--or",
        "DeviceType=business",
        "--primary-only",
        "--title",
        "Hi",
        "--text",
        "Your order shipped",
        "--payload",
        '{"orderId": 7}',
        "--notification-options",
        '{"showMirroredPush": true, "mirroredPushStyle": "BANNER"}',
        "--json",
    )
    assert sent.exit_code == 0, sent.output
    answer = json.loads(sent.output)
    (push,) = pushes(sim)
    assert push["bulkId"] == answer["bulkId"]
    assert push["sender"] == APP
    assert push["destinations"] == [
        {"type": "REGISTRATION", "pushRegistrationId": "REG-1"},
        {"type": "EXTERNAL_USER_ID", "externalUserId": "invalid-user", "targetOnlyPrimaryDevices": True},
        {
            "type": "MULTIPLE",
            "targetOnlyPrimaryDevices": True,
            "$and": [{"platform": "iOS"}, {"notificationsEnabled": True}],
            "$or": [{"DeviceType": "business"}],
        },
    ]
    assert push["content"] == {"title": "Hi", "text": "Your order shipped"}
    assert push["options"] == {
        "customPayload": {"orderId": 7},
        "notificationOptions": {"showMirroredPush": True, "mirroredPushStyle": "BANNER"},
    }

    stats = run(sim, "push", "stats", answer["bulkId"])
    assert stats.exit_code == 0, stats.output
    lines = stats.output.splitlines()
    assert lines[:2] == [f"bulk {answer['bulkId']}", "STATISTIC             VALUE"]
    assert "total sent" in stats.output and "66.7%" in stats.output
    as_json = json.loads(run(sim, "push", "stats", answer["bulkId"], "--json").output)
    assert (as_json["totalSent"], as_json["delivered"], as_json["errors"]["registration"]) == (3, 2, 1)

    table = run(sim, "push", "reports", "--bulk-id", answer["bulkId"])
    assert table.exit_code == 0, table.output
    assert table.output.splitlines()[0].split() == ["MESSAGE", "ID", "BULK", "ID", "TO", "STATUS", "ERROR"]
    assert "DELIVERED_TO_HANDSET" in table.output and "INVALID_REGISTRATION" in table.output
    assert run(sim, "push", "reports", "--json").output.strip() == '{\n  "results": []\n}'


def test_push_send_from_json_and_toml_files(sim: SimulatorProcess, tmp_path: Path) -> None:
    message = {
        "destinations": [{"type": "PHONE_NUMBER", "phoneNumber": "41793026727"}],
        "content": {"text": "From a file"},
    }
    one_message = tmp_path / "message.json"
    one_message.write_text(json.dumps(message))
    with_sender = tmp_path / "with-sender.json"
    with_sender.write_text(json.dumps({**message, "sender": "2f3e4d5c6b7a"}))
    full = tmp_path / "request.json"
    full.write_text(json.dumps({"messages": [{"sender": "2f3e4d5c6b7a", **message}]}))
    toml = tmp_path / "request.toml"
    toml.write_text(
        '[[messages]]\nsender = "8a9b7c6d5e4f"\n'
        '[[messages.destinations]]\ntype = "EMAIL"\nemail = "jane@example.com"\n'
        '[messages.content]\ntext = "From TOML"\n'
    )
    for path in (one_message, full, toml):
        result = run(sim, "push", "send", "--file", str(path))
        assert result.exit_code == 0, result.output
        assert "1 message(s) accepted" in result.output
    without_app = run(sim, "push", "send", "--file", str(with_sender), INBOUND_INFOBIP_APPLICATION_CODE="")
    assert without_app.exit_code == 0, without_app.output
    assert [(p["sender"], p["content"]["text"]) for p in pushes(sim)] == [
        (APP, "From a file"),
        ("2f3e4d5c6b7a", "From a file"),
        (APP, "From TOML"),
        ("2f3e4d5c6b7a", "From a file"),
    ]


def test_invalid_requests_are_refused_before_sending(sim: SimulatorProcess, tmp_path: Path) -> None:
    segment = run(sim, "push", "send", "--and", "notificationsEnabled=maybe", "--text", "x")
    assert segment.exit_code == 1
    assert segment.output.startswith("Error: invalid push request (nothing was sent): ")
    assert "must be true or false" in segment.output and len(segment.output.splitlines()) == 1
    no_destination = run(sim, "push", "send", "--text", "x")
    assert (no_destination.exit_code, "at least one destination" in no_destination.output) == (2, True)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    unreadable = run(sim, "push", "send", "--file", str(broken))
    assert (unreadable.exit_code, "cannot read" in unreadable.output) == (1, True)
    buttons = run(
        sim,
        "push",
        "send",
        "--registration-id",
        "R",
        "--text",
        "x",
        "--notification-options",
        '{"mirroredPushOpenTitle": "Go"}',
    )
    assert "mirroredPushStyle MODAL" in buttons.output
    both = run(sim, "push", "send", "--file", str(broken), "--text", "x")
    assert (both.exit_code, "not both" in both.output) == (2, True)
    assert pushes(sim) == []


def test_infobip_errors_are_one_line(sim: SimulatorProcess) -> None:
    unknown_bulk = run(sim, "push", "stats", "NOPE")
    assert unknown_bulk.exit_code == 1
    assert unknown_bulk.output.splitlines() == ["Error: Bulk not found [HTTP 404, messageId NOT_FOUND: Bulk not found]"]
    unknown_app = run(sim, "push", "send", "--app", "no-such-app", "--registration-id", "R", "--text", "x")
    assert unknown_app.exit_code == 1
    assert "messages[0].sender" in unknown_app.output and "application does not exist" in unknown_app.output
    wrong_key = run(sim, "push", "stats", "X", INBOUND_INFOBIP_API_KEY="wrong-key-123456")
    assert "rejected the API key" in wrong_key.output and "Traceback" not in wrong_key.output


def test_a_send_in_doubt_says_so_and_is_not_sent_again(sim: SimulatorProcess) -> None:
    sim.faults(accept_then_502=1)
    sent = run(sim, "push", "send", "--registration-id", "R-1", "--text", "once")
    assert sent.exit_code == 1
    (line,) = sent.output.splitlines()
    assert line.startswith("Error: in doubt:") and "not sent again" in line and "HTTP 502" in line
    assert len(pushes(sim)) == 1


def test_omni_scenarios_send_and_reports(sim: SimulatorProcess, tmp_path: Path) -> None:
    created = run(
        sim,
        "omni",
        "scenarios",
        "create",
        "--name",
        "push + SMS",
        "--step",
        f"PUSH={APP}",
        "--step",
        "sms=InfoSMS",
        "--default",
    )
    assert created.exit_code == 0, created.output
    assert created.output.startswith("created scenario ") and f"PUSH({APP}) -> SMS(InfoSMS)" in created.output
    from_file = tmp_path / "scenario.json"
    from_file.write_text(json.dumps({"name": "push only", "flow": [{"from": APP, "channel": "PUSH"}]}))
    second = json.loads(run(sim, "omni", "scenarios", "create", "--file", str(from_file), "--json").output)
    listed = json.loads(run(sim, "omni", "scenarios", "list", "--json").output)["scenarios"]
    assert [(s["name"], s["default"]) for s in listed] == [("push + SMS", True), ("push only", False)]
    table = run(sim, "omni", "scenarios", "list", "--default-only").output
    assert "push + SMS" in table and second["key"] not in table

    sent = run(
        sim,
        "omni",
        "send",
        "--phone-number",
        "41793026727",
        "--registration-id",
        "invalid-reg",
        "--push-text",
        "Shipped",
        "--push-title",
        "Order",
        "--sms-text",
        "Shipped (SMS)",
        "--json",
    )
    assert sent.exit_code == 0, sent.output
    bulk = json.loads(sent.output)["bulkId"]
    reports = json.loads(run(sim, "omni", "reports", "--bulk-id", bulk, "--json").output)["results"]
    assert [(r["to"], r["channel"], r["status"]["groupName"]) for r in reports] == [
        ("41793026727", "PUSH", "DELIVERED"),
        ("invalid-reg", "PUSH", "UNDELIVERABLE"),
    ]
    by_key = run(sim, "omni", "send", "--scenario", second["key"], "--phone-number", "41793026727", "--sms-text", "x")
    assert by_key.exit_code == 0 and "1 message(s) accepted" in by_key.output
    assert "CHANNEL" in run(sim, "omni", "reports").output
    for dropped in (["--payload", '{"k": 1}'], ["--push-title", "T"]):
        lost = run(sim, "omni", "send", "--phone-number", "41793026727", "--sms-text", "x", *dropped)
        assert lost.exit_code == 2 and dropped[0] in lost.output and "--push-text" in lost.output
    nothing = run(sim, "omni", "send", "--phone-number", "41793026727")
    assert nothing.exit_code == 1 and "at least one channel" in nothing.output
    both = run(sim, "omni", "send", "--file", str(from_file), "--sms-text", "x")
    assert (both.exit_code, "not both" in both.output) == (2, True)
    bad_step = run(sim, "omni", "scenarios", "create", "--name", "x", "--step", "PUSH")
    assert bad_step.exit_code == 2 and "CHANNEL=FROM" in bad_step.output


def test_configurations_get(sim: SimulatorProcess) -> None:
    missing = run(sim, "configurations", "get")
    assert missing.exit_code == 1 and "has no configuration" in missing.output
    key = json.loads(run(sim, "configurations", "create", "--json").output)["key"]
    assert json.loads(run(sim, "configurations", "get", "--json").output) == {
        "key": key,
        "applicationCode": APP,
        "actions": 0,
    }
    assert run(sim, "configurations", "get", key).output.split() == ["KEY", "APPLICATION", "ACTIONS", key, APP, "0"]
    wrong = run(sim, "configurations", "get", "NOPE")
    assert wrong.exit_code == 1 and "configuration does not exist" in wrong.output


def test_every_command_and_option_has_help() -> None:
    import click

    from infobip_inbound.shell.cli_infobip import infobip

    def walk(command: click.Command, path: str) -> list[str]:
        missing = [] if command.help else [path]
        missing += [f"{path} {p.name}" for p in command.params if isinstance(p, click.Option) and not p.help]
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                missing += walk(sub, f"{path} {name}")
        return missing

    assert walk(infobip, "infobip") == []


def test_omni_send_has_the_flags_of_push_send(sim: SimulatorProcess) -> None:
    run(sim, "omni", "scenarios", "create", "--name", "push", "--step", f"PUSH={APP}", "--default")
    sent = run(
        sim,
        "omni",
        "send",
        *("--registration-id", "R-1", "--registration-id", "R-2"),
        *("--external-user-id", "customer_21234", "--external-user-id", "customer_21235"),
        *("--push-text", "Hi", "--push-title", "T", "--primary-only"),
        *("--notification-options", '{"badge": 2, "inAppStyle": "MODAL"}'),
        "--json",
    )
    assert sent.exit_code == 0, sent.output
    body = sim.admin("GET", "requests")["requests"][-1]["body"]
    assert body == {
        "destinations": [
            {"to": {"pushRegistrationId": "R-1"}},
            {"to": {"pushRegistrationId": "R-2"}},
            {"to": {"externalUserId": "customer_21234"}},
            {"to": {"externalUserId": "customer_21235"}},
        ],
        "push": {
            "text": "Hi",
            "notificationOptions": {"badge": 2, "inAppStyle": "MODAL", "title": "T"},
            "targetOnlyPrimaryDevices": True,
        },
    }
    for flag in (["--primary-only"], ["--notification-options", "{}"]):
        lost = run(sim, "omni", "send", "--phone-number", "41793026727", "--sms-text", "x", *flag)
        assert lost.exit_code == 2 and flag[0] in lost.output and "--push-text" in lost.output


def test_omni_reports_by_channel_and_scenarios_by_page(sim: SimulatorProcess, tmp_path: Path) -> None:
    for name in ("first", "second", "third"):
        created = run(sim, "omni", "scenarios", "create", "--name", name, "--step", f"PUSH={APP}", "--step", "SMS=Info")
        assert created.exit_code == 0, created.output
    page = json.loads(run(sim, "omni", "scenarios", "list", "--limit", "1", "--page", "1", "--json").output)
    assert [s["name"] for s in page["scenarios"]] == ["second"]
    assert sim.admin("GET", "requests")["requests"][-1]["query"] == "limit=1&page=1"
    everything = json.loads(run(sim, "omni", "scenarios", "list", "--json").output)["scenarios"]
    key = everything[0]["key"]
    # The push to an invalid registration falls back to SMS; the other is delivered by push.
    request = tmp_path / "send.json"
    fallback = {"pushRegistrationId": "invalid-1", "phoneNumber": "41793026727"}
    destinations = [{"to": fallback}, {"to": {"pushRegistrationId": "R-ok"}}]
    body = {"scenarioKey": key, "destinations": destinations, "push": {"text": "p"}, "sms": {"text": "s"}}
    request.write_text(json.dumps(body))
    sent = run(sim, "omni", "send", "--file", str(request))
    assert sent.exit_code == 0, sent.output
    sms = json.loads(run(sim, "omni", "reports", "--channel", "sms", "--json").output)["results"]
    assert [(r["to"], r["channel"]) for r in sms] == [("41793026727", "SMS")]
    assert sim.admin("GET", "requests")["requests"][-1]["query"] == "limit=50&channel=SMS"
    push = json.loads(run(sim, "omni", "reports", "--json").output)["results"]
    assert [(r["to"], r["channel"]) for r in push] == [("R-ok", "PUSH")]
