"""`infobip-inbound quarantine list|show|reprocess|purge`: what Infobip sent that could not be made into a
UserResponse, kept as sent: inspect it, read it again with the current parser, or remove it."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import click
import orjson
import redis

from infobip_inbound.contract.store import quarantine as store
from infobip_inbound.contract.store.quarantine import QuarantineEntry
from infobip_inbound.shell import loaded, store_commands
from infobip_inbound.shell.terminal import say

_filters = store_commands.options(
    store_commands.source,
    click.option("--reason", help="Only entries whose reason contains this text (any case)."),
    store_commands.older_than("entries set aside"),
    store_commands.newer_than("entries set aside"),
    store_commands.limit,
)


def _select(
    connection: redis.Redis,
    source: Any,
    reason: str | None,
    older_than: str | None,
    newer_than: str | None,
    limit: int | None,
) -> Iterable[QuarantineEntry]:
    return store.select(
        connection,
        source=source,
        reason=reason,
        older_than=store_commands.parse_age(older_than),
        newer_than=store_commands.parse_age(newer_than),
        limit=limit,
        chunk=store_commands.CHUNK,
    )


def _pick(
    connection: redis.Redis, ids: tuple[str, ...], select_all: bool, filters: dict[str, Any]
) -> Iterable[QuarantineEntry]:
    if ids and (select_all or any(v is not None for v in filters.values())):
        raise click.UsageError("give entry ids, or --all and/or filters, not both")
    if ids:
        entries = []
        for entry_id in ids:
            entry = store.get(connection, entry_id)
            if entry is None:
                raise click.ClickException(f"no quarantine entry {entry_id}")
            entries.append(entry)
        return entries
    if not select_all and all(v is None for v in filters.values()):
        raise click.UsageError("name entry ids, or select with filters and/or --all")
    return _select(connection, **filters)


def _line(entry: QuarantineEntry) -> str:
    age = time.time() - entry.at
    return (
        f"{entry.id}  {entry.kind}  {entry.source}  age={age:.0f}s  message={entry.message_id or '-'}  "
        f"{entry.reason[:120]}"
    )


def _raw_text(raw: str) -> str:
    """The raw content, pretty-printed when it is JSON."""
    try:
        return orjson.dumps(orjson.loads(raw), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return raw


@click.group()
def quarantine() -> None:
    """What Infobip sent that could not be made into a UserResponse, kept as sent with why and whence: one
    entry per result (or per PULL answer that is not an envelope at all)."""


@quarantine.command("list")
@store_commands.options(
    store_commands.source,
    click.option("--reason", help="Only entries whose reason contains this text (any case)."),
    store_commands.older_than("entries set aside"),
    store_commands.newer_than("entries set aside"),
    store_commands.list_limit,
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document: the entries, how many, and the total.")
@store_commands.store_command
def list_(as_json: bool, **filters: Any) -> None:
    """List entries, oldest first."""
    connection = loaded.connection()
    total = store.count(connection)
    store_commands.list_items(
        _select(connection, **filters),
        as_json,
        field="entries",
        to_json=QuarantineEntry.to_json,
        line=_line,
        total=("total", total),
        summary=lambda listed: store_commands.listed_line(listed, total, filters["limit"]),
    )


@quarantine.command()
@click.argument("entry_id")
@click.option("--json", "as_json", is_flag=True, help="The entry as one JSON document.")
@store_commands.store_command
def show(entry_id: str, as_json: bool) -> None:
    """Show one entry: why, whence, and what was sent (pretty-printed when it is JSON)."""
    entry = store.get(loaded.connection(), entry_id)
    if entry is None:
        raise click.ClickException(f"no quarantine entry {entry_id}")
    if as_json:
        store_commands.print_json(dataclasses.asdict(entry))
        return
    at = datetime.fromtimestamp(entry.at, UTC).isoformat(timespec="seconds")
    fields = {
        "id": entry.id,
        "kind": entry.kind,
        "source": entry.source,
        "reason": entry.reason,
        "at": f"{at} ({time.time() - entry.at:.0f}s ago)",
        "message_id": entry.message_id,
        "request_id": entry.request_id,
        "account": entry.account,
        "batch_id": entry.batch_id,
    }
    for name, value in fields.items():
        if value is not None:
            say(f"{name:<11} {value}")
    say("raw:")
    for line in _raw_text(entry.raw).split("\n"):  # what was sent, line by line
        say(line)


@quarantine.command()
@click.argument("entry_ids", nargs=-1)
@store_commands.select_all
@_filters
@click.option("--dry-run", is_flag=True, help="Print what each entry would come to; change nothing.")
@store_commands.yes
@click.option("--json", "as_json", is_flag=True, help="One JSON summary document; no progress.")
@store_commands.store_command
def reprocess(
    entry_ids: tuple[str, ...], select_all: bool, dry_run: bool, yes: bool, as_json: bool, **filters: Any
) -> None:
    """Read the selected entries again with the current parser and routes. What now passes is queued
    (deduplicated as usual) and its entry removed; what still fails stays. A body entry whose envelope now
    reads is replaced by its results: the readable ones queued, the others kept as result entries.

    Works 500 entries at a time, queueing each chunk before removing its entries: a run that is interrupted
    can be started again and queues nothing twice (within the dedup window), it only removes what is left."""
    from infobip_inbound.contract.routing import Router
    from infobip_inbound.receiver.enqueue import InboxWriter
    from infobip_inbound.receiver.reprocess import Totals
    from infobip_inbound.receiver.reprocess import reprocess as run

    settings = loaded.settings()
    connection = loaded.connection()
    entries = _pick(connection, entry_ids, select_all, filters)
    if not dry_run:
        entries = store_commands.confirmed(entries, yes, "reprocess")
    totals = Totals()
    progress = store_commands.Progress("reprocessed", enabled=not as_json and not dry_run)
    try:
        chunks = run(connection, InboxWriter(settings), Router.from_settings(settings), entries, dry_run=dry_run)
        for chunk in chunks:
            totals.add(chunk)
            progress.add(len(chunk.verdicts))
            if dry_run and not as_json:
                for verdict in chunk.verdicts:
                    if verdict.passes:
                        outcome = f"would queue {len(verdict.responses)}"
                        if verdict.requarantine:
                            outcome += f", keep {len(verdict.requarantine)} result(s)"
                    else:
                        outcome = f"still fails ({(verdict.reason or '')[:120]})"
                    say(f"{outcome}: {_line(verdict.entry)}")
    finally:
        progress.close()
    if as_json:
        store_commands.print_json({"command": "quarantine reprocess", "dry_run": dry_run, **dataclasses.asdict(totals)})
    elif dry_run:
        click.echo(
            f"would reprocess {totals.selected}: {totals.passed} would pass ({totals.responses} responses to queue, "
            f"{totals.requarantined} results to keep), {totals.still_failing} still failing"
        )
    else:
        click.echo(
            f"reprocessed {totals.selected}: {totals.passed} passed and removed ({totals.accepted} queued, "
            f"{totals.duplicates} duplicates, {totals.requarantined} results kept), "
            f"{totals.still_failing} still failing"
        )


@quarantine.command()
@click.argument("entry_ids", nargs=-1)
@store_commands.select_all
@_filters
@click.option("--dry-run", is_flag=True, help="Print what would be removed; change nothing.")
@store_commands.yes
@click.option("--json", "as_json", is_flag=True, help="One JSON summary document; no progress.")
@store_commands.store_command
def purge(
    entry_ids: tuple[str, ...], select_all: bool, dry_run: bool, yes: bool, as_json: bool, **filters: Any
) -> None:
    """Remove the selected entries for good, 500 per transaction."""
    connection = loaded.connection()
    entries = _pick(connection, entry_ids, select_all, filters)
    store_commands.purge(
        "quarantine purge", connection, entries, store.remove, _line, dry_run=dry_run, yes=yes, as_json=as_json
    )


def attach(main: click.Group) -> None:
    main.add_command(quarantine)
