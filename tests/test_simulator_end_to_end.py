"""The simulator forwards 1,000 generated responses, with duplicate deliveries and a burst of 503s from the
receiver, to a real receiver and worker: each one is handled exactly once, per the simulator's counters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import redis
from click.testing import CliRunner

from infobip_inbound.shell.cli import main
from tests.conftest import TOKEN
from tests.simulator_support import API_KEY, APP, SimulatorProcess
from tests.support import ReceiverProcess, Role, handled_ids, wait_until

pytest_plugins = ["tests.simulator_fixtures"]


def test_forwarded_responses_are_handled_exactly_once(
    sim: SimulatorProcess,
    base_env: dict[str, str],
    redis_client: redis.Redis,
    start_receiver: Callable[[dict[str, str]], ReceiverProcess],
    start_worker: Callable[..., Role],
) -> None:
    # A short Redis timeout makes the receiver answer 503 while Redis writes are paused below.
    receiver = start_receiver({**base_env, "INBOUND_REDIS_SOCKET_TIMEOUT": "0.3"})
    start_worker(base_env)
    registered = CliRunner().invoke(
        main,
        ["register", "--public-url", receiver.base_url],
        env={
            "INBOUND_INFOBIP_BASE_URL": sim.base_url,
            "INBOUND_INFOBIP_API_KEY": API_KEY,
            "INBOUND_INFOBIP_APPLICATION_CODE": APP,
            "INBOUND_FORWARD_TOKENS": TOKEN,
        },
        catch_exceptions=False,
    )
    assert registered.exit_code == 0, registered.output
    sim.admin("PUT", "options", {"forward_retry_delays": [0.2, 0.5, 1, 2, 3, 5, 8]})
    sim.faults(duplicate_rate=0.1)

    generated = sim.inject(generate=400, application_code=APP)
    redis_client.execute_command("CLIENT", "PAUSE", "1500", "WRITE")
    generated += sim.inject(generate=600, application_code=APP)

    wait_until(lambda: sim.counters()["forward_in_flight"] == 0, timeout=120, interval=0.2)
    jsonl = Path(base_env["INBOUND_JSONL__PATH"])
    wait_until(lambda: len(set(handled_ids(jsonl))) >= len(generated), timeout=120, interval=0.2)

    counters = sim.counters()
    assert counters["generated"] == 1000
    assert counters["forwarded"] == 1000
    assert counters["forward_abandoned"] == 0
    assert counters["forward_duplicates"] > 0
    assert counters["forward_failures"] > 0, receiver.log()
    handled = Counter(handled_ids(jsonl))
    assert set(handled) == set(generated)
    assert max(handled.values()) == 1
