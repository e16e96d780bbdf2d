from __future__ import annotations

import httpx
import pytest
from acme_survey import handlers

from infobip_inbound.handlers import UserResponse, run_handler, user_response


def survey_answer() -> UserResponse:
    return user_response(
        "m-1", text="SURVEY yes", clean_text="yes", keyword="SURVEY", custom_payload={"survey_id": "nps-2026"}
    )


def answering(monkeypatch: pytest.MonkeyPatch, status: int) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    monkeypatch.setenv("ACME_SURVEY_WEBHOOK_URL", "http://survey.internal/answers")
    monkeypatch.setattr(handlers, "_client", lambda: httpx.Client(transport=httpx.MockTransport(answer)))
    return seen


def test_posts_the_answer_with_an_idempotency_key(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = answering(monkeypatch, 204)
    assert run_handler(handlers.forward_to_webhook, survey_answer()).outcome == "handled"
    assert seen[0].headers["Idempotency-Key"] == "m-1"
    assert b'"survey_id":"nps-2026"' in seen[0].content
    assert b'"answer":"yes"' in seen[0].content


def test_a_failed_post_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, 503)
    run = run_handler(handlers.forward_to_webhook, survey_answer(), try_number=2)
    assert run.outcome == "retry"
    assert isinstance(run.error, httpx.HTTPStatusError)


def test_a_refused_answer_is_dead_lettered_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, 422)
    assert run_handler(handlers.forward_to_webhook, survey_answer()).outcome == "dead_letter"
