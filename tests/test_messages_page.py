"""The receiver's admin message look-up (/admin/messages…) against a real Redis: messages archived by really
posting them to a real receiver (and by the poller's enqueue for a pulled one), handler events written as the
workers write them; the pages read over HTTP and in a real browser."""

from __future__ import annotations

import base64
import re
import subprocess
import time
from collections.abc import Callable
from html import unescape
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store import archive
from infobip_inbound.infobip.envelope import normalize, read_envelope
from infobip_inbound.receiver.enqueue import InboxWriter, enqueue_now
from tests.support import ROOT, ReceiverProcess, envelope, forward, headless_chromium, result

ADMIN_TOKEN = "messages-admin-token-7f3a"
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PAYING = "tests.handlers:always_fail"
ARTIFACTS = ROOT / "test-artifacts"
HOSTILE = '<script>alert("owned")</script><img src=x onerror=alert(1)>'


def get(receiver: ReceiverProcess, path: str, **params: str) -> httpx.Response:
    return httpx.get(receiver.base_url + path, params=params, headers=BEARER, timeout=30)


def found(receiver: ReceiverProcess, **params: str) -> list[str]:
    answer = get(receiver, "/admin/messages.json", **params)
    assert answer.status_code == 200, answer.text
    return [message["message_id"] for message in answer.json()["messages"]]


