"""`infobip-inbound handlers list|pause|resume`: the flow state of each handler, shared by every worker."""

from __future__ import annotations

import time

import click
import orjson

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.store import handler_state
from infobip_inbound.contract.store.announcements import Announcements, running
from infobip_inbound.contract.store.handler_state import Breaker
from infobip_inbound.runtime.status import handler_backlog, lanes_of
from infobip_inbound.shell import loaded
from infobip_inbound.shell.store_commands import store_command


@click.group()
def handlers() -> None:
    """Pause, resume and inspect handlers (all workers together)."""


@handlers.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@store_command
def list_handlers(as_json: bool) -> None:
    """Each handler the live workers run (as they announced it), each this configuration routes, and any other
    with a state: running, paused, or its breaker open; how many worker processes run it; and its backlog, the
    pairs waiting in its lanes and how long the oldest has waited."""
    settings, connection = loaded.settings(), loaded.connection()
    run_by = running(Announcements(connection).live())
    states = handler_state.read(connection, [*Router.from_settings(settings).handler_names, *run_by])
    backlog = handler_backlog(connection, lanes_of(settings))
    if as_json:
        documents = [
            state.as_dict() | {"workers": run_by.get(state.name, 0)} | _backlog(backlog, state.name) for state in states
        ]
        click.echo(orjson.dumps(documents).decode())
        return
    for state in states:
        detail = f"  {state.failures} consecutive failures" if state.failures else ""
        if state.open_until and state.breaker == Breaker.OPEN.label:
            detail += f", probe in {max(0.0, state.open_until - time.time()):.0f}s"
        waiting = _backlog(backlog, state.name)
        if waiting["backlog"]:
            detail += f"  backlog {waiting['backlog']}, oldest {waiting['backlog_oldest_age_seconds']:.0f}s"
        workers = run_by.get(state.name, 0)
        detail += f"  run by {workers} worker process(es)" if workers else "  run by no live worker"
        click.echo(f"{state.name:40} {state.state}{detail}")


def _backlog(backlog: dict[str, dict[str, float]], name: str) -> dict[str, float]:
    mine = backlog.get(name, {})
    return {"backlog": int(mine.get("waiting", 0)), "backlog_oldest_age_seconds": mine.get("oldest_age_seconds", 0.0)}


_JSON = click.option("--json", "as_json", is_flag=True, help='One JSON object: {"handler", "state", "changed"}.')


@handlers.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Pause NAME though no live worker runs it (one about to be deployed).")
@_JSON
@store_command
def pause(name: str, force: bool, as_json: bool) -> None:
    """Hold NAME's pairs (they wait, spending no tries) until `resume`. NAME must be a handler a live worker
    runs, as the workers announced it (`handlers list`), unless --force."""
    connection = loaded.connection()
    run_by = running(Announcements(connection).live())
    if name not in run_by and not force:
        known = ", ".join(sorted(run_by)) or "none: no worker is live"
        raise click.ClickException(f"no live worker runs {name!r} (they run: {known}); --force pauses it anyway")
    changed = handler_state.pause(connection, name)
    _changed(name, "paused", changed, as_json, f"{name}: paused" if changed else f"{name}: already paused")


@handlers.command()
@click.argument("name")
@_JSON
@store_command
def resume(name: str, as_json: bool) -> None:
    """Let NAME's pairs run again; held pairs run at their next look (hold_seconds)."""
    connection = loaded.connection()
    changed = handler_state.resume(connection, name)
    _changed(name, "running", changed, as_json, f"{name}: resumed" if changed else f"{name}: was not paused")


def _changed(name: str, state: str, changed: bool, as_json: bool, line: str) -> None:
    if as_json:
        click.echo(orjson.dumps({"handler": name, "state": state, "changed": changed}).decode())
    else:
        click.echo(line)


def attach(main: click.Group) -> None:
    main.add_command(handlers)
