"""Message-derived text reaches the operator's terminal escaped: a messageId carrying `ESC]0;…BEL` (retitles
the terminal) or `ESC[2J` (clears it), a keyword with C1 and DEL, and a bulkId with `\\r\\n` (a fake table
row) are printed with their control characters made visible by every command that shows them; `--json`
keeps them exact."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import orjson
import pytest
import redis
from click.testing import CliRunner
from rq import Queue

import tests.handlers as handlers
from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import Settings, load_settings
from infobip_inbound.contract.store.inbox import Batch
from infobip_inbound.contract.store.quarantine import QuarantineEntry
from infobip_inbound.receiver.enqueue import InboxWriter, enqueue_now
from infobip_inbound.shell.cli import main
from infobip_inbound.shell.terminal import safe
from infobip_inbound.workers.jobs import HandlerContext, run_batch
from tests.support import result
from tests.test_worker import enqueue

ALWAYS = "tests.handlers:always_fails"
TITLE = "t-\x1b]0;owned\x07"
CLEAR = "c-\x1b[2J\x1b[H"
KEYWORD = "K\x9b31m\x7f"
BULK = "b-1\r\nFAKE-BULK  999"
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # anything but the line breaks we print


@pytest.fixture
def settings(redis_url: str) -> Iterator[Settings]:
    yield load_settings(redis_url=redis_url, default_handlers=[ALWAYS], handler_retry_default={"max_tries": 1})
    handlers.calls.clear()


def cli(settings: Settings, *args: str) -> str:
    env = {"INBOUND_REDIS_URL": settings.redis_url or "", "INBOUND_DEFAULT_HANDLERS": json.dumps([ALWAYS])}
    outcome = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    return outcome.output


def hostile_store(settings: Settings, redis_client: redis.Redis) -> None:
    """Archived, counted and dead-lettered responses, and a quarantined result, each carrying control text."""
    for key in enqueue(
        settings,
        result(TITLE, keyword=KEYWORD, text=f"{KEYWORD} hi", bulkId=BULK),
        result(CLEAR, bulkId=BULK),
    ):
        run_batch(redis_client, Batch(key), HandlerContext.build(settings))
    Queue(settings.default_queue, connection=redis_client).empty()
    raw = {"messageId": TITLE, "receivedAt": "never", "text": "\x1b]0;raw\x07"}
    entry = QuarantineEntry.build(
        kind="result", source="forward", reason="receivedAt \x1b[2J", raw=orjson.dumps(raw), message_id=TITLE
    )
    enqueue_now(redis_client, InboxWriter(settings), Router.from_settings(settings), [], [entry])


def assert_terminal_safe(command: str, output: str) -> None:
    assert not CONTROL.search(output), (command, output)
    for line in output.splitlines():
        assert not line.startswith("FAKE-BULK"), (command, output)  # no row of its own


def test_safe_writes_every_control_character_visibly() -> None:
    assert safe("a\x1b]0;x\x07b") == "a\\u001b]0;x\\u0007b"
    assert safe("x\r\ny\tz") == "x\\r\\ny\\tz"
    assert safe("\x7f\x9b\x85") == "\\u007f\\u009b\\u0085"
    assert safe("plain: ü — 日本") == "plain: ü — 日本"
    assert safe(safe("\x1b\n")) == safe("\x1b\n")
    assert json.loads(f'"{safe(chr(0x1B) + chr(0x9B))}"') == "\x1b\x9b"  # a valid JSON string escape too


def test_every_command_escapes_message_derived_text(settings: Settings, redis_client: redis.Redis) -> None:
    hostile_store(settings, redis_client)
    outputs = {
        "messages list": cli(settings, "messages", "list"),
        "messages show": cli(settings, "messages", "show", TITLE),
        "campaigns list": cli(settings, "campaigns", "list", "--no-statistics"),
        "campaigns show": cli(settings, "campaigns", "show", BULK, "--no-statistics"),
        "quarantine list": cli(settings, "quarantine", "list"),
        "dlq list": cli(settings, "dlq", "list"),
        "status": cli(settings, "status"),
    }
    quarantined = json.loads(cli(settings, "quarantine", "list", "--json"))["entries"][0]["id"]
    outputs["quarantine show"] = cli(settings, "quarantine", "show", quarantined)
    dead = [entry["id"] for entry in json.loads(cli(settings, "dlq", "list", "--json"))["entries"]]
    outputs["dlq show"] = cli(settings, "dlq", "show", dead[0])
    for command, output in outputs.items():
        assert_terminal_safe(command, output)
    assert safe(TITLE) in outputs["messages list"] and safe(CLEAR) in outputs["messages list"]
    assert safe(BULK) in outputs["campaigns list"] and safe(BULK) in outputs["status"]
    assert safe(KEYWORD) in outputs["messages show"]
    assert safe(TITLE) in outputs["quarantine list"] and "\\u001b]0;raw\\u0007" in outputs["quarantine show"]
    assert safe(TITLE) in outputs["dlq show"] or safe(CLEAR) in outputs["dlq show"]


def test_json_output_stays_exact(settings: Settings, redis_client: redis.Redis) -> None:
    hostile_store(settings, redis_client)
    listed = json.loads(cli(settings, "messages", "list", "--json"))
    assert {m["message_id"] for m in listed["messages"]} == {TITLE, CLEAR}
    campaigns = json.loads(cli(settings, "campaigns", "list", "--no-statistics", "--json"))
    assert [c["id"] for c in campaigns["campaigns"]] == [BULK]
    shown = json.loads(cli(settings, "messages", "show", TITLE, "--json"))
    assert shown["message_id"] == TITLE
    entries = json.loads(cli(settings, "dlq", "list", "--json"))["entries"]
    assert sorted(entry["message_id"] for entry in entries) == sorted([TITLE, CLEAR])
    shown_dead = json.loads(cli(settings, "dlq", "show", entries[0]["id"], "--json"))
    assert shown_dead["message_id"] == entries[0]["message_id"]  # exact, read back
