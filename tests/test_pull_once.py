"""`pull once` against the simulator over real HTTP: it drains a backlog into the queues (handled by a real
worker), stops at --limit, and a run killed after storing a pulled batch loses nothing: the next run queues it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from infobip_inbound.contract.store.keys import PULL_RAW_KEY
from tests.simulator_support import API_KEY, SimulatorProcess
from tests.support import ROOT, Role, handled_ids, wait_until

pytest_plugins = ["tests.simulator_fixtures"]


def env_for(base_env: dict[str, str], sim: SimulatorProcess, **extra: str) -> dict[str, str]:
    return {**base_env, "INBOUND_INFOBIP_BASE_URL": sim.base_url, "INBOUND_INFOBIP_API_KEY": API_KEY, **extra}


def pull_once(
    env: dict[str, str], *args: str, module: str = "infobip_inbound.shell.cli"
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", module] + (
        ["pull", "once", *args] if module == "infobip_inbound.shell.cli" else []
    )
    return subprocess.run(
        command, env={"PATH": "/usr/bin:/bin", **env}, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def figures(answer: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert answer.returncode == 0, answer.stderr
    loaded: dict[str, Any] = json.loads(answer.stdout)
    return loaded


def handled_once(env: dict[str, str], start_worker: Callable[..., Role], ids: list[str]) -> None:
    start_worker(env)
    jsonl = Path(env["INBOUND_JSONL__PATH"])
    wait_until(lambda: len(handled_ids(jsonl)) >= len(ids), timeout=120, interval=0.2)
    counts = Counter(handled_ids(jsonl))
    assert set(counts) == set(ids) and max(counts.values()) == 1


def test_pull_once_drains_the_backlog_into_the_queues(
    sim: SimulatorProcess, base_env: dict[str, str], start_worker: Callable[..., Role]
) -> None:
    sim.enable_pull()
    ids = sim.inject(generate=2500)
    env = env_for(base_env, sim)
    done = figures(pull_once(env, "--json"))
    assert done == {
        "account": "default",
        "pulls": 3,
        "pulled": 2500,
        "queued": 2500,
        "duplicates": 0,
        "quarantined": 0,
        "recovered_batches": 0,
        "pending": 0,
    }
    assert sim.counters()["pulled"] == 2500
    handled_once(env, start_worker, ids)
    again = pull_once(env)
    assert again.returncode == 0 and "pulled 0 message(s) in 1 pull(s)" in again.stdout


def test_pull_once_takes_at_most_limit(sim: SimulatorProcess, base_env: dict[str, str]) -> None:
    sim.enable_pull()
    sim.inject(generate=30)
    env = env_for(base_env, sim)
    done = figures(pull_once(env, "--limit", "10", "--json"))
    assert (done["pulled"], done["queued"], done["pending"]) == (10, 10, 20)
    human = pull_once(env, "--limit", "25")
    assert human.returncode == 0
    assert human.stdout.strip() == (
        "account default: pulled 20 message(s) in 1 pull(s); queued 20, duplicates 0, quarantined 0; "
        "still pending at Infobip: 0"
    )


def test_a_pull_once_killed_after_storing_loses_nothing(
    sim: SimulatorProcess, base_env: dict[str, str], start_worker: Callable[..., Role], redis_client: redis.Redis
) -> None:
    sim.enable_pull()
    ids = sim.inject(generate=1500)
    env = env_for(base_env, sim, INBOUND_POLL_LIMIT="1000")
    for crash_at in ("after_store", "after_enqueue"):
        crashed = pull_once({**env, "CRASH_AT": crash_at, "CRASH_COMMAND": "pull-once"}, module="tests.crash_poller")
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        assert redis_client.hlen(PULL_RAW_KEY) == 1  # the pulled batch, kept raw
    assert sim.counters()["pulled"] == 1500  # handed out once: only Redis has it now
    # The second run queued the first one's stored batch before pulling; the last run finds the second's
    # batch stored after its enqueue: queued already, so all duplicates.
    done = figures(pull_once(env, "--json"))
    assert (done["recovered_batches"], done["pulled"], done["pending"]) == (1, 0, 0)
    assert (done["queued"], done["duplicates"]) == (0, 500)
    assert redis_client.hlen(PULL_RAW_KEY) == 0
    handled_once(env, start_worker, ids)


def test_pull_once_errors_are_one_line(sim: SimulatorProcess, base_env: dict[str, str]) -> None:
    env = env_for(base_env, sim)
    unknown = pull_once(env, "--account", "nope")
    assert unknown.returncode == 2 and "no poll account named 'nope'" in unknown.stderr
    refused = pull_once({**env, "INBOUND_INFOBIP_API_KEY": "wrong-key-123456"})
    errors = [line for line in refused.stderr.splitlines() if line.startswith("Error:")]
    assert refused.returncode == 1 and len(errors) == 1 and "API key" in errors[0]
    assert "Traceback" not in refused.stderr
