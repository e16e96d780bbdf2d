"""`infobip-inbound dlq list|show|retry|purge`: inspect and redrive dead-lettered (message, handler) pairs."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any

import click
import orjson
import redis

from infobip_inbound.contract import dead_letter
from infobip_inbound.contract.settings import ConfigError, load_settings

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(value: str | None) -> float | None:
    """`90`, `90s`, `15m`, `2h`, `7d` as seconds."""
    if value is None:
        return None
    match = _DURATION.match(value.strip())
    if not match:
        raise click.BadParameter(f"{value!r} is not a duration like 90s, 15m, 2h or 7d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _connection() -> redis.Redis:
    from infobip_inbound.runtime.redis_client import sync_client

    try:
        return sync_client(load_settings())
    except (ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _filters(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--handler", help="Only entries of this handler."),
            click.option("--application", help="Only entries of this application code."),
            click.option("--older-than", "older_than", help="Only entries that failed longer ago (e.g. 2h)."),
            click.option("--newer-than", "newer_than", help="Only entries that failed more recently (e.g. 15m)."),
            click.option("--limit", type=click.IntRange(min=1), help="At most this many entries."),
        ]
    ):
        command = option(command)
    return command


def _select(
    connection: redis.Redis,
    handler: str | None,
    application: str | None,
    older_than: str | None,
    newer_than: str | None,
    limit: int | None,
) -> list[dead_letter.DeadPair]:
    return list(
        dead_letter.select(
            connection,
            handler=handler,
            application=application,
            older_than=parse_age(older_than),
            newer_than=parse_age(newer_than),
            limit=limit,
        )
    )


def _pick(
    connection: redis.Redis, ids: tuple[str, ...], select_all: bool, filters: dict[str, Any]
) -> list[dead_letter.DeadPair]:
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
    return _select(connection, **filters)


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
@_filters
@click.option("--json", "as_json", is_flag=True, help="One JSON document per line (without tracebacks).")
def list_(as_json: bool, **filters: Any) -> None:
    """List entries, oldest first."""
    connection = _connection()
    entries = _select(connection, **filters)
    for entry in entries:
        if as_json:
            click.echo(orjson.dumps({k: v for k, v in dataclasses.asdict(entry).items() if k != "traceback"}).decode())
        else:
            click.echo(_line(entry))
    if not as_json:
        click.echo(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} (of {dead_letter.count(connection)})")


@dlq.command()
@click.argument("entry_id")
def show(entry_id: str) -> None:
    """Show one entry: the pair, the error, the traceback and the response."""
    entry = dead_letter.get(_connection(), entry_id)
    if entry is None:
        raise click.ClickException(f"no dead-letter entry {entry_id}")
    document = {**dataclasses.asdict(entry), "response": orjson.loads(entry.response)}
    click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())


@dlq.command()
@click.argument("entry_ids", nargs=-1)
@click.option("--all", "select_all", is_flag=True, help="Every entry the filters select (all if none).")
@_filters
@click.option("--dry-run", is_flag=True, help="Print what would be retried; change nothing.")
def retry(entry_ids: tuple[str, ...], select_all: bool, dry_run: bool, **filters: Any) -> None:
    """Run the handler of each selected entry again, for that message only (a fresh set of tries)."""
    from infobip_inbound.contract.store.jobs import Jobs
    from infobip_inbound.workers.failed_pairs import redrive

    connection = _connection()
    entries = _pick(connection, entry_ids, select_all, filters)
    for entry in entries:
        click.echo(("would retry " if dry_run else "retrying ") + _line(entry))
    if not dry_run and entries:
        redrive(connection, Jobs(load_settings()), entries)
    click.echo(f"{'would retry' if dry_run else 'retried'} {len(entries)}")


@dlq.command()
@click.argument("entry_ids", nargs=-1)
@click.option("--all", "select_all", is_flag=True, help="Every entry the filters select (all if none).")
@_filters
@click.option("--dry-run", is_flag=True, help="Print what would be removed; change nothing.")
def purge(entry_ids: tuple[str, ...], select_all: bool, dry_run: bool, **filters: Any) -> None:
    """Remove the selected entries for good."""
    connection = _connection()
    entries = _pick(connection, entry_ids, select_all, filters)
    for entry in entries:
        click.echo(("would purge " if dry_run else "purging ") + _line(entry))
    if not dry_run and entries:
        pipe = connection.pipeline(transaction=True)
        dead_letter.remove(pipe, (entry.id for entry in entries))
        pipe.execute()
    click.echo(f"{'would purge' if dry_run else 'purged'} {len(entries)}")


def attach(main: click.Group) -> None:
    main.add_command(dlq)
