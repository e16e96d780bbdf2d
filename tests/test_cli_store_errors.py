"""The store commands (`dlq`, `quarantine`) with Redis gone or the configuration wrong: one line on stderr,
exit status 1, no traceback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from infobip_inbound.shell.cli import main
from infobip_inbound.shell.redis_server import RedisServer

COMMANDS = [
    ["dlq", "list"],
    ["dlq", "list", "--json"],
    ["dlq", "show", "0123456789abcdef"],
    ["dlq", "retry", "--all"],
    ["dlq", "retry", "--all", "--json"],
    ["dlq", "purge", "--all", "--yes"],
    ["quarantine", "list"],
    ["quarantine", "list", "--json"],
    ["quarantine", "show", "0123456789abcdef0123"],
    ["quarantine", "reprocess", "--all", "--yes"],
    ["quarantine", "reprocess", "--all", "--dry-run", "--json"],
    ["quarantine", "purge", "--all", "--yes"],
]


@pytest.fixture(scope="module")
def stopped_redis_url() -> Iterator[str]:
    server = RedisServer()
    server.start()
    server.stop()  # the port it listened on now refuses connections
    yield server.url
    server.cleanup()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_redis_unreachable(command: list[str], stopped_redis_url: str) -> None:
    outcome = CliRunner().invoke(main, command, env={"INBOUND_REDIS_URL": stopped_redis_url})
    assert outcome.exit_code == 1
    assert outcome.stdout == ""
    (line,) = outcome.stderr.splitlines()
    assert line.startswith("Error: Redis unavailable: ConnectionError: ")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_configuration_invalid(command: list[str], stopped_redis_url: str) -> None:
    env = {"INBOUND_REDIS_URL": stopped_redis_url, "INBOUND_DEDUP_WINDOW_SECONDS": "0"}
    outcome = CliRunner().invoke(main, command, env=env)
    assert outcome.exit_code == 1
    (line,) = outcome.stderr.splitlines()
    assert line.startswith("Error: invalid configuration: dedup_window_seconds (INBOUND_DEDUP_WINDOW_SECONDS): ")


@pytest.mark.parametrize("command", COMMANDS[:1] + COMMANDS[6:7], ids=" ".join)
def test_no_redis_configured(command: list[str]) -> None:
    outcome = CliRunner().invoke(main, command, env={"INBOUND_REDIS_URL": "", "INBOUND_REDIS_SENTINELS": ""})
    assert outcome.exit_code == 1
    assert outcome.stderr.splitlines() == [
        "Error: neither INBOUND_REDIS_URL nor INBOUND_REDIS_SENTINELS is set (only `infobip-inbound dev` starts a "
        "Redis of its own)"
    ]
