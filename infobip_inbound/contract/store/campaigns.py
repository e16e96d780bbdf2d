"""Campaign counts: which push got which answers, kept in Redis (not as metric labels: one label value per
campaign would be an unbounded series).

Every response falls in one group: the bulk it answers (its `bulkId`: a campaign), or, without a bulk id,
its application (the unprompted responses, and the rare paired one Infobip sent without a bulk id, counted
apart in `paired`). Per group: responses in all, by keyword, first and last response time, and — where the
bulk's send time is known — how long after the send they came. Response times are when the receiver or the
poller accepted the response (its clock), which is what the delay after the send is measured to.

Counted at ingest, inside the enqueue script (infobip_inbound.contract.store.scripts.ENQUEUE), not in the
worker: the script already decides, atomically, which responses are new and which are Infobip's retries of
ones already queued, so a response is counted exactly when it is queued — never twice, never lost between
a queue write and a separate count. Counting in the worker would see each response once too (the
(message, handler) idempotency), but once per handler, only after the queue drained, and not at all for
responses still waiting or dead-lettered; the counts would lag and depend on the handler set.

Bounds, so memory stays flat however many campaigns run:
- at most `campaign_max_groups` groups: the least recently written one is dropped beyond that (never one
  written by the same call), and a group not written for `campaign_ttl_seconds` expires;
- one enqueue call creates at most `scripts.CAMPAIGN_NEW_GROUPS_PER_CALL` new groups; the responses of further
  new groups count in the "other" group (kind `other`, id `*`), so one request cannot sweep the kept groups out;
- per group at most `campaign_keywords_max` distinct keywords; responses with any further keyword count in
  `other_keywords` (the total stays exact);
- delays in a fixed histogram of `TOP_BUCKET + 1` geometric buckets, bucket i holding delays in
  [r^i - 1, r^(i+1) - 1) seconds with r = `BUCKET_RATIO`. The median is the geometric middle of the bucket
  holding it: within ±10% of the true median (one bucket spans a factor 1.2; its middle is at most a factor
  √1.2 ≈ 1.095 off), for delays above a few seconds; the last bucket holds everything beyond ~24 days.

A group's hash has at most ~110 small fields, so Redis keeps it in its compact (listpack) encoding.
Send times come from `infobip-inbound infobip push send` (`record_send`): the first recorded time of a bulk wins.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis

from infobip_inbound.contract.routing import Routable
from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import keys, scripts

BUCKET_RATIO = 1.2
TOP_BUCKET = 80  # 1.2**80 s ≈ 24 days: later answers share the last bucket
KEYWORD_MAX_CHARS = 64  # a longer keyword is counted under its first 64 characters
NO_KEYWORD = ""


def limits(settings: Settings) -> scripts.CampaignLimits:
    return scripts.CampaignLimits(
        max_groups=settings.campaign_max_groups,
        ttl_seconds=settings.campaign_ttl_seconds,
        keywords_max=settings.campaign_keywords_max,
        bucket_ratio=BUCKET_RATIO,
        top_bucket=TOP_BUCKET,
    )


def group_key(response: Routable) -> str:
    """The group a response is counted in: its bulk, else its application."""
    if response.bulk_id:
        return keys.campaign_bulk_key(response.bulk_id)
    return keys.campaign_app_key(response.application_code)


def count_of(response: Routable) -> scripts.CampaignCount:
    keyword = (response.keyword or NO_KEYWORD).strip().casefold()[:KEYWORD_MAX_CHARS]
    return scripts.CampaignCount(group_key(response), keyword, bool(response.paired_message_id))


def record_send(connection: redis.Redis, settings: Settings, bulk_id: str, at: float | None = None) -> bool:
    """Remember when `bulk_id` was sent (the first record wins); True if this call recorded it."""
    return bool(scripts.record_send(bulk_id=bulk_id, limits=limits(settings), at=at).run(connection))


def bucket_bounds(bucket: int) -> tuple[float, float]:
    """Delays (seconds) bucket `bucket` holds: [low, high)."""
    return BUCKET_RATIO**bucket - 1, (math.inf if bucket >= TOP_BUCKET else BUCKET_RATIO ** (bucket + 1) - 1)


def bucket_middle(bucket: int) -> float:
    """The geometric middle of a bucket, in seconds (the median estimate when the median falls in it)."""
    return float(BUCKET_RATIO ** (bucket + 0.5) - 1)


@dataclass(frozen=True, slots=True)
class Campaign:
    """One group's figures."""

    kind: str  # "bulk", "app", or "other" (new groups past an enqueue call's allowance)
    id: str
    total: int = 0
    paired: int = 0
    first_at: float | None = None
    last_at: float | None = None
    sent_at: float | None = None
    keywords: list[tuple[str, int]] = field(default_factory=list)  # most responses first
    other_keywords: int = 0
    delays: dict[int, int] = field(default_factory=dict)  # bucket -> responses

    @property
    def median_delay_seconds(self) -> float | None:
        counted = sum(self.delays.values())
        if not counted:
            return None
        seen = 0
        for bucket in sorted(self.delays):
            seen += self.delays[bucket]
            if seen * 2 >= counted:
                return round(bucket_middle(bucket), 3)
        return None  # pragma: no cover - the loop always reaches half

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "responses": self.total,
            "paired": self.paired,
            "first_response_at": _iso(self.first_at),
            "last_response_at": _iso(self.last_at),
            "sent_at": _iso(self.sent_at),
            "median_delay_seconds": self.median_delay_seconds,
            "keywords": dict(self.keywords),
            "other_keywords": self.other_keywords,
            "delay_buckets": [
                {"from_seconds": round(bucket_bounds(b)[0], 3), "responses": n} for b, n in sorted(self.delays.items())
            ],
        }


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"


