"""Results in the shapes Infobip's SDKs may really send, through both paths from the simulator: forward (to a
real receiver) and pull (a real poller). Every one is handled, or quarantined and retrievable; the
quarantine shows in `status`, on /metrics and in the status text."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import redis
from click.testing import CliRunner

from infobip_inbound.contract.store import quarantine
from infobip_inbound.shell.cli import main
from infobip_inbound.simulator.generator import ODD_SHAPES
from tests.conftest import TOKEN
from tests.simulator_support import API_KEY, APP, OTHER_APP, SimulatorProcess
from tests.support import ReceiverProcess, Role, handled_ids, run_cli, wait_until

pytest_plugins = ["tests.simulator_fixtures"]


def test_odd_results_by_forward_and_pull_are_handled_or_quarantined(
    sim: SimulatorProcess,
    base_env: dict[str, str],
    redis_client: redis.Redis,
    start_receiver: Callable[[dict[str, str]], ReceiverProcess],
    start_worker: Callable[..., Role],
    tmp_path: Path,
) -> None:
    env = {
        **base_env,
        "INBOUND_INFOBIP_BASE_URL": sim.base_url,
        "INBOUND_INFOBIP_API_KEY": API_KEY,
        "INBOUND_POLL_INTERVAL_SECONDS": "0.2",
        "INBOUND_POLL_TIMEOUT_SECONDS": "2",
    }
    receiver = start_receiver(env)
    start_worker(env)
    registered = CliRunner().invoke(
        main,
        ["register", "--public-url", receiver.base_url],
        env={**env, "INBOUND_INFOBIP_APPLICATION_CODE": APP, "INBOUND_FORWARD_TOKENS": TOKEN},
        catch_exceptions=False,
    )
    assert registered.exit_code == 0, registered.output
    poller = Role(["poller"], env, tmp_path / "poller.log")
    poller.start()
    try:
        # APP forwards to the receiver; OTHER_APP has a PULL action, so the simulator keeps its responses to pull.
        sim.enable_pull(OTHER_APP)
        per_path = len(ODD_SHAPES)
        forwarded = sim.inject(generate=5, application_code=APP)
        forwarded += sim.inject(odd=per_path, application_code=APP)
        pulled = sim.inject(generate=5, application_code=OTHER_APP)
        pulled += sim.inject(odd=per_path, application_code=OTHER_APP)
        readable = set(forwarded) | set(pulled)
        assert len(readable) == 2 * (5 + per_path - 1)  # the odd shape without a messageId has no id

        jsonl = Path(env["INBOUND_JSONL__PATH"])
        wait_until(lambda: set(Counter(handled_ids(jsonl))) >= readable, timeout=90, interval=0.2)
        wait_until(lambda: quarantine.count(redis_client) == 2, timeout=30, interval=0.2)
        assert max(Counter(handled_ids(jsonl)).values()) == 1
        entries = sorted(quarantine.select(redis_client), key=lambda e: e.source)
        assert [(e.source, e.kind, e.message_id) for e in entries] == [
            ("forward", "result", None),
            ("pull", "result", None),
        ]
        assert all("messageId" in e.reason for e in entries)
        assert entries[0].request_id and entries[1].account == "default" and entries[1].batch_id

        cli_env = {**os.environ, **env}
        status = json.loads(run_cli(cli_env, "status", "--json"))
        assert status["quarantine"]["size"] == 2
        assert "Quarantine: 2 results set aside" in run_cli(cli_env, "status")
        metrics = httpx.get(receiver.base_url + "/metrics", timeout=10).text
        assert "infobip_inbound_quarantine_size 2.0" in metrics
    finally:
        poller.stop()
