"""Campaign counts written by the enqueue script: exact totals, no double count of duplicates, bounds."""

from __future__ import annotations

from typing import Any

import orjson
import redis

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store import campaigns, keys
from infobip_inbound.infobip.envelope import normalize, read_envelope
from infobip_inbound.receiver.enqueue import InboxWriter, enqueue_now


def results(*items: dict[str, Any]) -> bytes:
    return orjson.dumps({"results": list(items)})


def answer(n: int, bulk: str | None, keyword: str | None = "YES", paired: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {"messageId": f"m-{bulk}-{n}", "applicationCode": "app-1", "text": f"{keyword} x"}
    if keyword is not None:
        result["keyword"] = keyword
    if paired:
        result["pairedMessageId"] = f"p-{n}"
    if bulk is not None:
        result["bulkId"] = bulk
    return result


def ingest(connection: redis.Redis, body: bytes, **overrides: Any) -> int:
    settings = load_settings(**overrides)
    responses = normalize(read_envelope(body), "forward").responses
    return enqueue_now(connection, InboxWriter(settings), Router.from_settings(settings), responses).accepted


def test_counts_per_bulk_and_unprompted_per_application(redis_client: redis.Redis) -> None:
    settings = load_settings()
    campaigns.record_send(redis_client, settings, "bulk-a", at=1_000.0)
    body = results(
        answer(1, "bulk-a", "YES"),
        answer(2, "bulk-a", "yes"),
        answer(3, "bulk-a", "NO"),
        answer(4, "bulk-a", None),
        answer(5, "bulk-b", "STOP"),
        answer(6, None, "HELP", paired=False),
    )
    assert ingest(redis_client, body) == 6
    # Infobip's retry of the same results (and one new one) counts only the new one.
    assert ingest(redis_client, results(answer(1, "bulk-a", "YES"), answer(7, "bulk-a", "YES"))) == 1

    a = campaigns.bulk(redis_client, "bulk-a")
    assert a is not None
    assert (a.total, a.paired) == (5, 5)
    assert a.keywords == [("yes", 3), ("", 1), ("no", 1)]
    assert a.sent_at == 1_000.0
    # Every response of a bulk with a known send time has a delay: here decades after the send, so the last bucket.
    assert a.delays == {campaigns.TOP_BUCKET: 5}
    assert a.median_delay_seconds == round(campaigns.bucket_middle(campaigns.TOP_BUCKET), 3)
    assert a.first_at is not None and a.last_at is not None and a.first_at <= a.last_at

    b = campaigns.bulk(redis_client, "bulk-b")
    assert b is not None
    assert (b.total, b.sent_at, b.delays, b.median_delay_seconds) == (1, None, {}, None)

    [app] = campaigns.recent(redis_client, kind="app")
    assert (app.id, app.total, app.paired, app.keywords) == ("app-1", 1, 0, [("help", 1)])
    assert [c.id for c in campaigns.recent(redis_client, kind="bulk")] == ["bulk-a", "bulk-b"]


def test_counting_off_counts_nothing(redis_client: redis.Redis) -> None:
    assert ingest(redis_client, results(answer(1, "bulk-a")), campaign_counting=False) == 1
    assert campaigns.bulk(redis_client, "bulk-a") is None
    assert redis_client.zcard(keys.CAMPAIGN_INDEX) == 0


def test_groups_and_keywords_are_bounded(redis_client: redis.Redis) -> None:
    overrides = {"campaign_max_groups": 3, "campaign_keywords_max": 2}
    for bulk in ["b1", "b2", "b3", "b4", "b5"]:
        ingest(redis_client, results(*(answer(n, bulk, f"K{n}") for n in range(4))), **overrides)
    assert redis_client.zcard(keys.CAMPAIGN_INDEX) == 3
    assert campaigns.bulk(redis_client, "b1") is None  # the least recent went, its hash with it
    assert [c.id for c in campaigns.recent(redis_client)] == ["b5", "b4", "b3"]
    b5 = campaigns.bulk(redis_client, "b5")
    assert b5 is not None
    assert (b5.total, len(b5.keywords), b5.other_keywords) == (4, 2, 2)


def test_median_falls_in_the_bucket_of_the_middle_delay() -> None:
    delays = {10: 1, 20: 3, 40: 1}
    campaign = campaigns.Campaign(kind="bulk", id="x", total=5, delays=delays)
    low, high = campaigns.bucket_bounds(20)
    assert campaign.median_delay_seconds == round(campaigns.bucket_middle(20), 3)
    assert low <= campaigns.bucket_middle(20) < high


def test_rates_join_infobip_statistics() -> None:
    campaign = campaigns.Campaign(kind="bulk", id="x", total=30)
    rates = campaigns.rates(campaign, {"totalSent": 120, "delivered": 100, "seen": 60})
    assert (rates["per_delivered"], rates["per_seen"]) == (0.3, 0.5)
    assert campaigns.rates(campaign, None)["per_delivered"] is None


def test_campaigns_commands_without_infobip_show_the_counts(redis_client: redis.Redis, redis_url: str) -> None:
    from click.testing import CliRunner

    from infobip_inbound.shell.cli import main

    ingest(redis_client, results(answer(1, "bulk-a", "YES"), answer(2, "bulk-a", "NO"), answer(3, None, paired=False)))
    env = {"INBOUND_REDIS_URL": redis_url, "INBOUND_INFOBIP_BASE_URL": "", "INBOUND_INFOBIP_API_KEY": ""}
    shown = CliRunner().invoke(main, ["campaigns", "show", "bulk-a", "--json"], env=env, catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    figures = orjson.loads(shown.stdout)
    assert (figures["responses"], figures["keywords"]) == (2, {"yes": 1, "no": 1})
    assert figures["statistics"]["per_delivered"] is None
    assert "INBOUND_INFOBIP" in figures["statistics_problem"]
    listed = CliRunner().invoke(main, ["campaigns", "list", "--no-statistics"], env=env, catch_exceptions=False)
    assert "bulk-a" in listed.stdout and "app-1" in listed.stdout
    missing = CliRunner().invoke(main, ["campaigns", "show", "nope"], env=env)
    assert missing.exit_code == 1 and "no responses counted for bulk nope" in missing.output
