"""Per-handler retries, the dead-letter store, per-pair idempotency and worker crash safety."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import redis
from rq import Queue

import tests.handlers as handlers
from infobip_inbound.contract.settings import HandlerRetry, load_settings
from infobip_inbound.contract.store import dead_letter
from infobip_inbound.contract.store.inbox import Batch
from infobip_inbound.contract.store.keys import SCHEDULED_KEY, SEEN_PREFIX
from infobip_inbound.shell.redis_server import RedisServer
from infobip_inbound.workers.jobs import HandlerContext, run_batch
from infobip_inbound.workers.retry_policy import retry_delay
from tests.support import Role, result, wait_until
from tests.test_worker import enqueue, put

StartWorker = Callable[..., Role]
FLAKY, ALWAYS, RECORD = "tests.handlers:flaky", "tests.handlers:always_fails", "tests.handlers:record"


def queued_jobs(client: redis.Redis, queue: str = "infobip-inbound") -> list[tuple[str, str, int]]:
    return [
        (job.args[0], job.args[1], job.args[2]) for job in Queue(queue, connection=client).jobs if len(job.args) > 1
    ]


def test_backoff_grows_exponentially_within_the_cap_and_jitters() -> None:
    policy = HandlerRetry(backoff_base_seconds=1, backoff_max_seconds=30, jitter=0.5)
    for tries, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (6, 30), (40, 30)]:
        delays = {retry_delay(policy, tries) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1
    assert retry_delay(HandlerRetry(backoff_base_seconds=5, jitter=0), 2) == 10


def test_each_handler_follows_its_own_policy_then_dead_letters(redis_url: str, redis_client: redis.Redis) -> None:
    settings = load_settings(
        redis_url=redis_url,
        default_handlers=[RECORD, FLAKY, ALWAYS],
        handler_retry_default={"max_tries": 3, "backoff_base_seconds": 0},
        handler_retry={ALWAYS: {"max_tries": 1}},
    )
    (batch_key,) = enqueue(settings, result("m1"), result("m2"), result("m3"))
    context = HandlerContext.build(settings)
    handlers.failing.add("m2")

    outcome = run_batch(redis_client, Batch(batch_key), context)
    assert outcome == {"responses": 3, "handled": 5, "skipped": 0, "retrying": 1, "dead_lettered": 3}
    # `always_fails` allows one try: its three pairs are dead at once; `flaky` gets a batch of its own.
    dead = list(dead_letter.select(redis_client))
    assert sorted((d.message_id, d.handler, d.tries) for d in dead) == [(f"m{i}", ALWAYS, 1) for i in (1, 2, 3)]
    assert all("ValueError: cannot take" in d.error and "Traceback" in d.traceback for d in dead)
    assert orjson.loads(dead[0].response)["message_id"] == dead[0].message_id

    for tries in (2, 3):
        (retry,) = queued_jobs(redis_client)
        assert retry[1:] == (FLAKY, tries)
        Queue("infobip-inbound", connection=redis_client).empty()
        handlers.calls.clear()
        run_batch(redis_client, Batch(retry[0]), context, handler=FLAKY, tries=tries)
        assert handlers.calls == [("flaky", "m2")]  # only that handler, only that message
    assert queued_jobs(redis_client) == []
    flaky_dead = dead_letter.get(redis_client, dead_letter.entry_id("m2", FLAKY))
    assert flaky_dead is not None and flaky_dead.tries == 3 and "flaky refuses m2" in flaky_dead.error


def test_retries_wait_their_backoff_in_the_scheduled_set(redis_url: str, redis_client: redis.Redis) -> None:
    settings = load_settings(
        redis_url=redis_url, default_handlers=[FLAKY], handler_retry_default={"backoff_base_seconds": 60}
    )
    (batch_key,) = enqueue(settings, result("s1"))
    handlers.failing.add("s1")
    failed_at = time.time()
    run_batch(redis_client, Batch(batch_key), HandlerContext.build(settings))
    assert Queue("infobip-inbound", connection=redis_client).count == 1  # only the original job
    ((job_id, due),) = redis_client.zrange(SCHEDULED_KEY, 0, -1, withscores=True)
    assert due >= failed_at + 30  # scheduled 60 s out, with up to half of it jittered away
    assert redis_client.hget(b"rq:job:" + job_id, "status") == b"scheduled"


def test_a_pair_that_succeeded_never_runs_again(redis_url: str, redis_client: redis.Redis) -> None:
    settings = load_settings(
        redis_url=redis_url, default_handlers=[RECORD, FLAKY], handler_retry_default={"max_tries": 1}
    )
    context = HandlerContext.build(settings)
    handlers.failing.add("i1")
    (first,) = enqueue(settings, result("i1"))
    run_batch(redis_client, Batch(first), context)
    # The same message delivered again in a new batch (after its dedup mark is gone): `record` succeeded
    # before and is skipped; `flaky` never succeeded and runs.
    redis_client.delete(SEEN_PREFIX + "i1")
    (second,) = enqueue(settings, result("i1"))
    handlers.calls.clear()
    handlers.failing.clear()
    outcome = run_batch(redis_client, Batch(second), context)
    assert handlers.calls == [("flaky", "i1")]
    assert outcome["skipped"] == 1


def test_worker_sigkilled_mid_batch_loses_nothing_and_repeats_nothing(
    start_worker: StartWorker, base_env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    calls = tmp_path / "calls.log"
    env = {
        **base_env,
        "INBOUND_DEFAULT_HANDLERS": '["jsonl", "tests.handlers:crash_once"]',
        "TEST_CRASH_ON": "k12",
        "TEST_CRASH_MARK": str(tmp_path / "crashed"),
        "TEST_CALL_LOG": str(calls),
    }
    ids = [f"k{i}" for i in range(25)]
    put(load_settings(redis_url=redis_url), *(result(i) for i in ids))
    crashed = start_worker(env)
    assert crashed.process is not None
    assert crashed.process.wait(timeout=60) == -signal.SIGKILL
    jsonl = Path(env["INBOUND_JSONL__PATH"])
    # crash_once ran k0 to k11, one after the other, and was killed on k12 before its effect. How far jsonl got
    # depends on which handler the batch set aside in its lane as the slower one (a loaded machine decides).
    assert [line.split()[1] for line in calls.read_text().splitlines()] == ids[:12]

    start_worker(env)  # requeues the dead worker's job once its lease lapses, then runs what is left
    wait_until(lambda: calls.exists() and len(calls.read_text().splitlines()) >= 25, timeout=60, interval=0.1)
    wait_until(lambda: len(jsonl.read_text().splitlines()) >= 25, timeout=30)
    assert sorted(orjson.loads(line)["message_id"] for line in jsonl.read_text().splitlines()) == sorted(ids)
    assert sorted(line.split()[1] for line in calls.read_text().splitlines()) == sorted(ids)


def test_worker_rides_out_a_redis_restart(start_worker: StartWorker, base_env: dict[str, str], tmp_path: Path) -> None:
    server = RedisServer(data_dir=tmp_path / "redis")
    server.start()
    try:
        env = {**base_env, "INBOUND_REDIS_URL": server.url}
        settings = load_settings(redis_url=server.url)
        put(settings, result("r1"))
        worker = start_worker(env)
        jsonl = Path(env["INBOUND_JSONL__PATH"])
        wait_until(lambda: jsonl.exists() and len(jsonl.read_text().splitlines()) == 1)
        server.stop()
        wait_until(lambda: "Redis" in worker.log().split("r1")[-1], timeout=30)  # it noticed
        server.start()
        put(settings, result("r2"))
        wait_until(lambda: len(jsonl.read_text().splitlines()) == 2, timeout=60)
        assert worker.process is not None and worker.process.poll() is None
    finally:
        server.cleanup()


def test_settling_failures_tried_again_after_its_answer_was_lost_writes_nothing_twice(
    redis_url: str, redis_client: redis.Redis
) -> None:
    # What a retry does when the transaction was applied but its answer never came (Redis stopped right after
    # it, or a socket timeout): the same write again. A second retry batch would run its pairs twice.
    from infobip_inbound.contract.store import keys
    from infobip_inbound.contract.store.handled import pair_id
    from infobip_inbound.contract.store.jobs import Jobs
    from infobip_inbound.workers.failed_pairs import FailedPair, settle_failures

    settings = load_settings(redis_url=redis_url)
    batch = Batch.of_job("lost-answer")

    def failed(message_id: str, handler: str, permanent: bool) -> FailedPair:
        raw = orjson.dumps({"message_id": message_id, "application_code": "app-1"})
        pair = pair_id(message_id, handler)
        return FailedPair(pair, message_id, "app-1", handler, raw, "ValueError", "Traceback ...", permanent, 60.0)

    failures = [failed("m1", FLAKY, False), failed("m2", FLAKY, False), failed("m1", ALWAYS, True)]
    for _ in range(2):
        outcome = settle_failures(redis_client, settings, Jobs(settings), batch, settings.default_queue, 1, failures)
        assert outcome == {"retrying": 2, "dead_lettered": 1}
    (job_id,) = redis_client.zrange(SCHEDULED_KEY, 0, -1)
    assert redis_client.lrange(keys.batch_key(job_id.decode()), 0, -1) == [failures[0].raw, failures[1].raw]
    assert queued_jobs(redis_client) == []
    assert dead_letter.count(redis_client) == 1
    assert batch.load(redis_client)[1] == {failure.pair for failure in failures}
    events: bytes = redis_client.get(keys.archive_events_key("m1"))  # type: ignore[assignment]
    assert events.count(b"\n") == 2  # retrying (FLAKY) and dead (ALWAYS), once each
