"""`infobip-inbound messages show|list` and `infobip-inbound replay`: find an archived message, see what
happened to it, and run handlers over archived messages again (infobip_inbound.contract.store.archive)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click
import redis

from infobip_inbound.contract.store import archive
from infobip_inbound.contract.store.archive import Filters, Journey
from infobip_inbound.shell import loaded, store_commands
from infobip_inbound.shell.terminal import say

_FILTER_NAMES = ("newer_than", "older_than", "application", "keyword", "bulk_id", "source", "outcome", "outcome_of")


_filters = store_commands.options(
    store_commands.newer_than("messages accepted"),
    store_commands.older_than("messages accepted"),
    store_commands.application,
    click.option("--keyword", help="Only this keyword (any case)."),
    click.option("--bulk-id", "bulk_id", help="Only responses to this bulk (campaign)."),
    store_commands.source,
    click.option(
        "--outcome",
        type=click.Choice(archive.SELECTABLE),
        help="Only messages with a handler whose last outcome is this (pending: none yet; quarantined).",
    ),
    click.option("--outcome-of", "outcome_of", metavar="HANDLER", help="The handler --outcome is about."),
)


def _selection(values: dict[str, Any]) -> Filters:
    if values.get("outcome_of") and not values.get("outcome"):
        raise click.UsageError("--outcome-of names the handler of --outcome: give --outcome too")
    now = time.time()
    newer, older = (
        store_commands.parse_age(values.get("newer_than")),
        store_commands.parse_age(values.get("older_than")),
    )
    return Filters(
        since=now - newer if newer is not None else None,
        until=now - older if older is not None else None,
        application=values.get("application"),
        keyword=values.get("keyword"),
        bulk_id=values.get("bulk_id"),
        source=values.get("source"),
        outcome=values.get("outcome"),
        handler=values.get("outcome_of"),
    )


def _time(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _line(journey: Journey) -> str:
    outcomes = " ".join(f"{handler}={event.kind}" for handler, event in sorted(journey.outcomes().items()))
    state = "quarantined" if journey.quarantined and journey.accepted_at is None else (outcomes or "pending")
    return (
        f"{journey.message_id}  {_time(journey.accepted_at or journey.events[0].at)}  "
        f"{journey.field('application_code') or '-'}  {journey.field('keyword') or '-'}  {state}"
    )


def _story(journey: Journey) -> Iterator[str]:
    """The journey, readable: what the message is, then one line per event."""
    fields = {
        "message_id": journey.message_id,
        "accepted_at": _time(journey.accepted_at) if journey.accepted_at else None,
        "queue": journey.queue,
        "request_id": journey.request_id,
        "source": journey.field("source"),
        "application": journey.field("application_code"),
        "keyword": journey.field("keyword"),
        "bulk_id": journey.field("bulk_id"),
        "text": journey.field("text"),
    }
    for name, value in fields.items():
        if value is not None:
            yield f"{name:<12} {value}"
    yield "journey:"
    for event in journey.events:
        if event.handler is None:
            what = {
                "accepted": "accepted, queued on",
                "quarantined": "quarantined:",
                archive.DUPLICATE: "delivered again, dropped as a duplicate; request",
            }.get(event.kind, event.kind)
            yield f"  {_time(event.at)}  {what} {event.detail}"
        else:
            try_ = f" (try {event.tries})" if event.tries else ""
            detail = f": {event.detail}" if event.detail else ""
            yield f"  {_time(event.at)}  {event.handler} {event.kind}{try_}{detail}"
    if journey.accepted_at is None:
        yield "  never queued: see `infobip-inbound quarantine show` for what was sent"


@click.group()
def messages() -> None:
    """Find archived messages and what happened to them: when each was accepted, from which request, and
    every handler's outcome (kept for INBOUND_ARCHIVE_MAX_AGE_SECONDS, at most INBOUND_ARCHIVE_MAX_MESSAGES)."""


@messages.command()
@click.argument("message_id")
@click.option("--json", "as_json", is_flag=True, help="The journey as one JSON document.")
@store_commands.store_command
def show(message_id: str, as_json: bool) -> None:
    """One message's journey: the response, then accepted, quarantined and each handler's tries in order."""
    journey = archive.load(loaded.connection(), message_id)
    if journey is None:
        raise click.ClickException(f"message {message_id} is not in the archive")
    if as_json:
        store_commands.print_json(journey.to_dict())
        return
    for line in _story(journey):
        say(line)


