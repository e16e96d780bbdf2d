"""`infobip-inbound quarantine ...` against a real Redis holding entries the poller's store set aside, and entries
written as an earlier version might have left them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import orjson
import redis
from click.testing import CliRunner, Result

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import Settings, load_settings
from infobip_inbound.contract.store import quarantine
from infobip_inbound.contract.store.entries import decode_entry
from infobip_inbound.contract.store.keys import inbox_key
from infobip_inbound.contract.store.quarantine import QuarantineEntry
from infobip_inbound.receiver.enqueue import InboxWriter, enqueue_now
from infobip_inbound.receiver.pull_store import PullStore
from infobip_inbound.shell.cli import main
from tests.support import result

ROUTES = [{"name": "orders", "match": {"application_code": "app-9"}, "handlers": ["jsonl"], "queue": "orders"}]


def env(redis_url: str, routes: list[dict[str, object]] | None = None) -> dict[str, str]:
    return {
        "INBOUND_REDIS_URL": redis_url,
        "INBOUND_DEFAULT_HANDLERS": '["jsonl"]',
        "INBOUND_ROUTES": json.dumps(routes or []),
    }


def run(redis_url: str, *args: str, routes: list[dict[str, object]] | None = None) -> Result:
    return CliRunner().invoke(main, ["quarantine", *args], env=env(redis_url, routes), catch_exceptions=False)


def settings_for(redis_url: str) -> Settings:
    return load_settings(redis_url=redis_url, default_handlers=["jsonl"])


def pulled(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> None:
    """What the poller's store sets aside: two unreadable results beside a good one, and a body that is not an
    envelope at all."""
    settings = settings_for(redis_url)
    store = PullStore(redis_client, InboxWriter(settings), Router.from_settings(settings), tmp_path / "spill")
    no_id = result("p2")
    del no_id["messageId"]
    body = orjson.dumps({"results": [result("p1"), no_id, "not an object"]})
    store.process(PullStore.new_batch_id("main", 1), body)
    store.process(PullStore.new_batch_id("main", 1), b"<html>502 Bad Gateway</html>")


def left_by_earlier_version(redis_url: str, redis_client: redis.Redis, *entries: QuarantineEntry) -> None:
    """Entries written through the enqueue script, as a version with a stricter parser did."""
    settings = settings_for(redis_url)
    enqueue_now(redis_client, InboxWriter(settings), Router.from_settings(settings), [], list(entries))


def result_entry(raw: dict[str, object], source: str = "forward", **fields: object) -> QuarantineEntry:
    return QuarantineEntry.build(
        kind="result",
        source=source,  # type: ignore[arg-type]
        reason="receivedAt: Input should be a valid datetime",
        raw=orjson.dumps(raw),
        message_id=str(raw.get("messageId")),
        **fields,  # type: ignore[arg-type]
    )


def inbox(redis_client: redis.Redis, queue: str) -> list[str]:
    raw: list[bytes] = redis_client.lrange(inbox_key(queue), 0, -1)  # type: ignore[assignment]
    return [orjson.loads(decode_entry(entry)[1])["message_id"] for entry in raw]


def test_list_show_and_filters(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> None:
    pulled(redis_url, redis_client, tmp_path)
    left_by_earlier_version(redis_url, redis_client, result_entry(result("f1"), request_id="req-1"))

    listed = run(redis_url, "list")
    assert listed.exit_code == 0
    assert "4 shown (of 4)" in listed.output
    document = json.loads(run(redis_url, "list", "--json").output)  # one document
    assert (document["listed"], document["total"]) == (4, 4)
    assert {e["kind"] for e in document["entries"]} == {"result", "body"}

    by_source = json.loads(run(redis_url, "list", "--source", "forward", "--json").output)
    assert [e["message_id"] for e in by_source["entries"]] == ["f1"]
    not_envelope = json.loads(run(redis_url, "list", "--reason", "NOT AN ENVELOPE", "--json").output)
    assert [e["kind"] for e in not_envelope["entries"]] == ["body"]
    assert not_envelope["entries"][0]["raw"] == "<html>502 Bad Gateway</html>"
    assert "0 shown (of 4)" in run(redis_url, "list", "--older-than", "1h").output
    assert "4 shown" in run(redis_url, "list", "--newer-than", "1h").output
    assert "2 shown (of 4); --limit 20 shows more" in run(redis_url, "list", "--limit", "2").output
    assert run(redis_url, "list", "--older-than", "soon").exit_code != 0

    entry_id = by_source["entries"][0]["id"]
    shown = run(redis_url, "show", entry_id)
    assert shown.exit_code == 0
    assert "request_id  req-1" in shown.output
    assert '  "messageId": "f1",' in shown.output  # the raw result, pretty-printed
    as_json = json.loads(run(redis_url, "show", entry_id, "--json").output)
    assert orjson.loads(as_json["raw"])["messageId"] == "f1" and as_json["source"] == "forward"
    body_id = not_envelope["entries"][0]["id"]
    assert run(redis_url, "show", body_id).output.endswith("raw:\n<html>502 Bad Gateway</html>\n")
    missing = run(redis_url, "show", "nope")
    assert missing.exit_code != 0 and "no quarantine entry nope" in missing.output


def test_reprocess_queues_what_the_current_parser_reads_and_only_once(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    # A result an earlier, stricter version set aside (Unix-millisecond receivedAt, routed to `orders` now),
    # and one that still cannot pass: it has no messageId.
    passes = result_entry(result("old-1", applicationCode="app-9", to="app-9", receivedAt=1700000000000))
    no_id = result("old-2")
    del no_id["messageId"]
    fails = result_entry(no_id)
    left_by_earlier_version(redis_url, redis_client, passes, fails)

    dry = run(redis_url, "reprocess", "--all", "--dry-run", routes=ROUTES)
    assert dry.exit_code == 0
    assert f"would queue 1: {passes.id}" in dry.output
    assert f"still fails (messageId: Field required): {fails.id}" in dry.output
    assert "would reprocess 2: 1 would pass" in dry.output
    assert quarantine.count(redis_client) == 2 and inbox(redis_client, "orders") == []

    refused = run(redis_url, "reprocess", "--all", routes=ROUTES)
    assert refused.exit_code != 0
    assert refused.output.strip().splitlines() == [
        "Error: this would reprocess more than one entry: add --yes (see what it selects with --dry-run)"
    ]

    done = run(redis_url, "reprocess", "--all", "--yes", "--json", routes=ROUTES)
    summary = json.loads(done.output)
    assert summary["passed"] == 1 and summary["accepted"] == 1 and summary["still_failing"] == 1
    assert summary["removed"] == 1 and summary["dry_run"] is False
    assert inbox(redis_client, "orders") == ["old-1"]  # routed by the current routes
    assert [e.id for e in quarantine.select(redis_client)] == [fails.id]  # the failing entry stays as it was
    assert quarantine.get(redis_client, fails.id) == fails

    # Interrupted after queueing and before removing: the entry is back, run again. Nothing is queued twice.
    left_by_earlier_version(redis_url, redis_client, passes)
    again = json.loads(run(redis_url, "reprocess", passes.id, "--json", routes=ROUTES).output)
    assert (again["passed"], again["accepted"], again["duplicates"], again["removed"]) == (1, 0, 1, 1)
    assert inbox(redis_client, "orders") == ["old-1"]
    assert quarantine.count(redis_client) == 1
    assert json.loads(run(redis_url, "reprocess", "--all", "--json").output)["accepted"] == 0


def test_reprocess_a_body_that_now_reads(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> None:
    # An envelope an earlier version kept whole: one good result, one that still cannot be read.
    body = orjson.dumps({"results": [result("b1"), {"messageId": "b2"}], "messageCount": 2})
    entry = QuarantineEntry.build(
        kind="body", source="pull", reason="earlier parser", raw=body, account="main", batch_id="b-1", at=1.0
    )
    still_not = QuarantineEntry.build(kind="body", source="pull", reason="not an envelope", raw=b"Bad Gateway")
    left_by_earlier_version(redis_url, redis_client, entry, still_not)

    summary = json.loads(run(redis_url, "reprocess", "--source", "pull", "--yes", "--json").output)
    assert (summary["selected"], summary["passed"], summary["still_failing"]) == (2, 1, 1)
    assert (summary["accepted"], summary["requarantined"]) == (1, 1)
    assert inbox(redis_client, "infobip-inbound") == ["b1"]
    entries = {e.kind: e for e in quarantine.select(redis_client)}
    assert entries["body"].id == still_not.id  # still not an envelope: stays
    kept = entries["result"]  # the body's unreadable result, now an entry of its own, with whence and when
    assert (kept.message_id, kept.account, kept.batch_id, kept.at) == ("b2", "main", "b-1", 1.0)
    assert orjson.loads(kept.raw) == {"messageId": "b2"} and "applicationCode" in kept.reason


def test_purge(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> None:
    pulled(redis_url, redis_client, tmp_path)
    assert run(redis_url, "purge").exit_code != 0  # nothing selected: refuses to guess
    assert "would purge 3" in run(redis_url, "purge", "--all", "--dry-run").output
    refused = run(redis_url, "purge", "--source", "pull")
    assert refused.exit_code != 0 and "add --yes" in refused.output
    assert quarantine.count(redis_client) == 3

    (body,) = quarantine.select(redis_client, reason="not an envelope")
    assert "purged 1" in run(redis_url, "purge", body.id).output  # one named entry needs no --yes
    time.sleep(0.01)
    document = json.loads(run(redis_url, "purge", "--newer-than", "1h", "--yes", "--json").output)
    assert document == {"command": "quarantine purge", "dry_run": False, "selected": 2, "purged": 2}
    assert quarantine.count(redis_client) == 0
