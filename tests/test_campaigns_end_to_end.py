"""Campaigns over real HTTP: two bulks sent with `infobip push send` to simulated devices that answer, by
forward (some forwards delivered twice) and by pull, plus unprompted responses; `campaigns show` reports each
bulk's responses exactly as the simulator generated them, its keywords, and its response rate from the
simulator's own statistics; one bulk's answers are routed to their own handler and queue."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis
from click.testing import CliRunner

from infobip_inbound.contract.store.keys import HANDLED_PREFIX, campaign_stats_key
from infobip_inbound.shell.cli import main
from tests.conftest import TOKEN
from tests.simulator_support import API_KEY, APP, OTHER_APP, SimulatorProcess, make_client
from tests.support import ReceiverProcess, Role, wait_until

pytest_plugins = ["tests.simulator_fixtures"]

ADMIN_TOKEN = "campaign-admin-token-7d1f"
DEVICES = 24  # per application and campaign


def cli(env: dict[str, str], *args: str) -> str:
    outcome = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    return outcome.output


def send_campaign(env: dict[str, str], tmp_path: Path, name: str, extra: list[str]) -> str:
    body = {
        "messages": [
            {
                "sender": app,
                "destinations": [
                    {"type": "REGISTRATION", "pushRegistrationId": registration}
                    for registration in [f"{name}-{app}-{n:03d}" for n in range(DEVICES)] + extra
                ],
                "content": {"text": f"{name}: answer YES or NO"},
            }
            for app in (APP, OTHER_APP)
        ]
    }
    path = tmp_path / f"{name}.json"
    path.write_bytes(orjson.dumps(body))
    answer = json.loads(cli(env, "infobip", "push", "send", "--file", str(path), "--json"))
    bulk_id: str = answer["bulkId"]
    return bulk_id


def handled(client: redis.Redis, handler: str) -> set[str]:
    prefix = f"{HANDLED_PREFIX}{handler}\x1f"
    return {key.decode().removeprefix(prefix) for key in client.scan_iter(match=prefix + "*", count=1000)}


def test_campaigns_report_what_the_simulator_generated(
    sim: SimulatorProcess, base_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    env = {
        **base_env,
        "INBOUND_DEFAULT_HANDLERS": '["log"]',
        "INBOUND_INFOBIP_BASE_URL": sim.base_url,
        "INBOUND_INFOBIP_API_KEY": API_KEY,
        "INBOUND_INFOBIP_APPLICATION_CODE": APP,
        "INBOUND_ADMIN_TOKENS": ADMIN_TOKEN,
        "INBOUND_POLL_INTERVAL_SECONDS": "0.2",
        "INBOUND_POLL_TIMEOUT_SECONDS": "2",
    }
    # Infobip's retry schedule, stretched: answers that come before the receiver is up are forwarded later.
    sim.admin("PUT", "options", {"respond_share": 0.5, "respond_delay_seconds": 0.3})
    sim.admin("PUT", "options", {"forward_retry_delays": [0.5, 1, 2, 4, 8, 8]})
    sim.faults(duplicate_rate=0.4)
    receiver = ReceiverProcess(env, tmp_path / "receiver.log")
    for args in (["--app", APP], ["--app", OTHER_APP, "--pull"]):
        cli({**env, "INBOUND_FORWARD_TOKENS": TOKEN}, "register", "--public-url", receiver.base_url, *args)

    # The bulk ids come from the sends, so the route on one of them is set before the roles start.
    spring = send_campaign(env, tmp_path, "spring", [])
    autumn = send_campaign(env, tmp_path, "autumn", ["expired-autumn-1", "expired-autumn-2"])
    unprompted = {"pairedMessageId": None, "bulkId": None, "initialMessageId": None}
    sim.inject(*[{**unprompted, "applicationCode": app} for app in (APP, OTHER_APP) for _ in range(4)])

    routes = [
        {"name": "spring", "match": {"bulk_id": spring, "paired": True}, "handlers": ["jsonl"], "queue": "spring"}
    ]
    env["INBOUND_ROUTES"] = orjson.dumps(routes).decode()
    receiver.env["INBOUND_ROUTES"] = env["INBOUND_ROUTES"]
    roles = [
        receiver,
        Role(["worker"], {**env, "INBOUND_WORKER_QUEUES": "spring"}, tmp_path / "worker-spring.log"),
        Role(["worker"], {**env, "INBOUND_WORKER_QUEUES": "infobip-inbound"}, tmp_path / "worker-default.log"),
        Role(["poller"], env, tmp_path / "poller.log"),
    ]
    try:
        for role in roles:
            role.start()
        devices = [d for d in sim.admin("GET", "devices")["devices"] if d["response"]]
        answers: dict[str, list[dict[str, Any]]] = {spring: [], autumn: []}
        for device in devices:
            answers[device["response"]["bulkId"]].append(device["response"])
        assert answers[spring] and answers[autumn]
        expected_total = len(devices) + 8

        def settled() -> bool:
            counters = sim.counters()
            done = handled(redis_client, "log") | handled(redis_client, "jsonl")
            return counters["responses_on_their_way"] == 0 and counters["pending"] == 0 and len(done) == expected_total

        wait_until(settled, timeout=60, interval=0.25)
        counters = sim.counters()
        assert counters["forwarded"] > 0 and counters["pulled"] > 0 and counters["forward_duplicates"] > 0
        assert counters["forward_abandoned"] == 0

        # One campaign's answers went to its own handler, on its own queue (the only one its worker works).
        spring_ids = {answer["messageId"] for answer in answers[spring]}
        assert handled(redis_client, "jsonl") == spring_ids
        written = {
            json.loads(line)["message_id"] for line in Path(base_env["INBOUND_JSONL__PATH"]).read_text().splitlines()
        }
        assert written == spring_ids
        assert not handled(redis_client, "log") & spring_ids

        for bulk_id, made in answers.items():
            shown = json.loads(cli(env, "campaigns", "show", bulk_id, "--json"))
            assert shown["responses"] == len(made)  # every answer once: duplicates are not counted
            keywords = Counter((answer.get("keyword") or "").casefold() for answer in made)
            assert shown["keywords"] == dict(keywords)
            # The send was recorded, so every answer has a delay bucket (their values are the machine's timing).
            assert shown["sent_at"] is not None
            assert sum(bucket["responses"] for bucket in shown["delay_buckets"]) == len(made)
            with make_client(sim.base_url) as client:
                statistics = client.push_statistics(bulk_id)
            assert shown["statistics"]["delivered"] == statistics.delivered
            assert shown["statistics"]["per_delivered"] == round(len(made) / statistics.delivered, 4)
            assert shown["statistics"]["per_seen"] == round(len(made) / statistics.seen, 4)
        # Asked again within the cache's life, the statistics come from Redis, not from Infobip.
        assert 0 < redis_client.ttl(campaign_stats_key(autumn)) <= 300
        redis_client.set(campaign_stats_key(autumn), orjson.dumps({"totalSent": 1, "delivered": 1, "seen": 1}), ex=60)
        assert json.loads(cli(env, "campaigns", "show", autumn, "--json"))["statistics"]["sent"] == 1

        listed = json.loads(cli(env, "campaigns", "list", "--json"))
        assert {c["id"] for c in listed["campaigns"]} == {spring, autumn}
        assert {a["id"]: a["responses"] for a in listed["applications"]} == {APP: 4, OTHER_APP: 4}
        table = cli(env, "campaigns", "list")
        assert spring in table and "without a bulk id" in table

        assert f"{spring} {len(answers[spring])}" in cli(env, "status")
        check_status_page(receiver, spring, tmp_path)
    finally:
        sim.admin("PUT", "options", {"respond_share": 0.0})
        for role in reversed(roles):
            role.stop()


def check_status_page(receiver: ReceiverProcess, bulk_id: str, tmp_path: Path) -> None:
    url = receiver.base_url + "/admin/status"
    page = httpx.get(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert f'data-bulk="{bulk_id}"' in page.text
    assert f'aria-label="keywords of bulk {bulk_id}"' in page.text
    figures = httpx.get(url + ".json", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10).json()
    assert bulk_id in {c["id"] for c in figures["campaigns"]}
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:  # checked over HTTP only (Debian: apt-get install -y chromium)
        return
    authed = url.replace("http://", f"http://ops:{ADMIN_TOKEN}@")
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--virtual-time-budget=3000",
            "--dump-dom",
            authed,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-rendered="yes"' in dom.stdout  # the page's script still runs under its policy
    assert f'data-bulk="{bulk_id}"' in dom.stdout
