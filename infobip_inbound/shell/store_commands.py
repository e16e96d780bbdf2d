"""What the store commands (`dlq`, `quarantine`, `messages`) share: the filter options, one-line Redis errors,
ages, the --yes rule for actions on many entries, a progress line, and the --json summary."""

from __future__ import annotations

import functools
import itertools
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ParamSpec, Protocol, TypeVar

import click
import orjson
import redis
from redis.client import Pipeline

from infobip_inbound.contract import durations
from infobip_inbound.shell.loaded import one_line
from infobip_inbound.shell.terminal import say

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

CHUNK = 500  # entries per transaction in bulk actions: memory and each MULTI stay bounded


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def options(*decorators: Decorator) -> Decorator:
    """Several click options as one decorator, listed in the order `--help` shows them."""

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


# The filters the store commands share (each command says what its ages count from).
def newer_than(what: str) -> Decorator:
    return click.option("--newer-than", "newer_than", help=f"Only {what} more recently than this (e.g. 15m, 2h, 7d).")


def older_than(what: str) -> Decorator:
    return click.option("--older-than", "older_than", help=f"Only {what} longer ago than this (e.g. 2h).")


application = click.option("--application", help="Only this application code.")
source = click.option("--source", type=click.Choice(["forward", "pull"]), help="Only what came this way.")
limit = click.option("--limit", type=click.IntRange(min=1), help="At most this many entries.")
LIST_LIMIT = 50  # what every list command shows unless told otherwise (`listed_line` says when it cut)
list_limit = click.option(
    "--limit", type=click.IntRange(min=1), default=LIST_LIMIT, show_default=True, help="At most this many."
)


def listed_line(listed: int, total: int | None, limit: int | None) -> str:
    """A listing's last line: how many it showed, of how many, and how to see more when it cut."""
    of = f" (of {total})" if total is not None else ""
    more = f"; --limit {limit * 10} shows more" if limit is not None and listed >= limit else ""
    return f"{listed} shown{of}{more}"


select_all = click.option("--all", "select_all", is_flag=True, help="Every entry the filters select (all if none).")
yes = click.option("--yes", is_flag=True, help="Needed when more than one entry is selected.")


def parse_age(value: str | None) -> float | None:
    """`90`, `90s`, `15m`, `2h`, `7d`, `1w` as seconds (infobip_inbound.contract.durations)."""
    if value is None:
        return None
    found = durations.seconds(value)
    if found is None:
        raise click.BadParameter(f"{value!r} is not a duration like 90s, 15m, 2h or 7d")
    return found


def store_command(command: Callable[P, R]) -> Callable[P, R]:
    """A Redis that cannot be reached is one line on stderr and exit status 1, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except BrokenPipeError:
            raise  # the reader of our output went away: not Redis
        except (redis.RedisError, OSError) as exc:
            raise click.ClickException(one_line(f"Redis unavailable: {type(exc).__name__}: {exc}")) from None

    return wrapper


def confirmed(entries: Iterable[T], yes: bool, verb: str) -> Iterator[T]:
    """The entries, unless more than one is selected without --yes: then a one-line refusal. Looks at the
    first two only, so a large selection is never loaded to count it."""
    iterator = iter(entries)
    head = list(itertools.islice(iterator, 2))
    if len(head) > 1 and not yes:
        raise click.ClickException(
            f"this would {verb} more than one entry: add --yes (see what it selects with --dry-run)"
        )
    return itertools.chain(head, iterator)


def chunks(entries: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    iterator = iter(entries)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class Progress:
    """A count on stderr, rewritten in place, when stderr is a terminal (and not under --json)."""

    def __init__(self, verb: str, enabled: bool = True) -> None:
        self._verb = verb
        self._enabled = enabled and sys.stderr.isatty()
        self._started = time.monotonic()
        self.done = 0

    def add(self, count: int) -> None:
        self.done += count
        if self._enabled:
            rate = self.done / max(time.monotonic() - self._started, 1e-3)
            click.echo(f"\r{self._verb} {self.done} ({rate:.0f}/s)", err=True, nl=False)

    def close(self) -> None:
        if self._enabled and self.done:
            click.echo(err=True)


def list_items(
    items: Iterable[T],
    as_json: bool,
    *,
    field: str,
    to_json: Callable[[T], bytes],
    line: Callable[[T], str],
    total: tuple[str, int],
    summary: Callable[[int], str],
) -> None:
    """A store's listing: one line per item and a summary line, or one JSON document {field: [...], "listed":
    n, total name: total} written as the items are read, so a large store is never held whole."""
    listed = 0
    if as_json:
        click.echo(f'{{"{field}":[', nl=False)
    for item in items:
        if as_json:
            click.echo(("," if listed else "") + to_json(item).decode(), nl=False)
        else:
            say(line(item))
        listed += 1
    if as_json:
        click.echo(f'],"listed":{listed},"{total[0]}":{total[1]}}}')
    else:
        click.echo(summary(listed))


def print_json(document: dict[str, Any]) -> None:
    """One JSON document on one line, keys sorted: as `status --json` prints."""
    click.echo(orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode())


class Stored(Protocol):
    """An entry of a store the bulk commands work on (dead letters, the quarantine)."""

    @property
    def id(self) -> str: ...


S = TypeVar("S", bound=Stored)


def purge(
    command: str,
    connection: redis.Redis,
    entries: Iterable[S],
    remove: Callable[[Pipeline, Iterable[str]], None],
    describe: Callable[[S], str],
    *,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Remove the selected entries for good, CHUNK per transaction (or, with dry_run, say which)."""
    if not dry_run:
        entries = confirmed(entries, yes, "purge")
    progress = Progress("purged", enabled=not as_json and not dry_run)
    selected = 0
    try:
        for chunk in chunks(entries):
            selected += len(chunk)
            if dry_run:
                if not as_json:
                    for entry in chunk:
                        say("would purge " + describe(entry))
                continue
            pipe = connection.pipeline(transaction=True)
            remove(pipe, (entry.id for entry in chunk))
            pipe.execute()
            progress.add(len(chunk))
    finally:
        progress.close()
    if as_json:
        purged = 0 if dry_run else selected
        print_json({"command": command, "dry_run": dry_run, "selected": selected, "purged": purged})
    else:
        click.echo(f"{'would purge' if dry_run else 'purged'} {selected}")