@messages.command("list")
@_filters
@store_commands.list_limit
@click.option("--json", "as_json", is_flag=True, help="One JSON document: the journeys and how many.")
@store_commands.store_command
def list_(limit: int, as_json: bool, **values: Any) -> None:
    """List archived messages, newest first."""
    connection = loaded.connection()
    selected = archive.select(connection, _selection(values), limit=limit, chunk=store_commands.CHUNK)
    total = int(archive.figures(connection)["messages"] or 0)  # Redis is asked before anything is printed
    store_commands.list_items(
        selected,
        as_json,
        field="messages",
        to_json=archive.to_json,
        line=_line,
        total=("archived", total),
        summary=lambda listed: store_commands.listed_line(listed, total, limit),
    )


@click.command()
@click.option("--handler", "handlers", multiple=True, required=True, help="A handler to run (repeat for several).")
@click.option("--message-id", "message_ids", multiple=True, help="This message (repeatable), instead of filters.")
@click.option("--all", "select_all", is_flag=True, help="Every archived message the filters select (all if none).")
@_filters
@click.option("--replay-id", help="Name the replay (default: derived from its handlers and selection).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Queue at most this many messages/s.")
@click.option("--dry-run", is_flag=True, help="Count what would be queued; change nothing.")
@store_commands.yes
@click.option("--json", "as_json", is_flag=True, help="One JSON summary document; no progress.")
@store_commands.store_command
def replay(
    handlers: tuple[str, ...],
    message_ids: tuple[str, ...],
    select_all: bool,
    replay_id: str | None,
    rate: float | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    **values: Any,
) -> None:
    """Run handlers again over archived messages: each (message, handler) pair once per replay, even if the
    command is interrupted and started again; running the same replay again queues nothing. The workers run
    the pairs as any other (retries, dead letters, flow control); a pair that had succeeded runs again, and
    new arrivals are deduplicated as ever. A handler must be in the routes' handlers, so workers load it."""
    from infobip_inbound.contract.routing import Router
    from infobip_inbound.workers.replay import Replayer
    from infobip_inbound.workers.replay import replay_id as derived_id

    settings = loaded.settings()
    known = Router.from_settings(settings).handler_names
    unknown = sorted(set(handlers) - known)
    if unknown:
        raise click.ClickException(
            f"unknown handler {', '.join(unknown)}: workers load only the handlers of the routes "
            f"({', '.join(sorted(known))}); add it to INBOUND_ROUTES or INBOUND_DEFAULT_HANDLERS first"
        )
    given = {name: values[name] for name in _FILTER_NAMES if values.get(name) is not None}
    if message_ids and (given or select_all):
        raise click.UsageError("give --message-id, or --all and/or filters, not both")
    if not message_ids and not given and not select_all:
        raise click.UsageError("select messages: --message-id, filters, or --all")
    connection = loaded.connection()
    journeys = _pick(connection, message_ids, values)
    if not dry_run:
        journeys = store_commands.confirmed(journeys, yes, "replay")
    name = replay_id or derived_id(handlers, {"message_ids": sorted(message_ids), **given})
    replayer = Replayer(connection, settings, handlers, name, rate=rate, chunk=store_commands.CHUNK)
    progress = store_commands.Progress("replayed", enabled=not as_json)
    try:
        outcome = replayer.run(journeys, dry_run=dry_run, progress=progress.add)
    finally:
        progress.close()
    if as_json:
        store_commands.print_json(
            {"command": "replay", "dry_run": dry_run, "handlers": list(handlers), **outcome.to_dict()}
        )
        return
    verb = "would queue" if dry_run else "queued"
    say(
        f"replay {outcome.replay_id}: {outcome.messages} messages, {verb} {outcome.queued} (message, handler) "
        f"pairs, {outcome.already} queued by this replay before"
        + (f", {outcome.unarchived} never queued (quarantined)" if outcome.unarchived else "")
        + (
            f", {outcome.in_flight} left while still in flight (run the replay again once they have settled)"
            if outcome.in_flight
            else ""
        )
    )


def _pick(connection: redis.Redis, message_ids: tuple[str, ...], values: dict[str, Any]) -> Iterator[Journey]:
    if not message_ids:
        yield from archive.select(connection, _selection(values), chunk=store_commands.CHUNK)
        return
    for message_id in message_ids:
        journey = archive.load(connection, message_id)
        if journey is None:
            raise click.ClickException(f"message {message_id} is not in the archive")
        yield journey


def attach(main: click.Group) -> None:
    main.add_command(messages)
    main.add_command(replay)
