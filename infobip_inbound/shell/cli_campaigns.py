"""`campaigns list|show`: the responses counted per bulk, joined with Infobip's statistics of the bulk.

Statistics are cached in Redis (INBOUND_CAMPAIGN_STATISTICS_CACHE_SECONDS) and each request Infobip is asked
goes through the pull pacing of the API key (the same GCRA and key as the poller's: both count against
Infobip's 10 requests/s), so listing campaigns never pushes a key over its limit.
"""

from __future__ import annotations

import time
from typing import Any

import click
import redis

from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import campaigns, scripts
from infobip_inbound.contract.store.campaigns import Campaign
from infobip_inbound.infobip.client import InfobipClient, InfobipError, InfobipNotConfigured, InfobipTransportError
from infobip_inbound.shell import loaded
from infobip_inbound.shell.cli_infobip import json_option, print_json, print_table
from infobip_inbound.shell.store_commands import LIST_LIMIT
from infobip_inbound.shell.terminal import say

PACE_WAIT_MAX_SECONDS = 30.0


class Statistics:
    """Infobip's statistics of bulks: from the cache, else asked (paced) and cached; None when unavailable."""

    def __init__(self, connection: redis.Redis, settings: Settings, enabled: bool) -> None:
        self._connection = connection
        self._settings = settings
        self._client: InfobipClient | None = None
        self.problem: str | None = None
        if enabled:
            try:
                self._client = InfobipClient.from_settings(settings)
            except InfobipNotConfigured as exc:
                self.problem = str(exc)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _paced(self) -> bool:
        """Wait for a slot in the API key's pacing (shared with the poller); False if none came in time."""
        api_key = self._settings.infobip_api_key
        call = scripts.pace_pull(
            api_key=api_key.get_secret_value() if api_key else "",
            interval_us=int(1_000_000 / self._settings.poll_requests_per_second),
        )
        deadline = time.monotonic() + PACE_WAIT_MAX_SECONDS
        while (wait_us := call.run(self._connection)) > 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(wait_us / 1_000_000)
        return True

    def of(self, bulk_id: str) -> dict[str, Any] | None:
        cached = campaigns.cached_statistics(self._connection, bulk_id)
        if cached is not None or self._client is None:
            return cached
        if not self._paced():
            self.problem = "Infobip's request budget stayed busy; statistics left out"
            return None
        try:
            statistics = self._client.push_statistics(bulk_id).wire()
        except (InfobipError, InfobipTransportError) as exc:
            self.problem = str(exc)
            return None
        campaigns.cache_statistics(
            self._connection, bulk_id, statistics, self._settings.campaign_statistics_cache_seconds
        )
        return statistics


def _figures(campaign: Campaign, statistics: Statistics | None) -> dict[str, Any]:
    figures = campaign.as_json()
    if campaign.kind == "bulk" and statistics is not None:
        figures["statistics"] = campaigns.rates(campaign, statistics.of(campaign.id))
    return figures


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f}s"
    if value < 7200:
        return f"{value / 60:.1f}m"
    return f"{value / 3600:.1f}h"


def _keywords(figures: dict[str, Any], limit: int = 3) -> str:
    shown = [f"{keyword or '(none)'} {count}" for keyword, count in list(figures["keywords"].items())[:limit]]
    return ", ".join(shown) or "-"


statistics_option = click.option(
    "--no-statistics", "no_statistics", is_flag=True, help="Counts only: do not ask Infobip for the bulks' figures."
)


@click.group()
def campaigns_group() -> None:
    """Responses per bulk (campaign) and per application, with response rates from Infobip's statistics."""