def text_of(html: str) -> str:
    """A page's text as a reader sees it: tags out, entities read, white space collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
def env(base_env: dict[str, str]) -> dict[str, str]:
    routes = [{"name": "payments", "match": {"keyword": ["PAY"]}, "handlers": [PAYING], "queue": "payments"}]
    return {**base_env, "INBOUND_ROUTES": orjson.dumps(routes).decode(), "INBOUND_ADMIN_TOKENS": ADMIN_TOKEN}


@pytest.fixture
def receiver(
    env: dict[str, str], redis_url: str, redis_client: redis.Redis, start_receiver: Callable[..., ReceiverProcess]
) -> ReceiverProcess:
    """A receiver whose archive holds five messages by forward, one by pull, one quarantine-only id, and the
    handler events of a payment that failed, was dead-lettered, redriven, replayed and at last handled."""
    started = start_receiver(env)
    assert forward(started, result("m-plain-1"), result("m-plain-2", bulkId="bulk-7")) == {
        "accepted": 2,
        "duplicates": 0,
        "quarantined": 0,
    }
    forward(started, result("m-pay", keyword="PAY", text="PAY 12.50", applicationCode="app-2", bulkId="bulk-7"))
    assert forward(started, result("m-plain-1"))["duplicates"] == 1  # delivered again: told in its journey
    forward(started, result("m-hostile", text=HOSTILE, keyword="<b>", customPayload={"note": HOSTILE}))
    # A result that cannot be read (no applicationCode), quarantined under its id; then one readable.
    bad = {"messageId": "m-quarantined", "text": "no application"}
    assert forward(started, bad, result("m-plain-3")) == {"accepted": 1, "duplicates": 0, "quarantined": 1}
    settings = load_settings(redis_url=redis_url, routes=orjson.loads(env["INBOUND_ROUTES"]))
    pulled = normalize(
        read_envelope(orjson.dumps(envelope(result("m-pulled", applicationCode="app-2")))), "pull"
    ).responses
    assert enqueue_now(redis_client, InboxWriter(settings), Router.from_settings(settings), pulled).accepted == 1

    # What the workers append, in their own words (infobip_inbound.workers), one second apart.
    later = time.time() + 1
    story = [
        ("m-pay", archive.handler_line(PAYING, archive.RETRYING, 1, "in 5 s: ValueError: card declined", later)),
        ("m-pay", archive.handler_line(PAYING, archive.DEAD, 2, "dl-4711: ValueError: card declined", later + 1)),
        ("m-pay", archive.handler_line(PAYING, archive.REDRIVEN, 0, at=later + 2)),
        ("m-pay", archive.handler_line(PAYING, archive.REPLAY, 0, "replay-9", later + 3)),
        ("m-pay", archive.handler_line(PAYING, archive.HANDLED, 1, at=later + 4)),
        ("m-plain-1", archive.handler_line("jsonl", archive.HANDLED, 1, at=later)),
        ("m-plain-2", archive.handler_line("crm", archive.HELD, 1, "paused", later)),  # set aside in its lane
        ("m-hostile", archive.handler_line("jsonl", archive.DEAD, 1, f"dl-1: {HOSTILE}", later)),
    ]
    pipe = redis_client.pipeline()
    for message_id, line in story:
        archive.note(pipe, settings, message_id, line)
    pipe.execute()
    return started


def test_the_search_finds_by_id_and_by_filters(receiver: ReceiverProcess) -> None:
    everything = found(receiver)
    assert set(everything) == {"m-plain-1", "m-plain-2", "m-plain-3", "m-pay", "m-hostile", "m-pulled", "m-quarantined"}
    assert everything[0] == "m-pulled"  # newest first: it was the last accepted
    assert found(receiver, id="m-pay") == ["m-pay"]
    assert found(receiver, id="m-pay", application="app-1") == []  # the filters beside an id hold too
    assert found(receiver, id="m-unknown") == []
    assert set(found(receiver, application="app-2")) == {"m-pay", "m-pulled"}
    assert found(receiver, keyword="pay") == ["m-pay"]
    assert set(found(receiver, bulk_id="bulk-7")) == {"m-pay", "m-plain-2"}
    assert found(receiver, source="pull") == ["m-pulled"]
    assert found(receiver, outcome="dead") == ["m-hostile"]  # m-pay's last outcome is handled
    assert set(found(receiver, outcome="handled")) == {"m-pay", "m-plain-1"}
    assert found(receiver, outcome="handled", handler=PAYING) == ["m-pay"]
    assert found(receiver, outcome="quarantined") == ["m-quarantined"]
    assert set(found(receiver, outcome="pending")) == {"m-plain-3", "m-pulled"}
    assert found(receiver, outcome="held") == ["m-plain-2"]  # its handler's pairs wait in their lane
    assert set(found(receiver, newer="1h")) == set(everything)
    assert found(receiver, newer="0s") == []  # every one was accepted before this request
    assert found(receiver, newer_than="0s") == [] and set(found(receiver, newer_than="1h")) == set(everything)

    page = get(receiver, "/admin/messages.json", limit="2").json()
    assert (len(page["messages"]), page["more"], page["limit"]) == (2, True, 2)
    assert page["archive"]["messages"] == 7
    assert not get(receiver, "/admin/messages.json", limit="7").json()["more"]

    html = get(receiver, "/admin/messages", application="app-2", limit="1")
    assert html.status_code == 200
    assert "default-src 'none'" in html.headers["content-security-policy"]
    assert '<a href="/admin/messages/m-pulled">m-pulled</a>' in html.text
    assert "m-pay" not in html.text
    assert 'href="/admin/messages?application=app-2&amp;limit=2">more</a>' in html.text
    assert 'value="app-2"' in html.text  # the form keeps what was asked

    for bad in (
        {"outcome": "lost"},
        {"source": "fax"},
        {"newer": "soon"},
        {"newer_than": "soon"},
        {"limit": "0"},
        {"handler": "jsonl"},
        {"outcome_of": "jsonl"},
    ):
        assert get(receiver, "/admin/messages.json", **bad).status_code == 400
        refused = get(receiver, "/admin/messages", **bad)
        assert refused.status_code == 400 and 'id="problems"' in refused.text

    status = get(receiver, "/admin/status")
    assert 'form id="lookup"' in status.text and 'action="/admin/messages"' in status.text
    assert "form-action 'self'" in status.headers["content-security-policy"]


def test_the_message_page_tells_the_story(receiver: ReceiverProcess) -> None:
    page = get(receiver, "/admin/messages/m-pay")
    assert page.status_code == 200
    text = text_of(page.text)
    for line in (
        "Message m-pay",
        "queue payments",
        "accepted and queued on payments",
        f"{PAYING} failed try 1; retrying in 5 s ValueError: card declined",
        f"{PAYING} failed try 2 for good; dead-lettered as dl-4711 ValueError: card declined",
        f"taken from the dead-letter store for {PAYING} and queued again (dlq retry)",
        f"queued again for {PAYING} by replay replay-9",
        f"{PAYING} handled it (try 1)",
        "text PAY 12.50",
        "bulk_id bulk-7",
        "source forward",
    ):
        assert line in text, line
    journey = text[text.index("Journey") : text.index("Handlers")]
    kinds = re.findall(r"UTC (accepted|retrying|dead|redriven|replay|handled) ", journey)
    assert kinds == ["accepted", "retrying", "dead", "redriven", "replay", "handled"]
    request_id = re.search(r"request id (\S+)", text)
    assert request_id is not None and request_id.group(1) != "-"

    twin = get(receiver, "/admin/messages/m-pay.json").json()
    assert twin["queue"] == "payments" and twin["request_id"] == request_id.group(1)
    assert twin["outcomes"] == {PAYING: "handled"}
    assert [event["kind"] for event in twin["events"]] == kinds
    assert twin["response"]["text"] == "PAY 12.50"

    quarantined = text_of(get(receiver, "/admin/messages/m-quarantined").text)
    assert "a result with this id was quarantined as entry" in quarantined
    assert "applicationCode: Field required" in quarantined
    assert "not accepted: only its quarantine is archived" in quarantined
    assert "pending" in text_of(get(receiver, "/admin/messages", id="m-plain-2").text)

    missing = get(receiver, "/admin/messages/m-never")
    assert missing.status_code == 404
    assert "Not in the archive" in missing.text and "m-never" in missing.text
    missing_json = get(receiver, "/admin/messages/m-never.json")
    assert missing_json.status_code == 404 and missing_json.json()["error"] == "not_found"


def test_fields_from_outside_render_inert(receiver: ReceiverProcess) -> None:
    pages = [
        get(receiver, "/admin/messages/m-hostile").text,
        get(receiver, "/admin/messages", outcome="dead").text,
        get(receiver, "/admin/messages", keyword="<b>").text,
    ]
    for html in pages:
        assert "<script" not in html  # these pages carry no script at all: any would be the message's
        assert "<img" not in html and "<b></td>" not in html
        assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in html
    assert "m-hostile" in pages[2]  # the keyword filter took the raw text, not its escaped form
    shown = text_of(pages[0])
    assert shown.count(HOSTILE) == 2  # the text, the dead letter's error
    assert shown.count("<img src=x onerror=alert(1)>") == 3  # and the custom payload, as JSON


def test_an_unauthenticated_request_is_refused(receiver: ReceiverProcess) -> None:
    paths = ["/admin/messages", "/admin/messages.json", "/admin/messages/m-pay", "/admin/messages/m-pay.json"]
    basic = "Basic " + base64.b64encode(f"ops:{ADMIN_TOKEN}".encode()).decode()
    for path in paths:
        url = receiver.base_url + path
        refused = httpx.get(url, timeout=10)
        assert refused.status_code == 401 and "m-pay" not in refused.text
        assert refused.headers["www-authenticate"].startswith("Basic")
        assert httpx.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
        assert httpx.get(url, headers={"Authorization": basic}, timeout=10).status_code == 200


def test_without_admin_tokens_the_look_up_is_not_served(
    base_env: dict[str, str], start_receiver: Callable[..., ReceiverProcess]
) -> None:
    receiver = start_receiver(base_env)
    forward(receiver, result("m-1"))
    for path in ("/admin/messages", "/admin/messages/m-1.json"):
        assert httpx.get(receiver.base_url + path, headers=BEARER, timeout=10).status_code == 404


def test_in_a_browser_the_search_leads_to_the_message(receiver: ReceiverProcess, tmp_path: Path) -> None:
    browser = headless_chromium(tmp_path / "chromium", "--window-size=1280,900")
    authed = receiver.base_url.replace("http://", f"http://ops:{ADMIN_TOKEN}@")

    def dom(url: str) -> str:
        done = subprocess.run([*browser, "--dump-dom", url], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def screenshot(url: str, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        path.unlink(missing_ok=True)
        done = subprocess.run([*browser, f"--screenshot={path}", url], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        return path

    search = f"{authed}/admin/messages?bulk_id=bulk-7&keyword=PAY"
    listed = dom(search)
    assert "1 message, newest first" in listed
    screenshot(search, "messages-search.png")
    # Follow the result's link as the browser rendered it.
    link = re.search(r'<a href="(/admin/messages/[^"]+)">m-pay</a>', listed)
    assert link is not None
    message_url = authed + link.group(1)
    shown = text_of(dom(message_url))
    assert "Message m-pay" in shown
    assert f"{PAYING} failed try 2 for good; dead-lettered as dl-4711" in shown
    assert f"{PAYING} handled it (try 1)" in shown
    assert screenshot(message_url, "message-page.png").stat().st_size > 10_000
    # A paused handler's hold, and a duplicate delivery, as the browser shows them.
    held = text_of(dom(f"{authed}/admin/messages/m-plain-2"))
    assert "crm held in its lane (paused): it runs when its turn comes" in held
    again = text_of(dom(f"{authed}/admin/messages/m-plain-1"))
    assert "delivered again by request" in again and "a duplicate, not queued" in again
