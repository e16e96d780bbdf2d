"""Fuzz suite: property-based (hypothesis) and schema-based (schemathesis) requests against a real receiver
over HTTP. Every answer must be < 500, nothing may be queued except what a 200 answer counted, and the
process must still be healthy at the end. FUZZ_SCALE multiplies the case counts (CI: 1)."""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store.keys import QUARANTINE_INDEX, STATS_KEY
from infobip_inbound.receiver.edge.errors import REFUSALS
from infobip_inbound.receiver.openapi import openapi
from tests.metrics_support import scrape, value
from tests.support import ReceiverProcess, envelope, result

TOKEN = "fuzz-token-5d4c3b2a1f0e"
BASIC = "fuzz:basic-9a8b7c6d5e4f"
SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
PROPERTY_CASES = 2200 * SCALE  # per property test (four of them)
SCHEMA_CASES = 900 * SCALE  # per operation (five of them)
FAST = settings(
    max_examples=PROPERTY_CASES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)

# cases, 5xx, accepted and quarantined (sums of 200 answers' figures), refused:<reason>
tally: Counter[str] = Counter()


@pytest.fixture(scope="module")
def receiver(redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReceiverProcess]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    env = {
        "INBOUND_REDIS_URL": redis_server.url,
        "INBOUND_FORWARD_TOKENS": TOKEN,
        "INBOUND_FORWARD_BASIC_AUTH": BASIC,
        "INBOUND_DEFAULT_HANDLERS": '["log"]',
        "INBOUND_LOG_LEVEL": "WARNING",
        "INBOUND_MAX_BODY_BYTES": "65536",
    }
    process = ReceiverProcess(env, tmp_path_factory.mktemp("fuzz") / "receiver.log")
    process.start()
    yield process
    try:
        assert httpx.get(process.base_url + "/health/ready", timeout=5).status_code == 200
        assert process.process is not None and process.process.poll() is None
        stored = int(client.hget(STATS_KEY, "accepted") or 0)
        print(
            f"\nFUZZ cases={tally['cases']} answers>=500={tally['5xx']} "
            f"accepted_by_200={tally['accepted']} stored={stored} statuses={dict(sorted(tally.items()))}"
        )
        assert stored == tally["accepted"], "something was queued that no 200 answer counted"
        if tally["quarantined"]:
            assert 0 < int(client.zcard(QUARANTINE_INDEX)) <= tally["quarantined"]
        # Every refusal the clients saw is counted under the reason its answer named, and nothing else is.
        samples = scrape(process.base_url + "/metrics")
        for reason in REFUSALS:
            assert value(samples, "infobip_inbound_rejected_total", reason=reason) == tally[f"refused:{reason}"], reason
        assert tally["5xx"] == 0
        assert tally["cases"] >= 10_000 * SCALE or os.environ.get("FUZZ_ALLOW_FEWER")
        log = Path(process.log_path).read_text(errors="replace")
        assert TOKEN not in log and "basic-9a8b7c6d" not in log
    finally:
        process.stop()
        client.close()


@pytest.fixture(scope="module")
def http(receiver: ReceiverProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=receiver.base_url, timeout=10) as client:
        yield client


def count_refusal(path: str, status: int, answer: Any) -> None:
    if path.startswith("/infobip/forward") and 400 <= status < 600:
        code = answer.json().get("error")
        if code in REFUSALS:
            tally[f"refused:{code}"] += 1


def count(answer: httpx.Response) -> None:
    tally["cases"] += 1
    count_refusal(answer.request.url.path, answer.status_code, answer)
    tally[f"status_{answer.status_code}"] += 1
    if answer.status_code >= 500:
        tally["5xx"] += 1
    if answer.status_code == 200 and answer.request.url.path.startswith("/infobip/forward"):
        count_stored(answer.request.content, answer.json())
    assert answer.status_code < 500, answer.text


def count_stored(request_body: bytes, answer: dict[str, int]) -> None:
    """A 200 answer: every result of the request is queued, a duplicate, or quarantined (counts equal)."""
    tally["accepted"] += answer["accepted"]
    tally["quarantined"] += answer["quarantined"]
    results = json.loads(request_body)["results"]
    assert answer["accepted"] + answer["duplicates"] + answer["quarantined"] == len(results), (answer, results)


