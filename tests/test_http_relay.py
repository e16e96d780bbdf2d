"""`http_relay`: signed per Standard Webhooks (checked by the `standardwebhooks` package) against a real local
endpoint; what each answer makes the worker do; every message delivered across a worker SIGKILL."""

from __future__ import annotations

import base64
import signal
import time
from pathlib import Path

import pytest

from infobip_inbound.contract.settings import ConfigError, Settings, load_settings
from infobip_inbound.testing import run_handler, user_response
from infobip_inbound.workers.http_relay import retry_after_seconds
from tests.support import Role, result, wait_until
from tests.test_worker import put
from tests.webhook_endpoint import WebhookEndpoint

OLD = "whsec_" + base64.b64encode(b"old-key-0123456789abcdef").decode()
NEW = "whsec_" + base64.b64encode(b"new-key-0123456789abcdef").decode()
OTHER = "whsec_" + base64.b64encode(b"someone-else-0123456789").decode()


def relay_settings(url: str, *secrets: str) -> Settings:
    return load_settings(http_relay={"url": url, "secrets": ",".join(secrets), "timeout_seconds": 5})


def test_each_post_verifies_with_every_configured_key_and_keeps_its_id_across_tries() -> None:
    with WebhookEndpoint([OLD, NEW, OTHER]) as endpoint:
        settings = relay_settings(endpoint.url, OLD, NEW)
        for try_number in (1, 2):
            run = run_handler("http_relay", user_response("m-1"), settings=settings, try_number=try_number)
            assert run.outcome == "handled"
        run_handler("http_relay", user_response("m-2"), settings=settings)
    first, second, third = endpoint.deliveries
    assert first.verified_by == (True, True, False)  # during a rotation the receiver may hold either key
    assert first.webhook_id == second.webhook_id != third.webhook_id
    assert (first.message_id, third.message_id) == ("m-1", "m-2")


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "not_before"),
    [
        (503, {"retry-after": "30"}, "retry", 30.0),
        (429, {}, "retry", 0.0),
        (408, {}, "retry", 0.0),
        (500, {"retry-after": "soon"}, "retry", 0.0),
        (400, {}, "dead_letter", 0.0),
        (410, {"retry-after": "30"}, "dead_letter", 0.0),
        (302, {"location": "http://127.0.0.1:1/"}, "dead_letter", 0.0),
    ],
)
def test_answers_decide_retry_or_dead_letter(
    status: int, headers: dict[str, str], outcome: str, not_before: float
) -> None:
    with WebhookEndpoint([OLD], [(status, headers)]) as endpoint:
        run = run_handler("http_relay", user_response(), settings=relay_settings(endpoint.url, OLD))
    assert (run.outcome, run.not_before_seconds) == (outcome, not_before)
    assert str(status) in str(run.error)


def test_retry_after_as_an_http_date_and_an_unreachable_endpoint() -> None:
    now = time.time()
    assert 59 <= retry_after_seconds(time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 60)), now) <= 60
    run = run_handler("http_relay", user_response(), settings=relay_settings("http://127.0.0.1:9/hooks", OLD))
    assert run.outcome == "retry"  # refused connection: retried with the backoff


def test_settings_refuse_a_secret_that_is_not_base64_and_the_handler_needs_its_url() -> None:
    with pytest.raises(ConfigError, match="INBOUND_HTTP_RELAY__SECRETS"):
        load_settings(http_relay={"secrets": "whsec_not base64!"})
    with pytest.raises(ValueError, match="INBOUND_HTTP_RELAY__URL"):
        run_handler("http_relay", user_response(), settings=load_settings())


def test_every_message_reaches_the_endpoint_signed_across_a_worker_kill(
    start_worker: object, base_env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    ids = [f"w{i}" for i in range(40)]
    with WebhookEndpoint([NEW], pause=0.1) as endpoint:
        env = {
            **base_env,
            "INBOUND_DEFAULT_HANDLERS": '["http_relay"]',
            "INBOUND_HTTP_RELAY__URL": endpoint.url,
            "INBOUND_HTTP_RELAY__SECRETS": NEW,
            "INBOUND_WORKER_CLAIM_MAX": "5",
        }
        put(load_settings(redis_url=redis_url), *(result(i) for i in ids))
        worker: Role = start_worker(env)  # type: ignore[operator]
        wait_until(lambda: len(endpoint.message_ids()) >= 5, timeout=60)
        assert worker.process is not None
        worker.process.send_signal(signal.SIGKILL)  # while relays are in flight
        assert worker.process.wait(timeout=30) == -signal.SIGKILL
        print(f"{len(endpoint.message_ids())} of {len(ids)} delivered at the kill")
        start_worker(env)  # type: ignore[operator]
        wait_until(lambda: endpoint.message_ids() >= set(ids), timeout=60, interval=0.1)
    assert endpoint.message_ids() == set(ids)
    assert all(delivery.verified_by == (True,) for delivery in endpoint.deliveries)


def test_relay_secrets_are_redacted_from_logs() -> None:
    from infobip_inbound.runtime.logs import secrets_of

    secrets = secrets_of(load_settings(http_relay={"secrets": f"{OLD},{NEW}"}))
    assert {OLD, NEW, OLD.removeprefix("whsec_")} <= set(secrets)


def test_an_answer_or_a_failed_connection_never_shows_the_urls_credentials_or_query() -> None:
    with WebhookEndpoint([OLD], [(400, {})]) as endpoint:
        url = endpoint.url.replace("http://", "http://relay-user:pass-5b1e9@") + "?key=query-key-77c2"
        run = run_handler("http_relay", user_response(), settings=relay_settings(url, OLD))
    refused = run_handler(
        "http_relay",
        user_response(),
        settings=relay_settings("http://u:pass-5b1e9@127.0.0.1:9/h?key=query-key-77c2", OLD),
    )
    for outcome in (run, refused):
        shown = f"{outcome.error!r} {outcome.error}"
        assert "pass-5b1e9" not in shown
        assert "query-key-77c2" not in shown
    assert (run.outcome, refused.outcome) == ("dead_letter", "retry")
    assert "127.0.0.1" in str(run.error)
