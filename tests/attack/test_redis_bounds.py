"""No request monopolizes Redis or resets shared state: a 10,000-result envelope is written in bounded script
calls (none in Redis' SLOWLOG past a bound far below what one call for all of it took: 603 ms), the campaigns
kept before it stay, and the archive's bound holds after every request. Through a real receiver into a real
Redis."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import redis

from infobip_inbound.contract.store import keys, scripts
from infobip_inbound.receiver.enqueue import CHUNK
from tests.conftest import TOKEN
from tests.support import ReceiverProcess, envelope, forward, result, run_cli

# A call over this is logged. One call for all of a 10,000-result envelope took 603 ms; a chunk's call takes a
# few ms on an idle machine, several times that on a loaded one: the bound is far from both.
SLOW_US = 50_000
ARCHIVE_MAX = 2_000


def post(receiver: ReceiverProcess, results: list[dict[str, object]]) -> dict[str, Any]:
    answer = httpx.post(
        f"{receiver.base_url}/infobip/forward/{TOKEN}",
        content=orjson.dumps(envelope(*results)),
        headers={"Content-Type": "application/json"},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def slow_scripts(redis_client: redis.Redis) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = redis_client.slowlog_get(128)  # type: ignore[assignment]
    return [e for e in entries if str(e.get("command", b"")).lower().find("eval") >= 0]


def test_a_huge_envelope_is_written_in_bounded_calls_and_keeps_the_campaigns(
    base_env: dict[str, str], start_receiver: Callable[..., ReceiverProcess], redis_client: redis.Redis
) -> None:
    receiver = start_receiver(
        {**base_env, "INBOUND_MAX_BODY_BYTES": str(16 << 20), "INBOUND_ARCHIVE_MAX_MESSAGES": str(ARCHIVE_MAX)}
    )
    existing = [f"bulk-kept-{i}" for i in range(5)]
    assert forward(receiver, *(result(f"kept-{i}", bulkId=bulk) for i, bulk in enumerate(existing)))["accepted"] == 5
    redis_client.config_set("slowlog-log-slower-than", SLOW_US)
    redis_client.slowlog_reset()

    # 10,000 distinct bulk ids in one envelope.
    huge = [result(f"h-{i}", bulkId=f"bulk-new-{i}") for i in range(10_000)]
    assert post(receiver, huge) == {"accepted": 10_000, "duplicates": 0, "quarantined": 0}
    # Its retry: all of it was stored (every one a duplicate now).
    assert post(receiver, huge) == {"accepted": 0, "duplicates": 10_000, "quarantined": 0}
    # 10,000 distinct results for the quarantine (no application code).
    unreadable = [{"messageId": f"q-{i}", "text": "no application"} for i in range(10_000)]
    assert post(receiver, unreadable)["quarantined"] == 10_000

    assert slow_scripts(redis_client) == [], [(e["duration"], e["command"][:60]) for e in slow_scripts(redis_client)]
    stats = redis_client.info("commandstats").get("cmdstat_evalsha", {})
    print(f"enqueue script calls: {stats.get('calls')}, {stats.get('usec_per_call')} us per call")
    index = keys.CAMPAIGN_INDEX
    assert all(redis_client.zscore(index, keys.campaign_bulk_key(bulk)) is not None for bulk in existing)
    calls = -(-10_000 // CHUNK)
    created = redis_client.zcard(index) - len(existing)
    assert created <= calls * scripts.CAMPAIGN_NEW_GROUPS_PER_CALL + 1  # + the "other" group
    other = redis_client.hget(keys.CAMPAIGN_OTHER_KEY, "total")
    assert other is not None and int(other) == 10_000 - (created - 1)  # every response counted somewhere
    assert redis_client.zcard(keys.ARCHIVE_INDEX) <= ARCHIVE_MAX
    listed = orjson.loads(run_cli({**os.environ, **base_env}, "campaigns", "list", "--no-statistics", "--json"))
    assert listed["other"]["responses"] == int(other)


def test_the_archive_bound_holds_after_every_request(
    base_env: dict[str, str], start_receiver: Callable[..., ReceiverProcess], redis_client: redis.Redis
) -> None:
    receiver = start_receiver(
        {**base_env, "INBOUND_MAX_BODY_BYTES": str(8 << 20), "INBOUND_ARCHIVE_MAX_MESSAGES": str(ARCHIVE_MAX)}
    )
    for request in range(4):
        results = [result(f"a-{request}-{i}") for i in range(3_000)]
        assert post(receiver, results)["accepted"] == 3_000
        assert redis_client.zcard(keys.ARCHIVE_INDEX) <= ARCHIVE_MAX
    assert redis_client.zcard(keys.ARCHIVE_INDEX) == ARCHIVE_MAX  # the newest kept, up to the bound
