"""`infobip-inbound dlq list|show|retry|purge`: inspect and redrive dead-lettered (message, handler) pairs."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import click
import orjson
import redis

from infobip_inbound.contract.store import dead_letter
from infobip_inbound.shell import loaded, store_commands
from infobip_inbound.shell.store_commands import parse_age
from infobip_inbound.shell.terminal import say

__all__ = ["attach", "dlq", "parse_age"]


_filters = store_commands.options(
    click.option("--handler", help="Only entries of this handler."),
    store_commands.application,
    store_commands.older_than("entries that failed"),
    store_commands.newer_than("entries that failed"),
    store_commands.limit,
)


def _select(
    connection: redis.Redis,
    handler: str | None,
    application: str | None,
    older_than: str | None,
    newer_than: str | None,
    limit: int | None,
    before: float | None = None,
) -> Iterable[dead_letter.DeadPair]:
    return dead_letter.select(
        connection,
        handler=handler,
        application=application,
        older_than=parse_age(older_than),
        newer_than=parse_age(newer_than),
        limit=limit,
        before=before,
        chunk=store_commands.CHUNK,
    )


def _pick(
    connection: redis.Redis, ids: tuple[str, ...], select_all: bool, filters: dict[str, Any]
) -> Iterable[dead_letter.DeadPair]:
    if ids and (select_all or any(v is not None for v in filters.values())):
        raise click.UsageError("give entry ids, or --all and/or filters, not both")
    if ids:
        entries = []
        for entry_id in ids:
            entry = dead_letter.get(connection, entry_id)
            if entry is None:
                raise click.ClickException(f"no dead-letter entry {entry_id}")
            entries.append(entry)
        return entries
    if not select_all and all(v is None for v in filters.values()):
        raise click.UsageError("name entry ids, or select with filters and/or --all")
    # Only pairs that failed before the command started: one failing again while it runs is not taken twice.
    return _select(connection, **filters, before=time.time())


def _line(entry: dead_letter.DeadPair) -> str:
    age = time.time() - entry.failed_at
    return (
        f"{entry.id}  {entry.message_id}  {entry.handler}  app={entry.application_code}  tries={entry.tries}  "
        f"age={age:.0f}s  {entry.error[:120]}"
    )


@click.group()
def dlq() -> None:
    """Dead-lettered (message, handler) pairs: those that failed their handler's last try."""


@dlq.command("list")
@store_commands.options(
    click.option("--handler", help="Only entries of this handler."),
    store_commands.application,
    store_commands.older_than("entries that failed"),
    store_commands.newer_than("entries that failed"),
    store_commands.list_limit,
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document: the entries, how many, and the total.")
@store_commands.store_command
def list_(as_json: bool, **filters: Any) -> None:
    """List entries, oldest first (without their tracebacks: `dlq show`)."""
    connection = loaded.connection()
    total = dead_letter.count(connection)
    store_commands.list_items(
        _select(connection, **filters),
        as_json,
        field="entries",
        to_json=lambda entry: orjson.dumps(_document(entry, traceback=False)),
        line=_line,
        total=("total", total),
        summary=lambda listed: store_commands.listed_line(listed, total, filters["limit"]),
    )


def _document(entry: dead_letter.DeadPair, traceback: bool = True) -> dict[str, Any]:
    """An entry as JSON: the response it was given as an object, `failed_at` as Unix seconds."""
    document = {**dataclasses.asdict(entry), "response": orjson.loads(entry.response)}
    if not traceback:
        del document["traceback"]
    return document


@dlq.command()
@click.argument("entry_id")
@click.option("--json", "as_json", is_flag=True, help="The entry as one JSON document.")
@store_commands.store_command
def show(entry_id: str, as_json: bool) -> None:
    """Show one entry: the pair, when it failed, the error, the traceback and the response."""
    entry = dead_letter.get(loaded.connection(), entry_id)
    if entry is None:
        raise click.ClickException(f"no dead-letter entry {entry_id}")
    if as_json:
        store_commands.print_json(_document(entry))
        return
    failed = datetime.fromtimestamp(entry.failed_at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    facts = {
        "entry": entry.id,
        "message_id": entry.message_id,
        "handler": entry.handler,
        "application": entry.application_code,
        "queue": entry.queue,
        "tries": str(entry.tries),
        "failed_at": failed,
        "error": entry.error,
    }
    for name, value in facts.items():
        say(f"{name:<12} {value}")
    say("traceback:")
    for line in entry.traceback.rstrip("\n").split("\n"):
        say(f"  {line}")
    say("response:")
    # JSON escapes C0 but not DEL or C1; `say` writes those as escapes too.
    for line in orjson.dumps(orjson.loads(entry.response), option=orjson.OPT_INDENT_2).decode().split("\n"):
        say(f"  {line}")


@dlq.command()
@click.argument("entry_ids", nargs=-1)
@store_commands.select_all
@_filters
@click.option("--dry-run", is_flag=True, help="Print what would be retried; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON summary document; no progress.")
@store_commands.store_command
def retry(entry_ids: tuple[str, ...], select_all: bool, dry_run: bool, as_json: bool, **filters: Any) -> None:
    """Run the handler of each selected entry again, for that message only (a fresh set of tries).

    Works 500 entries at a time, each chunk queued and removed from the store in one transaction: memory
    stays bounded however many are selected, and an interrupted run leaves each pair queued or still here.
    Only pairs that failed before the command started are taken."""
    from infobip_inbound.workers.failed_pairs import redrive

    settings = loaded.settings()
    connection = loaded.connection()
    entries = _pick(connection, entry_ids, select_all, filters)
    if dry_run:
        selected = retried = 0
        for selected, entry in enumerate(entries, start=1):  # noqa: B007 - the count is used after the loop
            if not as_json:
                say("would retry " + _line(entry))
    else:
        progress = store_commands.Progress("retried", enabled=not as_json)
        try:
            retried = selected = redrive(
                connection, settings, entries, chunk=store_commands.CHUNK, progress=progress.add
            )
        finally:
            progress.close()
    if as_json:
        store_commands.print_json(
            {"command": "dlq retry", "dry_run": dry_run, "selected": selected, "retried": retried}
        )
    else:
        click.echo(f"{'would retry' if dry_run else 'retried'} {selected}")


@dlq.command()
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
        "dlq purge", connection, entries, dead_letter.remove, _line, dry_run=dry_run, yes=yes, as_json=as_json
    )


def attach(main: click.Group) -> None:
    main.add_command(dlq)
