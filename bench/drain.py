"""Poller drain rate from the simulator with a backlog, against the throttle bound (10 pulls/s x limit)."""

from __future__ import annotations

import time

import httpx
import redis
from pydantic import SecretStr

from infobip_inbound.contract.store.keys import STATS_KEY
from infobip_inbound.infobip.client import InfobipClient


def enable_pull(sim_url: str, api_key: str) -> None:
    """A configuration and a PULL action on every simulated application: without one, like Infobip, the
    simulator keeps nothing to pull."""
    apps = httpx.get(f"{sim_url}/_sim/state", timeout=10).raise_for_status().json()["applications"]
    with InfobipClient(sim_url, SecretStr(api_key)) as client:
        for app in apps:
            configuration = client.create_configuration(app)
            client.create_action(app, configuration, "PULL")


def measure(
    sim_url: str, api_key: str, redis_url: str, backlog: int, limit: int, start_poller: object
) -> dict[str, float]:
    enable_pull(sim_url, api_key)
    httpx.post(f"{sim_url}/_sim/messages", json={"generate": backlog}, timeout=60).raise_for_status()
    connection = redis.Redis.from_url(redis_url)
    before = int(connection.hget(STATS_KEY, "accepted") or 0)
    start_poller()  # type: ignore[operator]
    deadline = time.monotonic() + 300
    first_pull = None
    while time.monotonic() < deadline:
        counters = httpx.get(f"{sim_url}/_sim/counters", timeout=10).json()
        if first_pull is None and counters["pull_requests"] > 0:
            first_pull = time.monotonic()
        if int(connection.hget(STATS_KEY, "accepted") or 0) - before >= backlog:
            break
        time.sleep(0.01)
    finished = time.monotonic()
    assert first_pull is not None, "the poller never pulled"
    rate = backlog / (finished - first_pull)
    bound = 10 * limit
    return {
        "backlog": backlog,
        "limit": limit,
        "messages_per_s": rate,
        "throttle_bound_per_s": bound,
        "fraction_of_bound": rate / bound,
        "throttled": counters["throttled"],
    }
