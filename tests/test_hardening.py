"""Forward endpoint hardening over real HTTP: allowlist behind proxies, rate limit, nesting limits,
security headers, JSON errors without internals, redacted logs, Redis outage answers, the OpenAPI description."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
import redis
from starlette.types import Receive, Scope, Send

from infobip_inbound.receiver.edge import harden as Hardening
from infobip_inbound.receiver.edge.allowlist import Allowlist
from infobip_inbound.receiver.edge.client_address import ClientAddress
from infobip_inbound.receiver.edge.errors import REFUSALS
from infobip_inbound.receiver.edge.rate_limit import RateLimiter
from infobip_inbound.shell.redis_server import RedisServer
from tests.conftest import TOKEN
from tests.metrics_support import scrape, total, value
from tests.support import ReceiverProcess, envelope, result, wait_until

StartReceiver = Callable[[dict[str, str]], ReceiverProcess]
JSON = {"Content-Type": "application/json"}
PATH = f"/infobip/forward/{TOKEN}"


def post(
    receiver: ReceiverProcess, body: object, path: str = PATH, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(receiver.base_url + path, content=content, headers={**JSON, **(headers or {})}, timeout=10)


def scope(peer: str, forwarded: str | None = None) -> dict[str, object]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"client": (peer, 1234), "headers": headers}


def test_client_address_trusts_only_the_configured_proxies() -> None:
    assert ClientAddress(0)(scope("10.0.0.1", "6.6.6.6")) == "10.0.0.1"  # no proxies: the header is ignored
    assert ClientAddress(1)(scope("10.0.0.1", "6.6.6.6, 1.2.3.4")) == "1.2.3.4"  # forged entry on the left
    assert ClientAddress(2)(scope("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.1")) == "1.2.3.4"
    assert ClientAddress(2)(scope("10.0.0.2", "1.2.3.4")) == "10.0.0.2"  # skipped a proxy: judged by its peer
    allow = Allowlist(["1.2.3.0/24", "2001:db8::/32"])
    assert allow.allows("1.2.3.4") and allow.allows("::ffff:1.2.3.9") and allow.allows("2001:db8::1")
    assert not allow.allows("1.2.4.1") and not allow.allows("garbage") and not allow.allows("")


def test_rate_limiter_refills_and_forgets_old_clients() -> None:
    limiter = RateLimiter(per_second=2, burst=3, max_clients=2)
    assert [limiter.allow("a", now=0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("a", now=0.5)  # one token back after half a second
    assert not limiter.allow("a", now=0.5)
    limiter.allow("b", now=1)
    limiter.allow("c", now=1)  # table full: "a" is forgotten and starts over
    assert limiter.allow("a", now=1)


def test_allowlist_behind_a_proxy(start_receiver: StartReceiver, base_env: dict[str, str]) -> None:
    receiver = start_receiver(
        {**base_env, "INBOUND_FORWARD_ALLOWED_CIDRS": "1.2.3.0/24", "INBOUND_TRUSTED_PROXIES": "1"}
    )
    body = envelope(result("al1"))
    assert post(receiver, body, headers={"X-Forwarded-For": "1.2.3.4"}).status_code == 200
    refused = post(receiver, body, headers={"X-Forwarded-For": "1.2.3.4, 9.9.9.9"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert post(receiver, body).status_code == 403  # no header: judged by the peer (127.0.0.1)
    assert httpx.get(receiver.base_url + "/health/live").status_code == 200  # probes are not restricted


def test_rate_limit_answers_429(start_receiver: StartReceiver, base_env: dict[str, str]) -> None:
    receiver = start_receiver({**base_env, "INBOUND_RATE_LIMIT_PER_SECOND": "0.5", "INBOUND_RATE_LIMIT_BURST": "3"})
    answers = [post(receiver, envelope(result(f"rl{i}"))) for i in range(6)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and limited[0].headers["retry-after"] == "2"
    assert limited[0].json()["error"] == "too_many_requests"


def test_nesting_and_size_limits(start_receiver: StartReceiver, base_env: dict[str, str]) -> None:
    receiver = start_receiver({**base_env, "INBOUND_MAX_JSON_DEPTH": "8", "INBOUND_MAX_RESULTS": "5"})
    deep: object = 1
    for _ in range(7):
        deep = {"a": deep}
    too_deep = post(receiver, envelope(result("n1", customPayload=deep)))
    assert too_deep.status_code == 400 and too_deep.json()["error"] == "too_deep"
    extra_deep = post(receiver, envelope(result("n2", somethingNew=[[[[[[[1]]]]]]])))
    assert extra_deep.status_code == 400
    very_deep = b'{"results": [], "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert post(receiver, very_deep).status_code == 400
    assert post(receiver, envelope(*(result(f"n{i}") for i in range(6)))).status_code == 413
    assert post(receiver, envelope(result("n9", customPayload={"a": {"b": {"c": 1}}}))).status_code == 200


def test_errors_are_json_with_security_headers_and_no_internals(
    start_receiver: StartReceiver, base_env: dict[str, str]
) -> None:
    receiver = start_receiver(base_env)
    answers = [
        post(receiver, b"{not json"),
        post(receiver, envelope(result("e1")), path="/infobip/forward/wrong"),
        httpx.get(receiver.base_url + "/nope"),
        httpx.get(receiver.base_url + PATH),  # wrong method
        httpx.post(receiver.base_url + PATH, content=b"x", headers={"Content-Type": "text/plain"}),
        post(receiver, envelope(result("e2"))),
    ]
    assert [a.status_code for a in answers] == [400, 401, 404, 405, 400, 200]
    for answer in answers:
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"
        assert "content-security-policy" in answer.headers
        assert "Traceback" not in answer.text and "File " not in answer.text and ".py" not in answer.text
        assert "server" not in answer.headers


def test_redis_outage_is_503_then_recovers(
    start_receiver: StartReceiver, base_env: dict[str, str], tmp_path: Path
) -> None:
    server = RedisServer(data_dir=tmp_path / "redis")
    server.start()
    try:
        receiver = start_receiver({**base_env, "INBOUND_REDIS_URL": server.url, "INBOUND_REDIS_SOCKET_TIMEOUT": "1"})
        assert post(receiver, envelope(result("o1"))).status_code == 200
        server.stop()
        down = post(receiver, envelope(result("o2")))
        assert down.status_code == 503 and down.headers["retry-after"] == "5"
        assert "Error" not in down.text
        assert httpx.get(receiver.base_url + "/health/ready").status_code == 503
        server.start()
        wait_until(lambda: post(receiver, envelope(result("o2"))).status_code == 200, timeout=30, interval=0.2)
        assert httpx.get(receiver.base_url + "/health/ready").status_code == 200
    finally:
        server.cleanup()


def test_credentials_never_reach_the_logs(start_receiver: StartReceiver, base_env: dict[str, str]) -> None:
    basic = "infobip:basic-secret-8c1f2e"
    wrong_token = "wrong-token-4be3a1d9c7"
    wrong_basic = "mallory:guessed-password-77"
    api_key = "api-key-3f9e8d7c6b5a"
    receiver = start_receiver(
        {
            **base_env,
            "INBOUND_FORWARD_BASIC_AUTH": basic,
            "INBOUND_INFOBIP_API_KEY": api_key,
            "INBOUND_LOG_LEVEL": "DEBUG",
            "INBOUND_REDIS_URL": base_env["INBOUND_REDIS_URL"],
        }
    )
    encode = lambda pair: "Basic " + base64.b64encode(pair.encode()).decode()  # noqa: E731
    post(receiver, envelope(result("c1")))
    post(receiver, envelope(result("c2")), path="/infobip/forward", headers={"Authorization": encode(basic)})
    post(receiver, envelope(result("c3")), path="/infobip/forward", headers={"Authorization": encode(wrong_basic)})
    post(receiver, envelope(result("c4")), path=f"/infobip/forward/{wrong_token}")
    post(receiver, b"{broken", path=f"/infobip/forward/{wrong_token}")
    httpx.get(receiver.base_url + f"/infobip/forward/{wrong_token}")
    receiver.stop()
    log = receiver.log()
    assert "forward request" in log
    encoded = [base64.b64encode(pair.encode()).decode() for pair in (basic, wrong_basic)]
    for secret in [TOKEN, basic, basic.split(":")[1], wrong_token, api_key, "guessed-password-77", *encoded]:
        assert secret not in log


def test_openapi_description(start_receiver: StartReceiver, base_env: dict[str, str]) -> None:
    receiver = start_receiver(base_env)
    spec = httpx.get(receiver.base_url + "/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) >= {"/infobip/forward/{token}", "/infobip/forward", "/health/ready"}
    envelope_schema = spec["components"]["schemas"]["InfobipEnvelope"]
    assert "results" in envelope_schema["required"]


@pytest.mark.parametrize("path", ["/infobip/forward", PATH])
def test_values_that_cannot_be_stored_are_quarantined(
    start_receiver: StartReceiver, base_env: dict[str, str], redis_client: redis.Redis, path: str
) -> None:
    from infobip_inbound.contract.store import quarantine

    # A number beyond 64 bits validates, but cannot be encoded for the queue: that result is set aside.
    receiver = start_receiver({**base_env, "INBOUND_AUTH_DISABLED": "true"})
    body = orjson.dumps(envelope(result("u1", customPayload={"n": 1}), result("u2"))).replace(
        b'"n":1', b'"n":' + b"9" * 40
    )
    answer = post(receiver, body, path=path)
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 1, "duplicates": 0, "quarantined": 1}
    (entry,) = quarantine.select(redis_client)
    assert entry.message_id == "u1" and "9" * 40 in entry.raw
    assert httpx.get(receiver.base_url + "/health/live").status_code == 200


def test_our_own_faults_are_json_500_without_details() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("secret internal detail at /srv/app.py")

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=Hardening(broken))
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
            return await client.post("/infobip/forward/x", content=b"{}")

    answer = asyncio.run(call())
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal_error", "message": "the request could not be processed"}
    assert "secret" not in answer.text and answer.headers["x-frame-options"] == "DENY"


def test_every_refusal_is_counted_under_its_own_reason(
    start_receiver: StartReceiver, base_env: dict[str, str], tmp_path: Path
) -> None:
    server = RedisServer(data_dir=tmp_path / "redis")
    server.start()
    try:
        receiver = start_receiver(
            {
                **base_env,
                "INBOUND_REDIS_URL": server.url,
                "INBOUND_REDIS_SOCKET_TIMEOUT": "1",
                "INBOUND_FORWARD_ALLOWED_CIDRS": "1.2.3.0/24",
                "INBOUND_TRUSTED_PROXIES": "1",
                "INBOUND_RATE_LIMIT_PER_SECOND": "0.01",
                "INBOUND_RATE_LIMIT_BURST": "3",
                "INBOUND_MAX_JSON_DEPTH": "8",
                "INBOUND_MAX_RESULTS": "5",
                "INBOUND_MAX_BODY_BYTES": "20000",
            }
        )
        metrics = receiver.base_url + "/metrics"
        before = scrape(metrics)
        # Every reason is there from the start, at 0, and no other.
        reasons = {dict(labels)["reason"] for name, labels in before if name == "infobip_inbound_rejected_total"}
        assert reasons == set(REFUSALS)
        assert total(before, "infobip_inbound_rejected_total") == 0

        clients = iter(range(1, 200))

        def send(body: object, path: str = PATH, client: str | None = None, **headers: str) -> httpx.Response:
            # Each request from its own allowed address, so that only the rate-limited client hits its limit.
            forwarded = client or f"1.2.3.{next(clients)}"
            return post(receiver, body, path=path, headers={"X-Forwarded-For": forwarded, **headers})

        deep: object = 1
        for _ in range(7):
            deep = {"a": deep}
        sent: dict[str, list[httpx.Response]] = {
            "forbidden": [send(envelope(result("r1")), client="9.9.9.9")],
            "unauthorized": [send(envelope(result("r2")), path="/infobip/forward/wrong")],
            "payload_too_large": [send(b"[" + b" " * 30_000 + b"]")],
            "invalid_envelope": [send(b"{not json"), send(b'{"results": {"messageId": 5}}')],
            "too_deep": [
                send(envelope(result("r3", customPayload=deep))),
                send(b'{"results": [], "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"),  # past the parser's own limit
            ],
            "too_many_results": [send(envelope(*(result(f"r4-{i}") for i in range(6))))],
        }
        limited = [send(envelope(result(f"r5-{i}")), client="1.2.3.250") for i in range(4)]
        assert [a.status_code for a in limited] == [200, 200, 200, 429]
        sent["too_many_requests"] = limited[3:]
        assert send(envelope(result("r6"))).status_code == 200
        server.stop()
        sent["unavailable"] = [send(envelope(result("r7")))]

        for reason, answers in sent.items():
            for answer in answers:
                assert answer.status_code == REFUSALS[reason], (reason, answer.text)
                assert answer.json()["error"] == reason
        after = scrape(metrics)
        for reason in REFUSALS:
            assert value(after, "infobip_inbound_rejected_total", reason=reason) == len(sent[reason]), reason
        assert value(after, "infobip_inbound_http_requests_total", route="/infobip/forward", status="200") == 4
    finally:
        server.cleanup()
