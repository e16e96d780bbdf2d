"""/metrics after an end-to-end run: two uvicorn processes, a pool of two RQ worker processes, real Redis.

The counters must match what was sent (accepted, duplicate, rejected by reason, handled, failed), whichever
process answered each request or ran each job. The same run uses secrets, which no log line may contain.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from infobip_inbound.shell.redis_server import free_port
from tests.conftest import TOKEN
from tests.metrics_support import scrape, total, value
from tests.support import ReceiverProcess, Role, envelope, result, wait_until

FORWARD = "/infobip/forward"
BASIC_USER, BASIC_PASSWORD = "infobip", "basic-secret-pw-7f3a9c"
ADMIN_TOKEN = "admin-secret-4b1d8e2f"
API_KEY = "infobip-api-key-secret-93e1c0"
FAILING = "tests.handlers:always_fail"


@pytest.fixture
def env(base_env: dict[str, str]) -> dict[str, str]:
    routes = [{"name": "failing", "match": {"keyword": ["FAIL"]}, "handlers": [FAILING]}]
    return {
        **base_env,
        "INBOUND_ROUTES": orjson.dumps(routes).decode(),
        # Two tries per failing pair, no wait between them, then the dead-letter store.
        "INBOUND_HANDLER_RETRY_DEFAULT": '{"max_tries": 2, "backoff_base_seconds": 0}',
        "INBOUND_FORWARD_BASIC_AUTH": f"{BASIC_USER}:{BASIC_PASSWORD}",
        "INBOUND_ADMIN_TOKENS": ADMIN_TOKEN,
        "INBOUND_INFOBIP_API_KEY": API_KEY,
        "INBOUND_MAX_BODY_BYTES": "200000",
        "INBOUND_LOG_LEVEL": "DEBUG",
        "INBOUND_LOG_FORMAT": "json",
    }


def json_lines(text: str) -> list[dict[str, object]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(orjson.loads(line))
    return lines


def test_counters_match_what_was_sent_and_logs_hold_no_secret(
    env: dict[str, str],
    start_worker: Callable[..., Role],
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    receiver = ReceiverProcess(env, tmp_path / "receiver.log")
    receiver.args = ["serve", "--workers", "2"]
    receiver.start()
    health_port = free_port()
    worker = start_worker(
        {**env, "INBOUND_HEALTH_PORT": str(health_port), "INBOUND_HOST": "127.0.0.1"}, "--processes", "2"
    )
    try:
        envelopes = [[f"m-{e:02d}-{i}" for i in range(5)] for e in range(40)]  # 200 messages
        failing = {mid for batch in envelopes for mid in batch if mid.endswith("-0") and int(mid[2:4]) % 2 == 0}
        sent: dict[int, int] = {}
        request_ids: dict[str, str] = {}

        def post(path: str, body: bytes, **headers: str) -> int:
            answer = httpx.post(
                receiver.base_url + path,
                content=body,
                headers={"Content-Type": "application/json", **headers},
                timeout=30,
            )
            sent[answer.status_code] = sent.get(answer.status_code, 0) + 1
            return answer.status_code

        def body_of(batch: list[str]) -> bytes:
            return orjson.dumps(envelope(*(result(m, keyword="FAIL" if m in failing else "KEY") for m in batch)))

        basic = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
        for index, batch in enumerate(envelopes):
            request_id = f"req-{index:02d}"
            request_ids.update(dict.fromkeys(batch, request_id))
            if index % 2:
                assert post(f"{FORWARD}/{TOKEN}", body_of(batch), **{"X-Request-ID": request_id}) == 200
            else:
                assert post(FORWARD, body_of(batch), Authorization=basic, **{"X-Request-ID": request_id}) == 200
        for batch in envelopes[:5]:  # Infobip's retries: 25 duplicates
            assert post(f"{FORWARD}/{TOKEN}", body_of(batch)) == 200
        for batch in envelopes[10:20]:  # single messages again: 10 duplicates
            assert post(f"{FORWARD}/{TOKEN}", body_of(batch[1:2]), **{"X-Request-ID": TOKEN}) == 200
        # Refused: wrong token and wrong password (401), bad envelope (400), not JSON
        # whatever its Content-Type (400, and counted by its type), too large (413).
        assert post(f"{FORWARD}/not-the-token", body_of(["r-1"])) == 401
        assert post(f"{FORWARD}/{TOKEN}x", body_of(["r-2"])) == 401
        bad_basic = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}x".encode()).decode()
        assert post(FORWARD, body_of(["r-3"]), Authorization=bad_basic) == 401
        assert post(f"{FORWARD}/{TOKEN}", b'{"results": {"messageId": 5}}') == 400  # not a results array
        assert post(f"{FORWARD}/{TOKEN}", b"{not json") == 400
        assert post(f"{FORWARD}/{TOKEN}", b"x", **{"Content-Type": "text/plain"}) == 400
        assert post(f"{FORWARD}/{TOKEN}", b"[" + b" " * 300_000 + b"]") == 413

        ok_messages = 200 - len(failing)
        worker_metrics = f"http://127.0.0.1:{health_port}/metrics"

        def settled() -> bool:
            samples = scrape(worker_metrics)
            return (
                value(samples, "infobip_inbound_handled_total", handler="jsonl", outcome="ok") >= ok_messages
                and value(samples, "infobip_inbound_handled_total", handler=FAILING, outcome="failed")
                >= 2 * len(failing)
                and value(samples, "infobip_inbound_dlq_size", handler=FAILING) == len(failing)
                and value(samples, "infobip_inbound_queue_depth", queue="infobip-inbound") == 0
                and value(samples, "infobip_inbound_queue_jobs", queue="infobip-inbound", state="started") == 0
            )

        wait_until(settled, timeout=120, interval=0.2)

        # Receiver: every uvicorn process's counts, whichever answers the scrape. Each process adds its
        # forward counts to the shared samples every 0.2 s (infobip_inbound.receiver.observe): wait until all are in,
        # then every later scrape must show exactly them.
        forward_counts = {"200": 55, "401": 3, "400": 3, "413": 1}

        def forward_counted() -> bool:
            samples = scrape(receiver.base_url + "/metrics")
            return all(
                value(samples, "infobip_inbound_http_requests_total", route=FORWARD, status=status) == count
                for status, count in forward_counts.items()
            )

        try:
            wait_until(forward_counted, timeout=20, interval=0.2)
        except AssertionError:
            print("--- receiver.log (tail)\n" + "\n".join(receiver.log().splitlines()[-60:]))
            raise
        for _ in range(4):
            samples = scrape(receiver.base_url + "/metrics")
            assert value(samples, "infobip_inbound_http_requests_total", route=FORWARD, status="200") == 55
            assert value(samples, "infobip_inbound_http_requests_total", route=FORWARD, status="401") == 3
            assert value(samples, "infobip_inbound_http_requests_total", route=FORWARD, status="400") == 3
            assert value(samples, "infobip_inbound_http_requests_total", route=FORWARD, status="413") == 1
            assert value(samples, "infobip_inbound_messages_total", outcome="accepted") == 200
            assert value(samples, "infobip_inbound_messages_total", outcome="duplicate") == 35
            assert value(samples, "infobip_inbound_rejected_total", reason="unauthorized") == 3
            assert value(samples, "infobip_inbound_rejected_total", reason="invalid_envelope") == 3
            assert value(samples, "infobip_inbound_forward_content_types_total", type="text/plain") == 1
            assert value(samples, "infobip_inbound_forward_content_types_total", type="missing") == 0
            assert value(samples, "infobip_inbound_rejected_total", reason="payload_too_large") == 1
            assert 1 <= value(samples, "infobip_inbound_enqueue_seconds_count") <= 55  # one per group commit
            assert value(samples, "infobip_inbound_commit_batch_messages_sum") == 235
            assert value(samples, "infobip_inbound_dlq_size", handler=FAILING) == len(failing)
            assert value(samples, "infobip_inbound_queue_depth", queue="infobip-inbound") == 0
            assert value(samples, "infobip_inbound_redis_up") == 1

        # Workers: both pool processes' counts on the pool's port.
        samples = scrape(worker_metrics)
        assert value(samples, "infobip_inbound_handled_total", handler="jsonl", outcome="ok") == ok_messages
        assert value(samples, "infobip_inbound_handled_total", handler="jsonl", outcome="failed") == 0
        assert value(samples, "infobip_inbound_handled_total", handler=FAILING, outcome="failed") == 2 * len(failing)
        assert value(samples, "infobip_inbound_handled_total", handler=FAILING, outcome="ok") == 0
        assert value(samples, "infobip_inbound_handler_duration_seconds_count", handler="jsonl") == ok_messages
        assert total(samples, "infobip_inbound_job_retries_total") == len(failing)  # one retry per failing pair
        assert value(samples, "infobip_inbound_dlq_size", handler=FAILING) == len(failing)
        assert value(samples, "infobip_inbound_queue_jobs", queue="infobip-inbound", state="failed") == 0
        assert value(samples, "infobip_inbound_workers_alive") == 2
        assert httpx.get(f"http://127.0.0.1:{health_port}/health/ready", timeout=5).status_code == 200
        live = httpx.get(f"http://127.0.0.1:{health_port}/health/live", timeout=5)
        assert live.status_code == 200

        # The status page, with the admin token as a Bearer token (the token must not reach any log).
        page = httpx.get(
            receiver.base_url + "/admin/status.json", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
        )
        assert page.status_code == 200
        assert page.json()["handlers"][FAILING]["dead_letters"] == len(failing)
    finally:
        worker.stop()
        receiver.stop()

    receiver_log, worker_log = receiver.log(), worker.log()
    # One line per request, with its request id; one line per handled (message, handler), with the request's id.
    requests = [line for line in json_lines(receiver_log) if line.get("message") == "forward request"]
    assert len(requests) == sum(sent.values())
    assert {line["request_id"] for line in requests} >= set(request_ids.values())
    assert all(isinstance(line["duration_ms"], float | int) for line in requests)
    handled = [line for line in json_lines(worker_log) if line.get("message") in {"handled", "handler failed"}]
    assert len(handled) == ok_messages + 2 * len(failing)
    for line in handled:
        assert line["request_id"] == request_ids[str(line["message_id"])], line
        assert line["application_code"] == "app-1"
        assert line["handler"] in {"jsonl", FAILING}
        assert line["outcome"] == ("ok" if line["handler"] == "jsonl" else "failed")
        assert "duration_ms" in line
    # Secrets: path token, Basic password, admin token, API key: none in any log line.
    for secret in (TOKEN, BASIC_PASSWORD, ADMIN_TOKEN, API_KEY):
        assert secret not in receiver_log
        assert secret not in worker_log
    assert "[redacted]" in receiver_log  # the X-Request-ID that carried the token
