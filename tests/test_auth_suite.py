"""Auth suite: every route that writes refuses missing, wrong and probing credentials; rotation works.

Probing credentials are near misses (a prefix of the real secret, the secret with one more character,
one character changed, other case): each must be refused like any wrong one. Comparison time is not
asserted here (no timing assertions in tests); every candidate is compared against every configured
secret with hmac.compare_digest (infobip_inbound.receiver.auth).
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import orjson
import pytest
import redis

from infobip_inbound.contract.store.keys import STATS_KEY
from tests.support import ReceiverProcess, envelope, result

StartReceiver = Callable[[dict[str, str]], ReceiverProcess]
OLD, NEW = "rotation-old-3f9a1c7e5b2d", "rotation-new-8e6d4c2a0f1b"
USER, PASSWORD = "infobip", "basic-pw-7a5c3e1f9d8b"
JSON = {"Content-Type": "application/json"}


def near_misses(secret: str) -> list[str]:
    return [
        secret[:-1],
        secret + "x",
        secret[:5],
        secret[:-1] + ("0" if secret[-1] != "0" else "1"),
        secret.upper(),
        " " + secret,
        "",
    ]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def receiver(start_receiver: StartReceiver, base_env: dict[str, str]) -> ReceiverProcess:
    return start_receiver(
        {**base_env, "INBOUND_FORWARD_TOKENS": f"{OLD},{NEW}", "INBOUND_FORWARD_BASIC_AUTH": f"{USER}:{PASSWORD}"}
    )


def post(receiver: ReceiverProcess, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = orjson.dumps(envelope(result("auth-1")))
    return httpx.post(receiver.base_url + path, content=body, headers={**JSON, **(headers or {})}, timeout=10)


def test_every_write_route_refuses_missing_wrong_and_probing_credentials(
    receiver: ReceiverProcess, redis_client: redis.Redis
) -> None:
    refused = 0
    attempts: list[tuple[str, dict[str, str]]] = [("/infobip/forward", {})]  # no credentials at all
    attempts += [(f"/infobip/forward/{probe}", {}) for probe in near_misses(NEW) if probe.strip()]
    attempts += [("/infobip/forward", {"Authorization": basic(USER, probe)}) for probe in near_misses(PASSWORD)]
    attempts += [
        ("/infobip/forward", {"Authorization": basic(USER.upper(), PASSWORD)}),
        ("/infobip/forward", {"Authorization": basic(PASSWORD, USER)}),
        ("/infobip/forward", {"Authorization": basic(USER, NEW)}),  # a path token is no Basic password
        ("/infobip/forward", {"Authorization": f"Bearer {NEW}"}),
        ("/infobip/forward", {"Authorization": "Basic !!!not-base64"}),
        (f"/infobip/forward/{USER}:{PASSWORD}", {}),  # a Basic pair is no path token
    ]
    for path, headers in attempts:
        answer = post(receiver, path, headers)
        assert answer.status_code == 401, (path, headers)
        assert answer.json()["error"] == "unauthorized"
        refused += 1
    assert refused == len(attempts) >= 20
    assert redis_client.hget(STATS_KEY, "accepted") is None  # nothing was queued


def test_rotation_accepts_old_and_new_then_only_new(
    start_receiver: StartReceiver, base_env: dict[str, str], receiver: ReceiverProcess
) -> None:
    assert post(receiver, f"/infobip/forward/{OLD}").status_code == 200
    assert post(receiver, f"/infobip/forward/{NEW}").status_code == 200
    assert post(receiver, "/infobip/forward", {"Authorization": basic(USER, PASSWORD)}).status_code == 200
    receiver.stop()
    rotated = start_receiver({**base_env, "INBOUND_FORWARD_TOKENS": NEW})
    assert post(rotated, f"/infobip/forward/{OLD}").status_code == 401
    assert post(rotated, f"/infobip/forward/{NEW}").status_code == 200
    assert post(rotated, "/infobip/forward", {"Authorization": basic(USER, PASSWORD)}).status_code == 401
