"""The `infobip-inbound` command."""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from infobip_inbound.contract.settings import Settings
from infobip_inbound.shell import loaded
from infobip_inbound.shell.loaded import Loaded
from infobip_inbound.shell.vocabulary import Aliased

GLOBAL_FLAGS = frozenset({"-v", "--verbose"})


class _Redacting(click.Group):
    """Every command's one-line error leaves without the configured secrets and anything shaped like a
    credential (a URL's password or query string), as log lines do (infobip_inbound.contract.redaction)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # The global options are accepted after the subcommand too (`infobip-inbound status -v`): moved in front
        # of it, up to a `--` (after which everything is an argument). No command has options of these names.
        end = args.index("--") if "--" in args else len(args)
        moved = [arg for arg in args[:end] if arg in GLOBAL_FLAGS]
        if moved:
            args = moved + [arg for arg in args[:end] if arg not in GLOBAL_FLAGS] + args[end:]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            from infobip_inbound.contract.redaction import Redactor, redactor_for

            loaded_ = ctx.find_object(Loaded)
            settings = loaded_.settings if loaded_ is not None else None
            redact = redactor_for(settings) if settings is not None else Redactor([])
            setattr(exc, "message", redact(exc.message))  # noqa: B010 - typed Final, yet click's own field
            raise


@click.group(cls=_Redacting, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="infobip-inbound")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging, including the rq and httpx libraries.")
@click.pass_context
def main(context: click.Context, verbose: bool) -> None:
    """Receive Infobip Mobile Push user responses, queue them on Redis, hand them to handlers."""
    from infobip_inbound.runtime.logs import configure_cli_logging

    # Loaded once, here, for every command (shell.loaded); an invalid configuration is reported by the command
    # that needs settings. Loading also warns, once, about INBOUND_ variables no setting reads. The roles
    # (serve, worker, poller) configure logging again from their settings; this covers the short commands.
    context.obj = Loaded.load()
    configure_cli_logging(context.obj.settings, verbose)


@main.command()
@click.option("--host", default=None, help="Listen address [INBOUND_HOST].")
@click.option("--port", type=int, default=None, help="Listen port [INBOUND_PORT].")
@click.option(
    "--processes",
    "--workers",
    "workers",
    cls=Aliased,
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="uvicorn processes.",
)
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Run the receiver (the HTTP_FORWARD endpoint) under uvicorn."""
    from infobip_inbound.runtime import metrics_dir

    metrics_dir.prepare()  # before anything imports prometheus_client
    import uvicorn

    from infobip_inbound.receiver.app import create_app
    from infobip_inbound.receiver.edge.http_limits import HttpLimits
    from infobip_inbound.runtime.logs import configure_logging
    from infobip_inbound.runtime.process import settle_heap

    settings = loaded.settings(host=host, port=port)
    configure_logging(settings)
    try:
        app = create_app(settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    # The access log would print the secret path token: the receiver logs each request itself. The client
    # address behind proxies is the receiver's own business (INBOUND_TRUSTED_PROXIES), so uvicorn must not
    # rewrite it from X-Forwarded-For first.
    options: dict[str, Any] = {
        "access_log": False,
        "log_config": None,
        "server_header": False,
        "proxy_headers": False,
        # The HTTP limits (docs/reliability.md, "Limits"): the protocol that enforces them, and the keep-alive.
        **HttpLimits.from_settings(settings).uvicorn_options(),
    }
    if workers > 1:  # each process builds its app from the environment
        # A process slow to start (imports on a busy machine) is waited for rather than killed in a loop: uvicorn's
        # supervisor kills a child that has not answered its health check within this.
        uvicorn.run(
            "infobip_inbound.receiver.app:app_from_env",
            factory=True,
            workers=workers,
            timeout_worker_healthcheck=30,
            **_listen(settings),
            **options,
        )
        return
    settle_heap()
    uvicorn.run(app, **_listen(settings), **options)


def _listen(settings: Settings) -> dict[str, Any]:
    return {"host": settings.host, "port": settings.port}


@main.command()
@click.option("--burst", is_flag=True, help="Stop once the queues are empty.")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes.")
@click.option("--queue", "queues", multiple=True, help="Queue to work (repeatable) [INBOUND_WORKER_QUEUES].")
def worker(burst: bool, processes: int, queues: tuple[str, ...]) -> None:
    """Run RQ workers that hand queued responses to the routed handlers."""
    from infobip_inbound.runtime import metrics_dir

    metrics_dir.prepare()  # before anything imports prometheus_client
    import redis

    from infobip_inbound.runtime.logs import configure_logging
    from infobip_inbound.shell.loaded import one_line
    from infobip_inbound.workers.registry import HandlerNotFound
    from infobip_inbound.workers.worker import run_worker

    settings = loaded.settings(worker_queues=list(queues) or None)
    configure_logging(settings)
    try:
        run_worker(settings, burst=burst, processes=processes)
    except (HandlerNotFound, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except redis.RedisError as exc:  # a burst run with Redis away (a long-running worker waits for it)
        raise click.ClickException(one_line(f"Redis unavailable: {type(exc).__name__}: {exc}")) from None


@main.command("workers-ready")
@click.option("--timeout", type=click.FloatRange(min=0), default=600, show_default=True, help="Seconds to wait.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON document.")
def workers_ready(timeout: float, as_json: bool) -> None:
    """Wait until a running worker reads the responses this release writes. The chart runs it before a
    receiver or poller starts, so workers roll out before the writers of a new version."""
    import time

    import redis

    from infobip_inbound.contract.model import SCHEMA_VERSION
    from infobip_inbound.contract.store.readers import Readers
    from infobip_inbound.shell.loaded import one_line

    readers = Readers(loaded.connection())
    deadline = time.monotonic() + timeout
    problem = ""
    while True:
        try:
            workers = readers.reading(SCHEMA_VERSION)
        except redis.RedisError as exc:  # Redis may come up after this container: wait for it too
            workers, problem = 0, f"; last error: Redis unavailable: {type(exc).__name__}: {exc}"
        if workers:
            outcome = {"schema_version": SCHEMA_VERSION, "workers": workers}
            click.echo(
                orjson.dumps(outcome).decode()
                if as_json
                else f"{workers} worker(s) read schema version {SCHEMA_VERSION}"
            )
            return
        if time.monotonic() >= deadline:
            raise click.ClickException(
                one_line(f"no running worker reads schema version {SCHEMA_VERSION} after {timeout:g} s{problem}")
            )
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


@main.command()
def poller() -> None:
    """Drain Infobip's PULL inbox into the queues (one active poller across replicas, by lease)."""
    from infobip_inbound.runtime import metrics_dir

    metrics_dir.prepare()  # before anything imports prometheus_client
    from infobip_inbound.receiver.poller import PollerNotConfigured, run_poller
    from infobip_inbound.runtime.logs import configure_logging
    from infobip_inbound.runtime.redis_client import sync_client

    settings = loaded.settings()
    configure_logging(settings)
    try:
        run_poller(settings, sync_client(settings))
    except (PollerNotConfigured, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--simulator/--no-simulator", default=True, help="Use the Infobip simulator when no account is set.")
@click.option("--simulated-rate", type=click.FloatRange(min=0), default=0.5, show_default=True, help="Responses/s.")
def dev(simulator: bool, simulated_rate: float) -> None:
    """Run the whole stack locally: Redis (embedded unless INBOUND_REDIS_URL is set), the Infobip simulator
    (unless INBOUND_INFOBIP_* name an account), receiver, worker and poller."""
    from infobip_inbound.shell.dev import run_dev

    sys.exit(run_dev(simulator=simulator, simulated_rate=simulated_rate))


@main.command()
def schema() -> None:
    """Print the JSON Schema of the normalized UserResponse handlers receive."""
    from infobip_inbound.contract.model import json_schema

    click.echo(orjson.dumps(json_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())


from infobip_inbound.shell import (  # noqa: E402 - their commands attach to `main`
    cli_campaigns,
    cli_dlq,
    cli_handlers,
    cli_infobip,
    cli_messages,
    cli_pull,
    cli_quarantine,
    cli_send,
    cli_status,
)

cli_infobip.attach(main)
cli_send.attach(cli_infobip.infobip)
cli_dlq.attach(main)
cli_quarantine.attach(main)
cli_handlers.attach(main)
cli_status.attach(main)
cli_campaigns.attach(main)
cli_messages.attach(main)
cli_pull.attach(main)


if __name__ == "__main__":
    main()
