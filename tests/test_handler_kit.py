"""The handler kit: infobip_inbound.testing, PermanentFailure, RetryLater and the context argument, both
through the testing helpers and through a worker's own batch run."""

from __future__ import annotations

import time

import redis

import tests.kit_handlers as kit
from infobip_inbound.contract.model import UserResponse
from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store import dead_letter
from infobip_inbound.contract.store.inbox import Batch
from infobip_inbound.contract.store.keys import SCHEDULED_KEY
from infobip_inbound.testing import envelope, infobip_result, run_handler, user_response
from infobip_inbound.workers.jobs import HandlerContext, run_batch
from infobip_inbound.workers.registry import takes_context
from tests.support import result
from tests.test_worker import enqueue

PERMANENT, LATER = "tests.kit_handlers:permanent", "tests.kit_handlers:later"
WITH_CONTEXT = "tests.kit_handlers:with_context"


def test_builders_give_what_the_receiver_would() -> None:
    response = user_response("m-7", text="SURVEY yes", keyword="SURVEY", custom_payload={"survey": "nps"})
    assert (response.message_id, response.text, response.custom_payload) == ("m-7", "SURVEY yes", {"survey": "nps"})
    assert response.source == "forward" and response.schema_version == 2
    assert user_response("m-8").clean_text == "hello"  # cleanText derived as the receiver derives it
    assert envelope(infobip_result("a"), infobip_result("b"))["messageCount"] == 2


def test_run_handler_reports_what_the_worker_would_do() -> None:
    kit.seen.clear()
    assert run_handler(kit.permanent, user_response()).outcome == "dead_letter"
    run = run_handler(kit.later, user_response())
    assert (run.outcome, run.not_before_seconds) == ("retry", 120)
    assert run_handler(kit.with_context, user_response("m-2"), try_number=3, request_id="r-1").outcome == "handled"
    assert run_handler(kit.async_with_context, user_response("m-3"), name="mine").outcome == "handled"
    assert run_handler("log", user_response(), settings=load_settings()).outcome == "handled"
    assert kit.seen == [
        ("m-2", 3, "r-1", "infobip-inbound", "with_context"),
        ("m-3", 1, None, "infobip-inbound", "mine"),
    ]


def test_context_is_offered_only_to_handlers_that_declare_it() -> None:
    assert takes_context(kit.with_context) and takes_context(kit.async_with_context)
    assert not takes_context(kit.permanent)

    def positional_only(response: UserResponse, context: object, /) -> None: ...

    assert not takes_context(positional_only)


def test_worker_dead_letters_a_permanent_failure_at_once_and_respects_retry_later(
    redis_url: str, redis_client: redis.Redis
) -> None:
    kit.seen.clear()
    settings = load_settings(
        redis_url=redis_url,
        default_handlers=[PERMANENT, LATER, WITH_CONTEXT],
        handler_retry_default={"max_tries": 5, "backoff_base_seconds": 0},
    )
    (batch_key,) = enqueue(settings, result("m1"), result("m2"))
    before = time.time()
    outcome = run_batch(redis_client, Batch(batch_key), HandlerContext.build(settings), tries=2)
    assert outcome == {"responses": 2, "handled": 2, "skipped": 0, "retrying": 2, "dead_lettered": 2}
    dead = sorted((d.message_id, d.handler, d.tries) for d in dead_letter.select(redis_client))
    assert dead == [("m1", PERMANENT, 2), ("m2", PERMANENT, 2)]
    ((_, when),) = redis_client.zrange(SCHEDULED_KEY, 0, -1, withscores=True)
    assert when >= before + 120  # not before what RetryLater asked, though the backoff is 0
    assert [(m, t, q, h) for m, t, _, q, h in kit.seen] == [
        ("m1", 2, "infobip-inbound", WITH_CONTEXT),
        ("m2", 2, "infobip-inbound", WITH_CONTEXT),
    ]


def test_every_built_in_output_is_a_settings_factory_that_refuses_to_be_called() -> None:
    import pytest

    from infobip_inbound.workers import builtin
    from infobip_inbound.workers.registry import HandlerFactory, SettingsFactory

    outputs = [builtin.jsonl_handler, builtin.http_relay_handler, builtin.redis_stream_handler]
    for output in [*outputs, builtin.auto_reply_handler]:
        assert isinstance(output, SettingsFactory) and isinstance(output, HandlerFactory)
        with pytest.raises(TypeError, match=f"{output.name} is built from the worker's settings"):
            output(user_response())