# Hypothesis: bodies, headers and content types, valid and broken.

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)
FIELDS = ["messageId", "from", "to", "applicationCode", "receivedAt", "text", "cleanText", "customPayload", "keyword"]


@st.composite
def mutated_envelopes(draw: st.DrawFn) -> bytes:
    results = []
    for index in range(draw(st.integers(0, 4))):
        item: dict[str, Any] = result(f"fz-{draw(st.uuids()).hex}-{index}")
        for field in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
            if draw(st.booleans()):
                item.pop(field, None)
            else:
                item[field] = draw(json_values)
        results.append(item)
    body: Any = envelope(*results)
    if draw(st.integers(0, 9)) == 0:
        body = draw(json_values)
    raw = json.dumps(body).encode()  # stdlib: integers beyond 64 bits too
    cut = draw(st.integers(0, 20))
    return raw[: len(raw) - cut] if cut > 15 else raw


CONTENT_TYPES = [
    *("application/json", "application/json; charset=utf-8", "application/vnd.x+json", "APPLICATION/JSON"),
    *("text/plain", "", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"),
]


@FAST
@given(body=mutated_envelopes(), content_type=st.sampled_from(CONTENT_TYPES))
def test_mutated_envelopes(http: httpx.Client, body: bytes, content_type: str) -> None:
    count(http.post(f"/infobip/forward/{TOKEN}", content=body, headers={"Content-Type": content_type}))


@FAST
@given(body=st.binary(max_size=2000))
def test_arbitrary_bytes(http: httpx.Client, body: bytes) -> None:
    count(http.post(f"/infobip/forward/{TOKEN}", content=body, headers={"Content-Type": "application/json"}))


# Header values the client library will send (no leading/trailing blanks, printable ASCII).
header_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60)


@FAST
@given(
    token=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#%"), min_size=1, max_size=40
    )
    | st.just(TOKEN),
    authorization=st.none() | header_text | st.just("Basic " + base64.b64encode(BASIC.encode()).decode()),
    forwarded=st.none() | header_text,
    basic_path=st.booleans(),
)
def test_credentials_and_headers(
    http: httpx.Client, token: str, authorization: str | None, forwarded: str | None, basic_path: bool
) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    path = "/infobip/forward" if basic_path else f"/infobip/forward/{token}"
    count(http.post(path, content=b'{"results": []}', headers=headers))


@FAST
@given(depth=st.integers(1, 3000), kind=st.sampled_from(["[", "{"]), where=st.sampled_from(["payload", "extra"]))
def test_deep_nesting(http: httpx.Client, depth: int, kind: str, where: str) -> None:
    opening, closing = (b"[" * depth, b"]" * depth) if kind == "[" else (b'{"a":' * depth, b"}" * depth)
    inner = opening + b"1" + closing
    item = orjson.dumps(result(f"deep-{depth}-{kind}-{where}"))[:-1]
    field = b'"customPayload":{"x":' + inner + b"}" if where == "payload" else b'"newField":' + inner
    body = b'{"results":[' + item + b"," + field + b"}]}"
    count(http.post(f"/infobip/forward/{TOKEN}", content=body, headers={"Content-Type": "application/json"}))


# Schemathesis: cases generated from the OpenAPI description the receiver serves (the same document).

schema = schemathesis.openapi.from_dict(openapi(load_settings(forward_tokens=TOKEN)))
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=SCHEMA_CASES, deterministic=True
)


@schema.parametrize()
@settings(max_examples=SCHEMA_CASES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_schema(case: schemathesis.Case, receiver: ReceiverProcess) -> None:
    if case.path_parameters and "token" in case.path_parameters and tally["cases"] % 2:
        case.path_parameters["token"] = TOKEN  # half the token cases carry the right one
    headers = {}
    if case.path == "/infobip/forward" and tally["cases"] % 3:
        headers["Authorization"] = "Basic " + base64.b64encode(BASIC.encode()).decode()
    response = case.call(base_url=receiver.base_url, headers=headers, timeout=10)
    tally["cases"] += 1
    tally[f"status_{response.status_code}"] += 1
    if case.method.upper() == "POST":
        count_refusal(case.path, response.status_code, response)
    if response.status_code >= 500:
        tally["5xx"] += 1
    if response.status_code == 200 and case.path.startswith("/infobip/forward"):
        count_stored(response.request.body or b"", response.json())
    assert response.status_code < 500, response.text
