"""Work that would stay stuck without an operator: the batch of a job that failed for good."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import orjson
import redis
from rq import Queue
from rq.job import Job

from infobip_inbound.contract.settings import Settings, load_settings
from infobip_inbound.contract.store import dead_letter, keys
from infobip_inbound.contract.store.stuck import MAX_SWEEPS, StuckBatches
from infobip_inbound.workers.jobs import HandlerContext, claim_batch
from tests.support import Role, result, wait_until
from tests.test_worker import put


def _fail_for_good_holding_a_batch(settings: Settings, connection: redis.Redis, *ids: str) -> str:
    """Queue `ids`, let their drain job claim them into its batch, then leave the job as RQ does once its
    whole-job retries have run out: failed, in the queue's failed registry, the batch still in Redis."""
    put(settings, *(result(message_id) for message_id in ids))
    queue = Queue(settings.default_queue, connection=connection)
    (job_id,) = queue.job_ids
    claimed = claim_batch(connection, settings.default_queue, job_id, HandlerContext.build(settings))
    assert claimed.entries is not None and len(claimed.entries) == len(ids)
    queue.remove(job_id)
    connection.hset(Job.key_for(job_id), mapping={"status": "failed", "retries_left": 0})
    connection.zadd(keys.rq_failed_key(settings.default_queue), {job_id: int(time.time()) + 3600})
    assert connection.llen(keys.inbox_key(settings.default_queue)) == 0
    return job_id


def test_the_batch_of_a_drain_job_that_failed_for_good_goes_back_to_work(
    start_worker: Callable[..., Role], base_env: dict[str, str], redis_url: str, redis_client: redis.Redis
) -> None:
    settings = load_settings(redis_url=redis_url)
    job_id = _fail_for_good_holding_a_batch(settings, redis_client, "f1", "f2")
    worker = start_worker(base_env)
    handled = Path(base_env["INBOUND_JSONL__PATH"])
    wait_until(lambda: handled.exists() and len(handled.read_text().splitlines()) == 2, timeout=60)
    worker.stop()
    assert sorted(orjson.loads(line)["message_id"] for line in handled.read_text().splitlines()) == ["f1", "f2"]
    assert not redis_client.exists(keys.batch_key(job_id))
    assert redis_client.zscore(keys.rq_failed_key(settings.default_queue), job_id) is None
    assert "queued again, or dead-lettered" in worker.log()


def test_a_batch_swept_too_often_is_dead_lettered_for_the_routes(
    start_worker: Callable[..., Role], base_env: dict[str, str], redis_url: str, redis_client: redis.Redis
) -> None:
    import os

    from tests.support import run_cli

    settings = load_settings(redis_url=redis_url)
    job_id = _fail_for_good_holding_a_batch(settings, redis_client, "d1", "d2")
    redis_client.hset(keys.SWEEPS_KEY, job_id, MAX_SWEEPS)  # queued again as often as it may be, failed each time
    outcome = StuckBatches(redis_client, settings).sweep(settings.default_queue)
    assert (outcome.requeued, outcome.dead_lettered) == (0, 2)
    dead = sorted(dead_letter.select(redis_client), key=lambda entry: entry.message_id)
    assert [(entry.message_id, entry.handler) for entry in dead] == [("d1", ""), ("d2", "")]
    assert all(entry.error.startswith("StuckBatch: ") for entry in dead)
    assert not redis_client.exists(keys.batch_key(job_id))
    # Read again: nothing left to do, nothing dead-lettered twice.
    assert StuckBatches(redis_client, settings).sweep(settings.default_queue) == outcome.__class__()
    assert dead_letter.count(redis_client) == 2

    # `dlq retry` sends them through the routes (the handler name is empty: no one handler owns them).
    run_cli({**os.environ, **base_env}, "dlq", "retry", "--all", "--json")
    start_worker(base_env)
    handled = Path(base_env["INBOUND_JSONL__PATH"])
    wait_until(lambda: handled.exists() and len(handled.read_text().splitlines()) == 2, timeout=60)
    assert sorted(orjson.loads(line)["message_id"] for line in handled.read_text().splitlines()) == ["d1", "d2"]


def test_a_replay_leaves_a_pair_still_in_flight_and_queues_it_once_it_has_settled(
    start_worker: Callable[..., Role],
    base_env: dict[str, str],
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    import json
    import os

    from rq.registry import StartedJobRegistry

    from infobip_inbound.contract.store import archive
    from tests.support import run_cli

    handler = "tests.handlers:log_then_wait"
    calls, release = tmp_path / "calls.log", tmp_path / "release"
    env = {
        **base_env,
        "INBOUND_DEFAULT_HANDLERS": json.dumps([handler]),
        "TEST_CALL_LOG": str(calls),
        "TEST_RELEASE_FILE": str(release),
    }
    settings = load_settings(redis_url=redis_url, default_handlers=[handler])
    put(settings, result("r1"))  # queued, no worker yet: its original run is still ahead
    replay = ["replay", "--handler", handler, "--message-id", "r1", "--json"]
    first = json.loads(run_cli({**os.environ, **env}, *replay))
    assert (first["queued"], first["in_flight"], first["already"]) == (0, 1, 0)

    # Two workers: had the replay queued the pair, each would take a job and both would be in the call at once.
    start_worker(env)
    start_worker(env)
    queue = Queue(settings.default_queue, connection=redis_client)
    started = StartedJobRegistry(settings.default_queue, connection=redis_client)

    def lines() -> list[str]:
        return calls.read_text().splitlines() if calls.exists() else []

    # Every job taken is in its call (a job's pairs are checked against the handled marks as it starts).
    wait_until(lambda: queue.count == 0 and 0 < started.count <= len(lines()), timeout=60)
    release.touch()

    def settled() -> bool:
        journey = archive.load(redis_client, "r1")
        outcome = journey.outcomes().get(handler) if journey else None
        return outcome is not None and outcome.kind == archive.HANDLED and queue.count == 0 and started.count == 0

    wait_until(settled, timeout=60)
    assert lines() == ["r1"]  # the original run only

    # Settled now: the same replay queues it, and it runs again, once.
    again = json.loads(run_cli({**os.environ, **env}, *replay))
    assert (again["queued"], again["in_flight"]) == (1, 0)
    wait_until(lambda: len(lines()) == 2, timeout=60)
    assert json.loads(run_cli({**os.environ, **env}, *replay))["already"] == 1