def _parse(key: str, fields: dict[bytes, bytes]) -> Campaign:
    if key.startswith(keys.CAMPAIGN_BULK_PREFIX):
        kind, ident = "bulk", key.removeprefix(keys.CAMPAIGN_BULK_PREFIX)
    elif key == keys.CAMPAIGN_OTHER_KEY:  # new groups past an enqueue call's allowance
        kind, ident = "other", "*"
    else:
        kind, ident = "app", key.removeprefix(keys.CAMPAIGN_APP_PREFIX)
    figures = {name.decode(): value.decode() for name, value in fields.items()}

    def ms(name: str) -> float | None:
        return int(figures[name]) / 1000 if name in figures else None

    keywords = sorted(
        ((name[2:], int(value)) for name, value in figures.items() if name.startswith("k:")),
        key=lambda item: (-item[1], item[0]),
    )
    delays = {int(name[2:]): int(value) for name, value in figures.items() if name.startswith("d:")}
    return Campaign(
        kind=kind,
        id=ident,
        total=int(figures.get("total", 0)),
        paired=int(figures.get("p", 0)),
        first_at=ms("first"),
        last_at=ms("last"),
        sent_at=ms("sent"),
        keywords=keywords,
        other_keywords=int(figures.get("o", 0)),
        delays=delays,
    )


def bulk(connection: redis.Redis, bulk_id: str) -> Campaign | None:
    key = keys.campaign_bulk_key(bulk_id)
    fields: dict[bytes, bytes] = connection.hgetall(key)  # type: ignore[assignment]
    return _parse(key, fields) if fields else None


def other(connection: redis.Redis) -> Campaign | None:
    """The "other" group: responses of new groups past an enqueue call's allowance; None while it is empty."""
    fields: dict[bytes, bytes] = connection.hgetall(keys.CAMPAIGN_OTHER_KEY)  # type: ignore[assignment]
    return _parse(keys.CAMPAIGN_OTHER_KEY, fields) if fields else None


def recent(connection: redis.Redis, limit: int = 20, kind: str | None = None) -> list[Campaign]:
    """The groups written most recently, newest first (`kind`: only "bulk" or only "app")."""
    found: list[Campaign] = []
    start = 0
    page = max(limit, 50)
    while len(found) < limit:
        members: list[bytes] = connection.zrevrange(keys.CAMPAIGN_INDEX, start, start + page - 1)  # type: ignore[assignment]
        if not members:
            break
        names = [member.decode() for member in members]
        if kind is not None:
            names = [name for name in names if name.startswith(keys.CAMPAIGN_PREFIX + kind + ":")]
        pipe = connection.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(name)
        for name, fields in zip(names, pipe.execute(), strict=True):
            if fields and len(found) < limit:
                found.append(_parse(name, fields))
        start += page
    return found


# Infobip's statistics of a bulk, cached: `campaigns` and the status page may ask often, Infobip allows
# 10 requests/s per API key, and the figures change slowly.


def cached_statistics(connection: redis.Redis, bulk_id: str) -> dict[str, Any] | None:
    raw: bytes | None = connection.get(keys.campaign_stats_key(bulk_id))  # type: ignore[assignment]
    return orjson.loads(raw) if raw else None


def cache_statistics(connection: redis.Redis, bulk_id: str, statistics: dict[str, Any], ttl_seconds: int) -> None:
    connection.set(keys.campaign_stats_key(bulk_id), orjson.dumps(statistics), ex=ttl_seconds)


def _count(statistics: dict[str, Any], name: str) -> int | None:
    """A figure of Infobip's statistics; one it left out is None, not a zero."""
    value = statistics.get(name)
    return None if value is None else int(value)


def rates(campaign: Campaign, statistics: dict[str, Any] | None) -> dict[str, Any]:
    """Responses ÷ delivered and ÷ seen, from Infobip's statistics (`totalSent`, `delivered`, `seen`)."""
    if not statistics:
        return {"sent": None, "delivered": None, "seen": None, "per_delivered": None, "per_seen": None}
    delivered, seen = _count(statistics, "delivered"), _count(statistics, "seen")
    return {
        "sent": _count(statistics, "totalSent"),
        "delivered": delivered,
        "seen": seen,
        "per_delivered": round(campaign.total / delivered, 4) if delivered else None,
        "per_seen": round(campaign.total / seen, 4) if seen else None,
    }
