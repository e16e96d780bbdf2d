"""The small edges of the receiver's surface, tried as an attacker would: no answer but the credential check's
comes before it on the forward route, and every id the messages page lists has a page that can be reached."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest

from infobip_inbound.receiver.messages_page import page_url
from tests.conftest import TOKEN
from tests.support import ReceiverProcess, forward, result

ADMIN_TOKEN = "edges-admin-token-5c1d"


@pytest.fixture
def receiver(base_env: dict[str, str], start_receiver: Callable[..., ReceiverProcess]) -> ReceiverProcess:
    return start_receiver({**base_env, "INBOUND_ADMIN_TOKENS": ADMIN_TOKEN})


TAILS = ["anything/", f"{TOKEN}/", "a/b", "/", "x/../y"]
IDS = ["a/b", "x.json", "x.json.json", "../admin/status", "%2F%2E", "dots.in.it", "é ü"]


def test_no_answer_before_the_credential_check_on_the_forward_route(receiver: ReceiverProcess) -> None:
    for tail in TAILS:
        refused_before_auth(receiver, tail)


def refused_before_auth(receiver: ReceiverProcess, tail: str) -> None:
    for method in ("POST", "GET"):
        answer = httpx.request(
            method,
            f"{receiver.base_url}/infobip/forward/{tail}",
            content=b"{}",
            headers={"Host": "evil.example", "Content-Type": "application/json"},
            timeout=10,
        )
        assert answer.status_code in {401, 404, 405}, (method, tail, answer.status_code)
        assert "location" not in answer.headers
    # A POST is the forward endpoint's to answer: refused for its credentials.
    posted = httpx.post(f"{receiver.base_url}/infobip/forward/{tail}", content=b"{}", timeout=10)
    assert posted.status_code == 401 and posted.json()["error"] == "unauthorized"


def test_every_listed_id_has_a_reachable_page(receiver: ReceiverProcess) -> None:
    assert forward(receiver, *(result(message_id) for message_id in IDS))["accepted"] == len(IDS)
    for message_id in IDS:
        reachable(receiver, message_id)
    # Nothing to reach is a plain 404, behind the admin credentials.
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert httpx.get(f"{receiver.base_url}/admin/messages/none%2Fhere", timeout=10).status_code == 401
    assert httpx.get(f"{receiver.base_url}/admin/messages/none%2Fhere", headers=bearer, timeout=10).status_code == 404


def reachable(receiver: ReceiverProcess, message_id: str) -> None:
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    listing = httpx.get(f"{receiver.base_url}/admin/messages", headers=bearer, timeout=10)
    link = page_url(message_id)
    assert f'href="{link}"' in listing.text.replace("&amp;", "&")
    page = httpx.get(receiver.base_url + link, headers=bearer, timeout=10)
    assert page.status_code == 200, (link, page.status_code)
    as_json = httpx.get(receiver.base_url + page_url(message_id, ".json"), headers=bearer, timeout=10)
    assert as_json.status_code == 200 and as_json.json()["message_id"] == message_id
    # The plain forms still read: an id typed by hand, escaped the usual way.
    if "/" not in message_id and not message_id.endswith(".json"):
        typed = httpx.get(f"{receiver.base_url}/admin/messages/{quote(message_id)}", headers=bearer, timeout=10)
        assert typed.status_code == 200
