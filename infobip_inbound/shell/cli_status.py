"""`infobip-inbound status`: queues, throughput, failures, dead letters, workers, poller lease, dedup."""

from __future__ import annotations

import time

import click
import orjson
import redis

from infobip_inbound.shell import loaded


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for scripts.")
@click.option("--watch", is_flag=True, help="Refresh until interrupted.")
@click.option("--interval", type=click.FloatRange(0.5, 3600), default=2.0, show_default=True, help="With --watch.")
@click.option("--count", type=click.IntRange(1), default=None, help="With --watch: stop after this many refreshes.")
def status(as_json: bool, watch: bool, interval: float, count: int | None) -> None:
    """Queue depths, oldest job age, last minute's throughput, failures and dead letters per handler, workers
    alive, the poller holding the lease and its last drain, dedup hit rate."""
    from infobip_inbound.runtime.status import snapshot
    from infobip_inbound.shell.status_text import render

    settings, connection = loaded.settings(), loaded.connection()
    shown = 0
    try:
        while True:
            try:
                figures = snapshot(connection, settings)
            except (redis.RedisError, OSError) as exc:
                raise click.ClickException(f"Redis unavailable: {type(exc).__name__}: {exc}") from None
            if as_json:
                click.echo(orjson.dumps(figures, option=orjson.OPT_SORT_KEYS).decode())
            else:
                if watch:
                    click.clear()
                click.echo(render(figures), nl=False)
            shown += 1
            if not watch or (count is not None and shown >= count):
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return
    finally:
        connection.close()


def attach(group: click.Group) -> None:
    group.add_command(status)
