"""One manner across the CLI: `--json` on the commands that change something, Infobip and Redis errors as one
line and a non-zero exit, Infobip retries logged with their try and delay, unknown INBOUND_ variables named."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import click
from click.testing import CliRunner

from infobip_inbound.contract.settings import unknown_env
from infobip_inbound.runtime.logs import quiet_libraries
from infobip_inbound.shell.cli import main
from infobip_inbound.shell.redis_server import free_port
from tests.simulator_support import APP, SimulatorProcess
from tests.support import ROOT
from tests.test_cli_infobip import PUBLIC, run

pytest_plugins = ["tests.simulator_fixtures"]


def test_register_and_unregister_print_one_json_document(sim: SimulatorProcess) -> None:
    dry = json.loads(run(sim, "register", "--public-url", PUBLIC, "--dry-run", "--json").output)
    assert dry["dryRun"] is True and dry["changed"] is False and dry["steps"]
    done = json.loads(run(sim, "register", "--public-url", PUBLIC, "--json").output)
    assert done["changed"] is True and done["configuration"] is None  # there was none: it was created
    again = json.loads(run(sim, "register", "--public-url", PUBLIC, "--json").output)
    assert (again["changed"], again["steps"]) == (False, [])
    assert set(again) == {"applicationCode", "configuration", "dryRun", "changed", "steps"}
    gone = json.loads(run(sim, "unregister", "--public-url", PUBLIC, "--json").output)
    assert gone["changed"] is True and any("delete" in step for step in gone["steps"])


def test_deletes_print_what_they_deleted(sim: SimulatorProcess) -> None:
    key = json.loads(run(sim, "infobip", "configurations", "create", "--json").output)["key"]
    action = json.loads(
        run(sim, "infobip", "actions", "create", "--type", "PULL", "--callback-data", "x", "--json").output
    )
    deleted = json.loads(run(sim, "infobip", "actions", "delete", action["key"], "--json").output)
    assert deleted == {"deleted": {"action": action["key"], "configuration": key, "applicationCode": APP}}
    deleted = json.loads(run(sim, "infobip", "configurations", "delete", key, "--json").output)
    assert deleted == {"deleted": {"configuration": key, "applicationCode": APP}}


def test_infobip_errors_are_one_line_and_retries_say_their_try_and_delay(sim: SimulatorProcess) -> None:
    sim.faults(error_burst=2)  # two 5xx, then success
    retried = run(sim, "infobip", "configurations", "list")
    assert retried.exit_code == 0
    lines = [line for line in retried.output.splitlines() if "retrying" in line]
    assert len(lines) == 2 and all("try=" in line and "delay_s=" in line for line in lines)
    sim.faults(error_burst=100)
    failed = run(sim, "infobip", "configurations", "list", "--json")
    assert failed.exit_code != 0
    errors = [line for line in failed.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in failed.output
    sim.faults(error_burst=0)


def test_redis_down_is_one_line_and_a_non_zero_exit() -> None:
    env = {"INBOUND_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "PATH": "/usr/bin:/bin"}
    for command, args in REDIS_JSON_COMMANDS.items():
        answer = subprocess.run(
            [sys.executable, "-m", "infobip_inbound.shell.cli", *command.split(), *args, "--json"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert answer.returncode != 0, command
        assert answer.stdout == "", command
        assert answer.stderr.strip().count("\n") == 0 and "Redis unavailable" in answer.stderr, (command, answer.stderr)


def test_a_burst_worker_with_redis_down_ends_with_one_line() -> None:
    # A long-running worker waits for Redis to come back; a burst run must end, as the other commands do.
    env = {"INBOUND_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "PATH": "/usr/bin:/bin"}
    answer = subprocess.run(
        [sys.executable, "-m", "infobip_inbound.shell.cli", "worker", "--burst"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,  # it waited for ever before: this bounds the test, not a figure
    )
    assert answer.returncode == 1
    assert answer.stdout == ""
    (line,) = answer.stderr.splitlines()
    assert line.startswith("Error: Redis unavailable: ConnectionError: "), line


def test_unknown_inbound_variables_are_warned_about_once_with_the_closest_name() -> None:
    assert unknown_env({"INBOUND_REDIS_UR": "x", "INBOUND_PORT": "1", "INBOUND_ZZZ": "1", "OTHER": "1"}) == {
        "INBOUND_REDIS_UR": "INBOUND_REDIS_URL",
        "INBOUND_ZZZ": None,
    }
    answer = subprocess.run(
        [sys.executable, "-m", "infobip_inbound.shell.cli", "schema"],
        env={"INBOUND_FORWRD_TOKENS": "x", "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 0 and json.loads(answer.stdout)
    assert answer.stderr.count("INBOUND_FORWRD_TOKENS") == 1
    assert "did you mean INBOUND_FORWARD_TOKENS?" in answer.stderr


def test_library_loggers_stay_at_warning_unless_debug_is_asked_for() -> None:
    rq_filter = quiet_libraries("INFO")
    assert logging.getLogger("httpx").level == logging.WARNING
    assert rq_filter is not None
    chatter = logging.LogRecord("rq.worker", logging.INFO, "", 0, "Job OK (%s)", ("a" * 32,), None)
    lifecycle = logging.LogRecord("rq.worker", logging.INFO, "", 0, "*** Listening on %s...", ("q",), None)
    ours = logging.LogRecord("infobip_inbound.worker", logging.INFO, "", 0, "handled", None, None)
    assert [rq_filter.filter(r) for r in (chatter, lifecycle, ours)] == [False, True, True]
    assert quiet_libraries("DEBUG") is None and logging.getLogger("httpx").level == logging.DEBUG
    quiet_libraries("INFO")


# Every command with --json, and arguments that get it as far as Infobip (dlq and quarantine: tests/test_cli_dlq.py).
INFOBIP_JSON_COMMANDS = {
    "infobip configurations list": [],
    "infobip configurations get": [],
    "infobip configurations create": [],
    "infobip configurations delete": ["KEY"],
    "infobip actions list": ["--configuration", "KEY"],
    "infobip actions create": ["--configuration", "KEY", "--type", "PULL"],
    "infobip actions delete": ["--configuration", "KEY", "ACTION"],
    "infobip push send": ["--registration-id", "r-1", "--text", "hi"],
    "infobip push stats": ["BULK"],
    "infobip push reports": [],
    "infobip omni scenarios list": [],
    "infobip omni scenarios create": ["--name", "n", "--step", "PUSH=app-1"],
    "infobip omni send": ["--scenario", "S", "--registration-id", "r-1", "--push-text", "hi"],
    "infobip omni reports": [],
    "register": ["--public-url", "https://inbound.example.test"],
    "unregister": ["--public-url", "https://inbound.example.test"],
}
REDIS_JSON_COMMANDS = {
    "status": [],
    "campaigns list": [],
    "campaigns show": ["BULK"],
    "handlers list": [],
    "handlers pause": ["log"],
    "handlers resume": ["log"],
    "messages show": ["m-1"],
    "messages list": [],
    "replay": ["--handler", "log", "--all", "--yes"],
    "workers-ready": ["--timeout", "0"],
    "pull once": [],
}


def json_commands() -> set[str]:
    def walk(command: click.Command, path: list[str]) -> Iterator[str]:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])
        elif any("--json" in param.opts for param in command.params if isinstance(param, click.Option)):
            yield " ".join(path)

    return {path for path in walk(main, []) if path.split()[0] not in {"dlq", "quarantine"}}


def test_every_json_command_is_walked() -> None:
    assert json_commands() == set(INFOBIP_JSON_COMMANDS) | set(REDIS_JSON_COMMANDS)


def test_every_infobip_command_says_infobip_is_down_in_one_line() -> None:
    down = f"http://127.0.0.1:{free_port()}"
    env = {
        "INBOUND_INFOBIP_BASE_URL": down,
        "INBOUND_INFOBIP_API_KEY": "k" * 24,
        "INBOUND_INFOBIP_APPLICATION_CODE": APP,
        "INBOUND_INFOBIP_MAX_TRIES": "1",
        "INBOUND_FORWARD_TOKENS": "t" * 24,
    }
    for command, args in INFOBIP_JSON_COMMANDS.items():
        answer = CliRunner().invoke(main, [*command.split(), *args, "--json"], env=env)
        lines = answer.output.strip().splitlines()
        assert answer.exit_code == 1, (command, answer.output)
        assert len(lines) == 1 and lines[0].startswith("Error: ") and down in lines[0], (command, answer.output)
