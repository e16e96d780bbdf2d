"""`redis_stream`: each response XADDed to a bounded stream; a consumer group reads every message across a
worker SIGKILL, deduping by the `message_id` field."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import orjson
import redis

from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store.keys import RESPONSES_STREAM_KEY
from infobip_inbound.testing import run_handler, user_response
from tests.support import Role, result, wait_until
from tests.test_worker import put


def test_each_response_is_one_entry_with_its_json(redis_url: str, redis_client: redis.Redis) -> None:
    settings = load_settings(redis_stream={"url": redis_url, "key": "responses-test"})
    assert run_handler("redis_stream", user_response("m-1", keyword="STOP"), settings=settings).outcome == "handled"
    ((_, fields),) = redis_client.xrange("responses-test")
    assert fields[b"message_id"] == b"m-1" and fields[b"schema_version"] == b"2"
    assert orjson.loads(fields[b"response"])["keyword"] == "STOP"


def test_the_stream_stays_bounded(redis_url: str, redis_client: redis.Redis) -> None:
    settings = load_settings(redis_stream={"url": redis_url, "key": "bounded", "maxlen": 10})
    for i in range(300):
        run_handler("redis_stream", user_response(f"m-{i}"), settings=settings)
    # MAXLEN ~ trims whole stream nodes (100 entries each by default): about maxlen, never all 300.
    assert redis_client.xlen("bounded") < 300


def test_a_consumer_group_reads_every_message_across_a_worker_kill(
    start_worker: Callable[..., Role],
    base_env: dict[str, str],
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    redis_client.xgroup_create(RESPONSES_STREAM_KEY, "downstream", id="0", mkstream=True)
    env = {
        **base_env,
        "INBOUND_DEFAULT_HANDLERS": '["tests.handlers:crash_once", "redis_stream"]',
        "TEST_CRASH_ON": "s12",
        "TEST_CRASH_MARK": str(tmp_path / "crashed"),
        "TEST_CALL_LOG": str(tmp_path / "calls.log"),
    }
    ids = [f"s{i}" for i in range(25)]
    put(load_settings(redis_url=redis_url), *(result(i) for i in ids))
    crashed = start_worker(env)
    assert crashed.process is not None and crashed.process.wait(timeout=60) == -signal.SIGKILL
    start_worker(env)

    consumed: set[str] = set()
    entries = 0

    def consume() -> bool:
        nonlocal entries
        for _, messages in redis_client.xreadgroup("downstream", "c1", {RESPONSES_STREAM_KEY: ">"}, count=100) or []:
            for entry_id, fields in messages:
                entries += 1
                consumed.add(fields[b"message_id"].decode())  # the dedupe: a repeat adds nothing
                redis_client.xack(RESPONSES_STREAM_KEY, "downstream", entry_id)
        return consumed >= set(ids)

    wait_until(consume, timeout=60, interval=0.1)
    assert consumed == set(ids)
    assert entries >= len(ids)
    assert redis_client.xpending(RESPONSES_STREAM_KEY, "downstream")["pending"] == 0
