"""Rolling upgrades: this release's workers read what the previous release and the next one queue.

The next release may add fields to UserResponse and raise its schema_version; until every worker runs it,
workers of this release claim its entries. They hand handlers this version's model (new fields in
extra_fields), warn and count, and never dead-letter such an entry; an entry no tolerant reading can take
fails alone, dead-lettered for the routes, while its batch goes on.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from infobip_inbound.contract.model import SCHEMA_VERSION, UnreadableResponse, read_response
from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store import dead_letter
from infobip_inbound.infobip.envelope import normalize, read_envelope
from infobip_inbound.receiver.enqueue import InboxWriter, enqueue_now
from infobip_inbound.shell.redis_server import free_port
from tests.metrics_support import scrape, value
from tests.support import Role, envelope, result, wait_until

StartWorker = Callable[..., Role]

CURRENT = {
    "schema_version": 2,
    "message_id": "m-1",
    "application_code": "app-1",
    "source": "forward",
    "ingested_at": "2026-12-04T10:00:00Z",
    "text": "YES",
}


def test_a_next_version_document_is_read_as_this_version_with_its_new_fields_kept() -> None:
    written = {
        **CURRENT,
        "schema_version": SCHEMA_VERSION + 1,
        "platform": "ios",  # a field the next version adds
        "text": {"body": "YES", "lang": "en"},  # a field whose shape the next version changes
        "extra_fields": {"sentBy": "sdk"},
    }
    read = read_response(orjson.dumps(written))
    assert read.newer and read.written_version == SCHEMA_VERSION + 1 and read.unknown == ("platform",)
    response = read.response
    assert response.schema_version == SCHEMA_VERSION  # the model the handler was written against
    assert response.text is None
    assert response.extra_fields == {"sentBy": "sdk", "platform": "ios", "text": {"body": "YES", "lang": "en"}}
    # What the handler is given validates as this version's model, published schema included.
    assert response.model_validate_json(response.model_dump_json()) == response


def test_a_new_field_without_a_new_version_is_kept_and_the_writers_own_extra_field_wins() -> None:
    read = read_response(orjson.dumps({**CURRENT, "platform": "ios", "extra_fields": {"platform": "IOS"}}))
    assert not read.newer and read.unknown == ("platform",)
    assert read.response.extra_fields == {"platform": "IOS"}  # as Infobip sent it


def test_previous_versions_read_as_they_are() -> None:
    version_1 = {
        **CURRENT,
        "schema_version": 1,
        "registration_id": "r-1",
        "to": "app-1",
        "clean_text": "",
        "received_at": "2026-12-04T09:59:59+00:00",
        "extra_fields": {},
    }
    for document in (version_1, CURRENT):
        read = read_response(orjson.dumps(document))
        assert not read.newer and read.unknown == ()
        assert read.response.schema_version == document["schema_version"]


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"[1]",
        orjson.dumps({**CURRENT, "schema_version": "3"}),
        orjson.dumps({**CURRENT, "schema_version": SCHEMA_VERSION + 1, "source": "api"}),  # a required field
        orjson.dumps({**CURRENT, "schema_version": SCHEMA_VERSION + 1, "message_id": ""}),
        orjson.dumps({**CURRENT, "text": 5}),  # this version's own document, broken: not a newer writer's
    ],
)
def test_what_cannot_be_read_is_refused(document: bytes) -> None:
    with pytest.raises(UnreadableResponse):
        read_response(document)


def _queue(redis_url: str, documents: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]) -> None:
    """Queue one response per message id through the real enqueue script, its UserResponse JSON reshaped
    as another release would have written it."""
    settings = load_settings(redis_url=redis_url)
    normalized = normalize(read_envelope(orjson.dumps(envelope(*map(result, documents)))), "forward").responses
    reshaped = [
        dataclasses.replace(n, json=orjson.dumps(documents[n.message_id](orjson.loads(n.json)))) for n in normalized
    ]
    connection = redis.Redis.from_url(redis_url)
    enqueue_now(connection, InboxWriter(settings), Router.from_settings(settings), reshaped)
    connection.close()


def _next_version(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "schema_version": SCHEMA_VERSION + 1, "platform": "android", "consent": {"push": True}}


def _new_field(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "platform": "ios"}


def _previous_version(document: dict[str, Any]) -> dict[str, Any]:
    # Version 1: every field present, none null.
    return {**document, "schema_version": 1, "to": document["application_code"], "clean_text": ""}


def _unreadable(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "schema_version": SCHEMA_VERSION + 1, "source": "webhook"}


def test_a_worker_of_this_release_handles_the_next_and_the_previous_releases_entries(
    start_worker: StartWorker, base_env: dict[str, str], redis_url: str, redis_client: redis.Redis
) -> None:
    _queue(
        redis_url,
        {
            "next-1": _next_version,
            "next-2": _next_version,
            "field-1": _new_field,
            "prev-1": _previous_version,
            "now-1": lambda document: document,
            "bad-1": _unreadable,
        },
    )
    health_port = free_port()
    worker = start_worker({**base_env, "INBOUND_HEALTH_PORT": str(health_port), "INBOUND_HOST": "127.0.0.1"})
    handled = Path(base_env["INBOUND_JSONL__PATH"])
    wait_until(lambda: handled.exists() and len(handled.read_text().splitlines()) == 5, timeout=60)
    wait_until(lambda: dead_letter.count(redis_client) == 1, timeout=30)
    samples = scrape(f"http://127.0.0.1:{health_port}/metrics")
    assert value(samples, "infobip_inbound_newer_responses_read_total", schema_version=str(SCHEMA_VERSION + 1)) == 2
    assert value(samples, "infobip_inbound_unreadable_responses_total") == 1
    worker.stop()

    got = {doc["message_id"]: doc for doc in map(orjson.loads, handled.read_text().splitlines())}
    assert sorted(got) == ["field-1", "next-1", "next-2", "now-1", "prev-1"]
    for message_id in ("next-1", "next-2"):
        assert got[message_id]["schema_version"] == SCHEMA_VERSION
        assert got[message_id]["extra_fields"] == {"platform": "android", "consent": {"push": True}}
    assert got["field-1"]["extra_fields"] == {"platform": "ios"}
    assert got["prev-1"]["schema_version"] == 1 and got["prev-1"]["to"] == "app-1"
    assert got["now-1"]["schema_version"] == SCHEMA_VERSION
    assert worker.log().count("responses queued by a newer release") == 1  # warned once, counted each time

    (dead,) = dead_letter.select(redis_client)
    assert (dead.message_id, dead.handler) == ("bad-1", "")
    assert dead.error.startswith("UnreadableResponse: ") and "source" in dead.error
    assert orjson.loads(dead.response)["source"] == "webhook"  # kept as queued, for a release that reads it


def test_writers_can_wait_for_a_worker_that_reads_their_version(
    start_worker: StartWorker, base_env: dict[str, str], redis_url: str
) -> None:
    command = [sys.executable, "-m", "infobip_inbound.shell.cli", "workers-ready", "--json"]
    env = {**os.environ, "INBOUND_REDIS_URL": redis_url}
    none = subprocess.run([*command, "--timeout", "0"], env=env, capture_output=True, text=True, timeout=60)
    assert none.returncode == 1 and none.stdout == ""
    assert none.stderr.splitlines() == [f"Error: no running worker reads schema version {SCHEMA_VERSION} after 0 s"]
    start_worker(base_env)
    ready = subprocess.run([*command, "--timeout", "60"], env=env, capture_output=True, text=True, timeout=120)
    assert ready.returncode == 0, ready.stderr
    assert orjson.loads(ready.stdout) == {"schema_version": SCHEMA_VERSION, "workers": 1}
