"""`survey-webhook`: post each survey answer to an internal HTTP endpoint.

Configuration comes from the environment (the chart's `extraEnv` / `extraEnvFrom` on the workers):
  ACME_SURVEY_WEBHOOK_URL      where to POST (required)
  ACME_SURVEY_WEBHOOK_TIMEOUT  seconds, default 5

infobip-inbound runs a handler at least once per response: the message_id is sent as the
Idempotency-Key so the receiving service can drop a repeat. Raising makes the worker retry the call later;
an answer the survey service will never accept (a 4xx other than 408/429) raises PermanentFailure, which
dead-letters the response at once.
"""

from __future__ import annotations

import os
from functools import cache

import httpx

from infobip_inbound.handlers import CallContext, PermanentFailure, UserResponse


@cache
def _client() -> httpx.Client:
    timeout = float(os.environ.get("ACME_SURVEY_WEBHOOK_TIMEOUT", "5"))
    return httpx.Client(timeout=timeout)


def answer_of(response: UserResponse) -> dict[str, object]:
    """The payload the survey service expects."""
    payload = response.custom_payload or {}
    return {
        "message_id": response.message_id,
        "survey_id": payload.get("survey_id") or response.callback_data,
        "registration_id": response.registration_id,
        "answer": (response.clean_text or response.text or "").strip(),
        "keyword": response.keyword,
        "answered_at": (response.received_at or response.ingested_at).isoformat(),
    }


def forward_to_webhook(response: UserResponse, context: CallContext) -> None:
    url = os.environ.get("ACME_SURVEY_WEBHOOK_URL")
    if not url:
        raise RuntimeError("ACME_SURVEY_WEBHOOK_URL is not set")
    answer = _client().post(url, json=answer_of(response), headers={"Idempotency-Key": response.message_id})
    if 400 <= answer.status_code < 500 and answer.status_code not in (408, 429):
        raise PermanentFailure(f"the survey service refused the answer: {answer.status_code}")
    answer.raise_for_status()
    context.log.info("answer forwarded (try %d)", context.try_number)
