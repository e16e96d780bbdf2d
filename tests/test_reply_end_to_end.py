"""The closed loop over real HTTP: a campaign to 1,000 simulated devices; half of them respond, by forward
and by pull, to a real receiver, poller and workers; `auto_reply` answers each responding device exactly
once, although some of its calls fail after their reply went out and are retried."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from click.testing import CliRunner

from infobip_inbound.contract.store.keys import HANDLED_PREFIX, SCHEDULED_KEY
from infobip_inbound.infobip.push import PushContent, PushMessage, PushRequest, RegistrationDestination
from infobip_inbound.shell.cli import main
from tests.conftest import TOKEN, _roles
from tests.reply_handlers import FAILED_PREFIX
from tests.simulator_support import API_KEY, APP, OTHER_APP, SimulatorProcess, make_client
from tests.support import ReceiverProcess, Role, wait_until

pytest_plugins = ["tests.simulator_fixtures"]

DEVICES_PER_APP = 500
HANDLER = "tests.reply_handlers:auto_reply_then_fail"


@pytest.fixture
def start_poller(tmp_path: Path) -> Iterator[Callable[..., Role]]:
    yield from _roles(lambda n, env: Role(["poller"], env, tmp_path / f"poller-{n}.log"))


def register(receiver: ReceiverProcess, sim: SimulatorProcess, *args: str) -> None:
    env = {
        "INBOUND_INFOBIP_BASE_URL": sim.base_url,
        "INBOUND_INFOBIP_API_KEY": API_KEY,
        "INBOUND_FORWARD_TOKENS": TOKEN,
    }
    outcome = CliRunner().invoke(
        main, ["register", "--public-url", receiver.base_url, *args], env=env, catch_exceptions=False
    )
    assert outcome.exit_code == 0, outcome.output


def count_keys(client: redis.Redis, pattern: str) -> int:
    return sum(1 for _ in client.scan_iter(match=pattern, count=1000))


def test_auto_reply_answers_each_responding_device_exactly_once(
    sim: SimulatorProcess,
    base_env: dict[str, str],
    redis_client: redis.Redis,
    start_receiver: Callable[[dict[str, str]], ReceiverProcess],
    start_worker: Callable[..., Role],
    start_poller: Callable[..., Role],
) -> None:
    env = {
        **base_env,
        "INBOUND_DEFAULT_HANDLERS": orjson.dumps([HANDLER]).decode(),
        "INBOUND_AUTO_REPLY": orjson.dumps(
            {"keywords": {"YES": {"text": "You are in, {registration_id}"}}, "default": {"text": "Thanks: {text}"}}
        ).decode(),
        "INBOUND_INFOBIP_BASE_URL": sim.base_url,
        "INBOUND_INFOBIP_API_KEY": API_KEY,
        "INBOUND_REPLY_REQUESTS_PER_SECOND": "500",
        "INBOUND_POLL_INTERVAL_SECONDS": "0.2",
        "INBOUND_POLL_TIMEOUT_SECONDS": "2",
    }
    receiver = start_receiver(env)
    start_worker(env)
    start_worker(env)
    start_poller(env)
    register(receiver, sim, "--app", APP)  # forward
    register(receiver, sim, "--app", OTHER_APP, "--pull")
    sim.admin("PUT", "options", {"respond_share": 0.5, "respond_delay_seconds": 0.2})

    campaign = PushRequest(
        messages=[
            PushMessage(
                sender=app,
                destinations=[
                    RegistrationDestination(push_registration_id=f"device-{app}-{n:04d}")
                    for n in range(DEVICES_PER_APP)
                ],
                content=PushContent(text="Join us on Friday? Answer YES or NO."),
            )
            for app in (APP, OTHER_APP)
        ]
    )
    with make_client(sim.base_url) as client:
        bulk_id = client.send_push(campaign).bulk_id
    assert bulk_id

    def settled() -> bool:
        counters = sim.counters()
        responses = counters["device_responses"]
        return (
            counters["responses_on_their_way"] == 0
            and counters["pending"] == 0
            and count_keys(redis_client, f"{HANDLED_PREFIX}{HANDLER}*") == responses
            and redis_client.zcard(SCHEDULED_KEY) == 0
        )

    wait_until(settled, timeout=90, interval=0.25)

    counters: dict[str, Any] = sim.counters()
    responses = counters["device_responses"]
    assert 0 < responses < 2 * DEVICES_PER_APP
    assert counters["responding_devices"] == responses
    assert counters["forwarded"] > 0 and counters["pulled"] > 0  # both ways in
    assert counters["forward_abandoned"] == 0
    # Every responding device got one reply, and only responding devices got any.
    devices = sim.admin("GET", "devices")["devices"]
    responded = {d["registration_id"] for d in devices if d["responded_to"]}
    assert len(responded) == responses
    assert counters["replies_by_device"] == dict.fromkeys(responded, 1)
    assert counters["replies_received"] == responses
    assert all(d["replies"] == 0 for d in devices if not d["responded_to"])
    pushes = sim.admin("GET", "pushes")["pushes"]
    replies = [p for p in pushes if p["bulkId"] != bulk_id]
    assert len(replies) == responses
    # Some handler calls failed after their reply, and their retries sent nothing more.
    assert count_keys(redis_client, f"{FAILED_PREFIX}*") > 0
    # The campaign's statistics come from what happened: all delivered, the responded ones seen.
    with make_client(sim.base_url) as client:
        statistics = client.push_statistics(bulk_id)
    assert (statistics.total_sent, statistics.delivered, statistics.seen) == (
        2 * DEVICES_PER_APP,
        2 * DEVICES_PER_APP,
        responses,
    )


def test_an_async_handler_replies_once_per_response_through_areply(
    sim: SimulatorProcess,
    base_env: dict[str, str],
    redis_client: redis.Redis,
    start_receiver: Callable[[dict[str, str]], ReceiverProcess],
    start_worker: Callable[..., Role],
) -> None:
    handler = "tests.reply_handlers:async_reply_then_fail"
    env = {
        **base_env,
        "INBOUND_DEFAULT_HANDLERS": orjson.dumps([handler]).decode(),
        "INBOUND_INFOBIP_BASE_URL": sim.base_url,
        "INBOUND_INFOBIP_API_KEY": API_KEY,
        "INBOUND_REPLY_REQUESTS_PER_SECOND": "500",
    }
    receiver = start_receiver(env)
    start_worker(env)
    register(receiver, sim, "--app", APP)
    sim.admin("PUT", "options", {"respond_share": 1.0, "respond_delay_seconds": 0})
    devices = [f"async-{n:03d}" for n in range(40)]
    request = PushRequest(
        messages=[
            PushMessage(
                sender=APP,
                destinations=[RegistrationDestination(push_registration_id=d) for d in devices],
                content=PushContent(text="Hello?"),
            )
        ]
    )
    with make_client(sim.base_url) as client:
        client.send_push(request)

    wait_until(
        lambda: (
            count_keys(redis_client, f"{HANDLED_PREFIX}{handler}*") == len(devices)
            and redis_client.zcard(SCHEDULED_KEY) == 0
        ),
        timeout=60,
        interval=0.2,
    )
    counters = sim.counters()
    assert counters["replies_by_device"] == dict.fromkeys(devices, 1)
    assert count_keys(redis_client, f"{FAILED_PREFIX}*") > 0
    texts = {p["content"]["text"] for p in sim.admin("GET", "pushes")["pushes"] if p["content"]["text"] != "Hello?"}
    assert all(text.startswith("Got it: ") for text in texts) and texts
