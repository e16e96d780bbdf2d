"""`pull once`: drain a PULL inbox into the queues by hand (a backfill, or a check of a PULL setup) without
running the poller service."""

from __future__ import annotations

import click
import redis

from infobip_inbound.infobip.client import InfobipError, InfobipTransportError
from infobip_inbound.shell import loaded
from infobip_inbound.shell.cli_infobip import explain, print_json


@click.group("pull")
def pull() -> None:
    """Pull Infobip's PULL inbox by hand."""


@pull.command("once")
@click.option("--account", default=None, help="Poll account name [the first of INBOUND_POLL_ACCOUNTS, or default].")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Take at most this many messages [all that are pending].",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document of what was queued.")
def pull_once_command(account: str | None, limit: int | None, as_json: bool) -> None:
    """Drain the PULL inbox into the queues once, as the poller does: each answer is stored raw in Redis
    before it is read, batches a crashed run left stored are queued first, duplicates are dropped by the same
    dedup as forwards, unreadable results go to the quarantine. Infobip hands each message out once."""
    from infobip_inbound.receiver.poller import PollerNotConfigured
    from infobip_inbound.receiver.pull_once import UnknownAccount, pull_once

    settings, connection = loaded.settings(), loaded.connection()
    try:
        run = pull_once(settings, connection, account, limit)
    except UnknownAccount as exc:
        raise click.UsageError(str(exc)) from None
    except PollerNotConfigured as exc:
        raise click.ClickException(str(exc)) from None
    except InfobipError as exc:
        raise click.ClickException(f"pull failed (what was pulled before is queued): {explain(exc)}") from None
    except InfobipTransportError as exc:
        raise click.ClickException(f"pull failed (what was pulled before is queued): {exc}") from None
    except (redis.RedisError, OSError) as exc:
        raise click.ClickException(f"Redis unavailable: {type(exc).__name__}: {exc}") from None
    finally:
        connection.close()
    figures = run.as_json()
    if as_json:
        print_json(figures)
        return
    recovered = (
        f", {figures['recovered_batches']} stored batch(es) of an earlier run queued first" if run.recovered else ""
    )
    pending = "unknown" if run.pending is None else str(run.pending)
    click.echo(
        f"account {run.account}: pulled {figures['pulled']} message(s) in {figures['pulls']} pull(s){recovered}; "
        f"queued {figures['queued']}, duplicates {figures['duplicates']}, quarantined {figures['quarantined']}; "
        f"still pending at Infobip: {pending}"
    )


def attach(main: click.Group) -> None:
    main.add_command(pull)