@campaigns_group.command("list")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=LIST_LIMIT,
    show_default=True,
    help="Most recent bulks (and applications) shown.",
)
@statistics_option
@json_option
def campaigns_list(limit: int, no_statistics: bool, as_json: bool) -> None:
    """The bulks answered most recently, then the unprompted responses per application."""
    settings, connection = loaded.settings(), loaded.connection()
    statistics = Statistics(connection, settings, enabled=not no_statistics)
    try:
        bulks = [_figures(c, statistics) for c in campaigns.recent(connection, limit, kind="bulk")]
        apps = [_figures(c, None) for c in campaigns.recent(connection, limit, kind="app")]
        other = campaigns.other(connection)
    except (redis.RedisError, OSError) as exc:
        raise click.ClickException(f"Redis unavailable: {type(exc).__name__}: {exc}") from None
    finally:
        statistics.close()
    if as_json:
        print_json(
            {
                "campaigns": bulks,
                "applications": apps,
                "other": other.as_json() if other is not None else None,
                "statistics_problem": statistics.problem,
            }
        )
        return
    rows = []
    for figures in bulks:
        rates = figures.get("statistics") or {}
        rows.append(
            [
                figures["id"],
                str(figures["responses"]),
                _count(rates.get("delivered")),
                _count(rates.get("seen")),
                _share(rates.get("per_delivered")),
                _share(rates.get("per_seen")),
                _seconds(figures["median_delay_seconds"]),
                figures["last_response_at"] or "-",
                _keywords(figures),
            ]
        )
    print_table(
        ["bulk", "responses", "delivered", "seen", "÷delivered", "÷seen", "median delay", "last response", "keywords"],
        rows,
    )
    if apps:
        say()
        say("without a bulk id (unprompted), per application:")
        print_table(
            ["application", "responses", "paired", "last response", "keywords"],
            [
                [f["id"], str(f["responses"]), str(f["paired"]), f["last_response_at"] or "-", _keywords(f)]
                for f in apps
            ],
        )
    if other is not None:
        say()
        say(f"new campaigns past one write's allowance, counted together (other): {other.total} responses")
    if statistics.problem:
        say(err=True)
        say(f"statistics: {statistics.problem}", err=True)


@campaigns_group.command("show")
@click.argument("bulk_id")
@statistics_option
@json_option
def campaigns_show(bulk_id: str, no_statistics: bool, as_json: bool) -> None:
    """One bulk: its responses, keywords, timing and response rates."""
    settings, connection = loaded.settings(), loaded.connection()
    statistics = Statistics(connection, settings, enabled=not no_statistics)
    try:
        campaign = campaigns.bulk(connection, bulk_id)
        if campaign is None:
            raise click.ClickException(f"no responses counted for bulk {bulk_id}")
        figures = _figures(campaign, statistics)
    except (redis.RedisError, OSError) as exc:
        raise click.ClickException(f"Redis unavailable: {type(exc).__name__}: {exc}") from None
    finally:
        statistics.close()
    if as_json:
        print_json({**figures, "statistics_problem": statistics.problem})
        return
    rates = figures.get("statistics") or {}
    lines = [
        ("bulk", figures["id"]),
        ("responses", str(figures["responses"])),
        ("sent", f"{_count(rates.get('sent'))} at {figures['sent_at'] or 'unknown time'}"),
        ("delivered", f"{_count(rates.get('delivered'))} (responses ÷ delivered {_share(rates.get('per_delivered'))})"),
        ("seen", f"{_count(rates.get('seen'))} (responses ÷ seen {_share(rates.get('per_seen'))})"),
        ("first response", figures["first_response_at"] or "-"),
        ("last response", figures["last_response_at"] or "-"),
        ("median delay", _seconds(figures["median_delay_seconds"]) + " after the send (±10%)"),
    ]
    for name, value in lines:
        say(f"{name:<15} {value}")
    keywords = [[keyword or "(none)", str(count)] for keyword, count in figures["keywords"].items()]
    if figures["other_keywords"]:
        keywords.append(["(other)", str(figures["other_keywords"])])
    click.echo("")
    print_table(["keyword", "responses"], keywords)
    if statistics.problem:
        say(err=True)
        say(f"statistics: {statistics.problem}", err=True)


def attach(main: click.Group) -> None:
    main.add_command(campaigns_group, name="campaigns")
