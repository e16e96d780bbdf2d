from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from acme_survey import handlers

from infobip_inbound.contract.model import UserResponse


def response() -> UserResponse:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return UserResponse(
        message_id="m-1",
        application_code="app",
        registration_id="reg-1",
        to="app",
        text="SURVEY yes",
        clean_text="yes",
        keyword="SURVEY",
        custom_payload={"survey_id": "nps-2026"},
        received_at=now,
        source="forward",
        ingested_at=now,
    )


def test_posts_the_answer_with_an_idempotency_key(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    monkeypatch.setenv("ACME_SURVEY_WEBHOOK_URL", "http://survey.internal/answers")
    monkeypatch.setattr(handlers, "_client", lambda: httpx.Client(transport=httpx.MockTransport(answer)))
    handlers.forward_to_webhook(response())
    assert seen[0].headers["Idempotency-Key"] == "m-1"
    assert b'"survey_id":"nps-2026"' in seen[0].content
    assert b'"answer":"yes"' in seen[0].content


def test_a_failed_post_raises_so_the_worker_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_SURVEY_WEBHOOK_URL", "http://survey.internal/answers")
    monkeypatch.setattr(
        handlers,
        "_client",
        lambda: httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503))),
    )
    with pytest.raises(httpx.HTTPStatusError):
        handlers.forward_to_webhook(response())
