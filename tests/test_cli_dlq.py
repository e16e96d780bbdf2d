"""`infobip-inbound dlq ...` against a real Redis holding dead letters made by real failed handler calls."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator

import orjson
import pytest
import redis
from click.testing import CliRunner, Result
from rq import Queue

import tests.handlers as handlers
from infobip_inbound.contract.settings import Settings, load_settings
from infobip_inbound.contract.store import dead_letter
from infobip_inbound.contract.store.inbox import Batch
from infobip_inbound.shell.cli import main
from infobip_inbound.workers.jobs import HandlerContext, run_batch
from tests.support import result
from tests.test_worker import enqueue

FLAKY, ALWAYS = "tests.handlers:flaky", "tests.handlers:always_fails"


@pytest.fixture
def settings(redis_url: str) -> Iterator[Settings]:
    handlers.calls.clear()
    handlers.failing.clear()
    yield load_settings(
        redis_url=redis_url,
        default_handlers=[FLAKY, ALWAYS],
        routes=[{"name": "other", "match": {"application_code": "app-2"}, "handlers": [FLAKY]}],
        handler_retry_default={"max_tries": 1},
    )
    handlers.calls.clear()
    handlers.failing.clear()


def run(settings: Settings, *args: str) -> Result:
    env = {"INBOUND_REDIS_URL": settings.redis_url or "", "INBOUND_DEFAULT_HANDLERS": json.dumps([FLAKY, ALWAYS])}
    return CliRunner().invoke(main, ["dlq", *args], env=env, catch_exceptions=False)


def dead_letters(settings: Settings, redis_client: redis.Redis) -> None:
    handlers.failing.update({"d1", "d2", "d3"})
    for key in enqueue(settings, result("d1"), result("d2"), result("d3", applicationCode="app-2")):
        run_batch(redis_client, Batch(key), HandlerContext.build(settings))
    Queue(settings.default_queue, connection=redis_client).empty()


def test_list_show_and_filters(settings: Settings, redis_client: redis.Redis) -> None:
    dead_letters(settings, redis_client)
    listed = run(settings, "list")
    assert listed.exit_code == 0
    assert "5 shown (of 5)" in listed.output  # d1, d2: both handlers; d3 (app-2): flaky only
    by_handler = json.loads(run(settings, "list", "--handler", ALWAYS, "--json").output)["entries"]
    assert sorted(entry["message_id"] for entry in by_handler) == ["d1", "d2"]
    by_app = json.loads(run(settings, "list", "--application", "app-2", "--json").output)
    assert [entry["message_id"] for entry in by_app["entries"]] == ["d3"]
    assert (by_app["listed"], by_app["total"]) == (1, 5)
    assert isinstance(by_app["entries"][0]["response"], dict)  # nested as an object, not a JSON string
    assert "0 shown" in run(settings, "list", "--older-than", "1h").output
    assert "5 shown" in run(settings, "list", "--newer-than", "1h").output
    assert "2 shown (of 5); --limit 20 shows more" in run(settings, "list", "--limit", "2").output

    entry_id = dead_letter.entry_id("d1", ALWAYS)
    shown = json.loads(run(settings, "show", entry_id, "--json").output)
    assert shown["handler"] == ALWAYS and shown["response"]["message_id"] == "d1"
    assert "ValueError: cannot take d1" in shown["traceback"]
    readable = run(settings, "show", entry_id).output
    assert f"handler      {ALWAYS}" in readable and "ValueError: cannot take d1" in readable
    assert "failed_at    20" in readable and readable.count("Z\n") >= 1  # an ISO time, not Unix seconds
    assert run(settings, "show", "nope").exit_code != 0


def test_retry_runs_only_that_handler_for_that_message(settings: Settings, redis_client: redis.Redis) -> None:
    dead_letters(settings, redis_client)
    dry = run(settings, "retry", "--handler", FLAKY, "--dry-run")
    assert "would retry 3" in dry.output
    assert dead_letter.count(redis_client) == 5

    handlers.failing.clear()
    retried = run(settings, "retry", dead_letter.entry_id("d2", FLAKY))
    assert "retried 1" in retried.output
    assert dead_letter.count(redis_client) == 4
    (job,) = Queue(settings.default_queue, connection=redis_client).jobs
    handlers.calls.clear()
    run_batch(redis_client, Batch(job.args[0]), HandlerContext.build(settings), handler=job.args[1], tries=job.args[2])
    assert handlers.calls == [("flaky", "d2")]

    bulk = run(settings, "retry", "--all", "--application", "app-1")
    assert "retried 3" in bulk.output  # d1 (both handlers) and d2's always_fails pair
    assert [e.message_id for e in dead_letter.select(redis_client)] == ["d3"]


def test_purge(settings: Settings, redis_client: redis.Redis) -> None:
    dead_letters(settings, redis_client)
    assert run(settings, "purge").exit_code != 0  # nothing selected: refuses to guess
    assert "would purge 5" in run(settings, "purge", "--all", "--dry-run").output
    assert dead_letter.count(redis_client) == 5
    assert "purged 2" in run(settings, "purge", "--handler", ALWAYS, "--yes").output
    time.sleep(0.01)
    assert "purged 3" in run(settings, "purge", "--all", "--yes").output
    assert dead_letter.count(redis_client) == 0


def many_dead_letters(redis_client: redis.Redis, count: int) -> set[tuple[str, str]]:
    """`count` entries over two queues and two handlers; seven at a time share one failure time, so chunk
    boundaries fall inside ties."""
    pairs = set()
    pipe = redis_client.pipeline(transaction=False)
    for n in range(count):
        message_id, handler = f"m{n}", (FLAKY, ALWAYS)[n % 2]
        response = orjson.dumps({"message_id": message_id, "application_code": "app-1"})
        entry = dead_letter.DeadPair.build(
            message_id=message_id,
            handler=handler,
            application_code="app-1",
            queue=("q-a", "q-b")[n % 3 == 0],
            tries=1,
            error="ValueError",
            traceback="Traceback ...",
            response=response,
        )
        dead_letter.add(pipe, dataclasses.replace(entry, failed_at=1_000_000.0 + n // 7))
        pairs.add((handler, message_id))
    pipe.execute()
    return pairs


def test_bulk_retry_works_in_chunks_and_takes_every_entry_once(settings: Settings, redis_client: redis.Redis) -> None:
    expected = many_dead_letters(redis_client, 1234)
    summary = json.loads(run(settings, "retry", "--all", "--json").output)  # one document, no progress
    assert summary == {"command": "dlq retry", "dry_run": False, "selected": 1234, "retried": 1234}
    assert dead_letter.count(redis_client) == 0
    queued = []
    for queue in ("q-a", "q-b"):
        for job in Queue(queue, connection=redis_client).jobs:
            batch_key, handler, tries = job.args
            assert tries == 1
            responses: list[bytes] = redis_client.lrange(batch_key, 0, -1)  # type: ignore[assignment]
            assert len(responses) <= 500  # one chunk at most
            queued += [(handler, orjson.loads(r)["message_id"]) for r in responses]
    assert len(queued) == 1234 and set(queued) == expected


def test_bulk_purge_needs_yes_and_reports_json(settings: Settings, redis_client: redis.Redis) -> None:
    many_dead_letters(redis_client, 1100)
    refused = run(settings, "purge", "--handler", FLAKY)
    assert refused.exit_code != 0
    assert refused.output.strip().splitlines() == [
        "Error: this would purge more than one entry: add --yes (see what it selects with --dry-run)"
    ]
    dry = json.loads(run(settings, "purge", "--all", "--dry-run", "--json").output)
    assert dry == {"command": "dlq purge", "dry_run": True, "selected": 1100, "purged": 0}
    purged = json.loads(run(settings, "purge", "--handler", FLAKY, "--yes", "--json").output)
    assert purged["purged"] == 550
    assert {e.handler for e in dead_letter.select(redis_client)} == {ALWAYS}
    assert dead_letter.count(redis_client) == 550


def test_select_before_leaves_out_later_failures(redis_client: redis.Redis) -> None:
    many_dead_letters(redis_client, 30)  # failed at 1_000_000 .. 1_000_004
    assert len(list(dead_letter.select(redis_client, before=1_000_002.0, chunk=4))) == 21
    assert len(list(dead_letter.select(redis_client, chunk=4))) == 30


def test_a_redrive_tried_again_after_its_answer_was_lost_queues_nothing_twice(
    settings: Settings, redis_client: redis.Redis
) -> None:
    # The same chunk again, as a retry of its transaction after a lost answer sends it: a second job would
    # run its pairs twice.
    from infobip_inbound.workers.failed_pairs import redrive

    many_dead_letters(redis_client, 10)
    entries = list(dead_letter.select(redis_client))
    assert redrive(redis_client, settings, entries) == 10
    assert redrive(redis_client, settings, entries) == 0
    jobs = [job for queue in ("q-a", "q-b") for job in Queue(queue, connection=redis_client).jobs]
    queued = [r for job in jobs for r in redis_client.lrange(job.args[0], 0, -1)]  # type: ignore[union-attr]
    assert len(queued) == len(set(queued)) == 10
    assert dead_letter.count(redis_client) == 0
