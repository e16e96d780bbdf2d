"""The poller's /metrics (on INBOUND_HEALTH_PORT): leadership, pulls, pending, last drain, errors by kind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from infobip_inbound.shell.redis_server import free_port
from tests.conftest import _roles
from tests.metrics_support import scrape, value
from tests.simulator_support import API_KEY, SimulatorProcess
from tests.support import Role, wait_until

pytest_plugins = ["tests.simulator_fixtures"]


@pytest.fixture
def poller_role(tmp_path: Path) -> Iterator[Callable[..., Role]]:
    yield from _roles(lambda n, env: Role(["poller"], env, tmp_path / f"poller-{n}.log"))


def test_poller_metrics(
    sim: SimulatorProcess, base_env: dict[str, str], poller_role: Callable[[dict[str, str]], Role]
) -> None:
    sim.enable_pull()
    sim.inject(generate=25)
    port = free_port()
    accounts = [{"name": "good", "api_key": API_KEY}, {"name": "revoked", "api_key": "revoked-key-000"}]
    env = {
        **base_env,
        "INBOUND_INFOBIP_BASE_URL": sim.base_url,
        "INBOUND_POLL_ACCOUNTS": orjson.dumps(accounts).decode(),
        "INBOUND_POLL_INTERVAL_SECONDS": "0.2",
        "INBOUND_POLL_TIMEOUT_SECONDS": "2",
        "INBOUND_POLL_LIMIT": "10",
        "INBOUND_HEALTH_PORT": str(port),
        "INBOUND_HOST": "127.0.0.1",
    }
    poller = poller_role(env)
    url = f"http://127.0.0.1:{port}/metrics"

    def scraped() -> bool:
        try:
            samples = scrape(url)
        except Exception:
            return False
        return value(samples, "infobip_inbound_poller_pulled_messages_total", account="good") >= 25 and (
            value(samples, "infobip_inbound_poller_pull_errors_total", account="revoked", kind="credentials") >= 1
        )

    wait_until(scraped, timeout=60, interval=0.2)
    samples = scrape(url)
    assert value(samples, "infobip_inbound_poller_leader") == 1
    assert value(samples, "infobip_inbound_poller_pulled_messages_total", account="good") == 25
    assert value(samples, "infobip_inbound_poller_pulls_total", account="good") >= 3  # 10 per pull
    assert value(samples, "infobip_inbound_poller_pending_messages", account="good") == 0
    assert value(samples, "infobip_inbound_poller_last_drain_timestamp_seconds", account="good") > 0
    assert value(samples, "infobip_inbound_poller_seconds_since_last_drain", account="good") >= 0
    assert value(samples, "infobip_inbound_poller_pull_errors_total", account="revoked", kind="credentials") == 1
    assert value(samples, "infobip_inbound_poller_account_stopped", account="revoked") == 1
    assert value(samples, "infobip_inbound_poller_account_stopped", account="good") == 0
    assert "revoked-key-000" not in poller.log()
