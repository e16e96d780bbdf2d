"""Handler lanes: a handler that lags runs its pairs apart, so the others on the same responses go on; real
worker processes, real Redis."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import redis

from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store import lanes
from infobip_inbound.contract.store.handled import pair_id
from infobip_inbound.contract.store.keys import handled_key
from tests.support import Role, result, wait_until
from tests.test_worker import put

StartWorker = Callable[..., Role]
FAST, SLOW = "tests.lane_handlers:fast", "tests.lane_handlers:slow"


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_sigkill_in_a_slow_handlers_lane_reruns_only_its_unrecorded_pairs(
    start_worker: StartWorker, base_env: dict[str, str], redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    env = {
        **base_env,
        "INBOUND_DEFAULT_HANDLERS": orjson.dumps([FAST, SLOW]).decode(),
        "LANE_DIR": str(tmp_path),
        "LANE_KILL_AT": "12",
    }
    settings = load_settings(redis_url=redis_url)
    ids = [f"l{i}" for i in range(60)]
    put(settings, *(result(i) for i in ids))
    crashed = start_worker(env)
    assert crashed.process is not None
    assert crashed.process.wait(timeout=60) == -signal.SIGKILL  # the slow handler's 12th call killed it

    # The fast handler was not held back: every response was handled by it, while the slow one's pairs wait
    # in its lane (and in the lane batch the killed job held).
    assert sorted(lines(tmp_path / "fast.log")) == sorted(ids)
    slow_before = lines(tmp_path / "slow.log")
    assert len(slow_before) == 11
    assert lanes.lengths(redis_client, settings.default_queue, [SLOW])[SLOW] > 0

    start_worker(env)  # requeues the killed job once its lease lapses; it runs its lane batch, then the lane
    wait_until(lambda: all(redis_client.exists(handled_key(pair_id(i, SLOW))) for i in ids), timeout=60, interval=0.2)

    # Nothing lost, nothing twice: the recorded pairs never ran again, and the pair whose call was killed before
    # its effect ran once more.
    assert Counter(lines(tmp_path / "slow.log")) == Counter(ids)
    assert Counter(lines(tmp_path / "fast.log")) == Counter(ids)
    assert lanes.lengths(redis_client, settings.default_queue, [SLOW])[SLOW] == 0


def test_a_response_that_arrives_while_a_lanes_round_ends_the_job_is_handled_before_the_round_ends(
    start_worker: StartWorker, base_env: dict[str, str], redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    # A drain job whose budget is spent waits for its lanes' rounds in flight before it ends; meanwhile it must
    # go on taking from the inbox, or what arrives waits for the slowest round (one worker process: the next
    # drain job starts only once this one has ended).
    budget = 0.5
    env = {
        **base_env,
        "INBOUND_DEFAULT_HANDLERS": orjson.dumps([FAST, SLOW]).decode(),
        "INBOUND_WORKER_JOB_BUDGET_SECONDS": str(budget),
        "LANE_DIR": str(tmp_path),
    }
    settings = load_settings(redis_url=redis_url)
    start_worker(env)
    warm = [f"w{i}" for i in range(5)]
    put(settings, *(result(i) for i in warm))  # the worker learns the slow handler's pace: 30 ms a call
    wait_until(lambda: len(lines(tmp_path / "slow.log")) == len(warm), timeout=60)

    (tmp_path / "hold").touch()
    put(settings, result("held"))  # its slow pair goes to the lane, whose round then waits for `release`
    wait_until(lambda: (tmp_path / "holding").exists(), timeout=60)
    # The job that runs the round started before it: once its budget has passed it is ending, waiting for the
    # round.
    time.sleep(2 * budget)

    put(settings, result("late"))
    wait_until(lambda: "late" in lines(tmp_path / "fast.log"), timeout=30)
    assert "held" not in lines(tmp_path / "slow.log")  # the round was still in flight

    (tmp_path / "release").touch()
    ids = [*warm, "held", "late"]
    wait_until(lambda: all(redis_client.exists(handled_key(pair_id(i, SLOW))) for i in ids), timeout=60, interval=0.2)
    assert Counter(lines(tmp_path / "slow.log")) == Counter(ids)
    assert Counter(lines(tmp_path / "fast.log")) == Counter(ids)
    assert lanes.lengths(redis_client, settings.default_queue, [SLOW])[SLOW] == 0


def test_a_set_aside_tried_again_after_its_answer_was_lost_appends_nothing_twice(
    redis_url: str, redis_client: redis.Redis
) -> None:
    # What a retry does when the transaction was applied but its answer never came (Redis stopped right after
    # it, or a socket timeout): the same write again. The lane must hold each entry once, or it runs them twice.
    from infobip_inbound.contract.store.inbox import Batch

    settings = load_settings(redis_url=redis_url)
    batch = Batch.of_job("lost-answer")
    aside = [lanes.LanePair(pair_id(f"m{i}", SLOW), SLOW, f"entry-{i}".encode()) for i in range(5)]
    for _ in range(2):
        lanes.set_aside(redis_client, settings.default_queue, batch, aside, 60)
    assert lanes.lengths(redis_client, settings.default_queue, [SLOW])[SLOW] == 5
    assert batch.load(redis_client)[1] == {pair.pair for pair in aside}
