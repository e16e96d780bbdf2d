"""Commands that talk to Infobip (or its simulator): `infobip configurations|actions ...`, `register`,
`unregister`, and `simulator` to run the stand-in locally."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
import orjson

from infobip_inbound.contract.settings import Settings
from infobip_inbound.infobip.client import (
    Action,
    InfobipClient,
    InfobipError,
    InfobipNotConfigured,
    InfobipTransportError,
)
from infobip_inbound.infobip.forward_url import forward_url_for, redact_forward_url
from infobip_inbound.shell import loaded
from infobip_inbound.shell.registration import Plan, apply, plan_register, plan_unregister
from infobip_inbound.shell.terminal import table
from infobip_inbound.shell.vocabulary import Aliased


def explain(exc: InfobipError) -> str:
    """A message an operator can act on, for the errors these endpoints are known to answer."""
    known = {
        "1": "the application does not exist on this account (check --app / INBOUND_INFOBIP_APPLICATION_CODE)",
        "5": "the action does not exist",
        "6": "the configuration does not exist",
        "8": "Infobip rejected the action request",
    }
    if exc.in_doubt:
        reason = (
            f"in doubt: Infobip answered {exc.status} after the request was sent, so it may have acted on it; "
            "it was not sent again: check the reports before sending it again"
        )
    elif exc.status == 401:
        reason = "Infobip rejected the API key: check INBOUND_INFOBIP_API_KEY and INBOUND_INFOBIP_BASE_URL"
    elif exc.status == 403:
        reason = "the API key is not allowed to do this (missing permissions on the key)"
    elif exc.status == 409:
        reason = "the application already has a configuration (Infobip allows one per application)"
    elif exc.status == 429:
        reason = "Infobip throttled the request (10 requests per second) and retries ran out; try again shortly"
    elif exc.status >= 500:
        reason = "Infobip had a server error and retries ran out; try again later"
    else:
        reason = known.get(exc.message_id or "", exc.text)
    details = f" {orjson.dumps(exc.validation_errors).decode()}" if exc.validation_errors else ""
    return f"{reason}{details} [HTTP {exc.status}, messageId {exc.message_id or '-'}: {exc.text}]"


@contextmanager
def infobip_client(settings: Settings) -> Iterator[InfobipClient]:
    """The API client, with Infobip's failures turned into one readable error line."""
    try:
        client = InfobipClient.from_settings(settings)
    except InfobipNotConfigured as exc:
        raise click.ClickException(str(exc)) from None
    try:
        with client:
            yield client
    except InfobipError as exc:
        raise click.ClickException(explain(exc)) from None
    except InfobipTransportError as exc:
        hint = " (timed out)" if exc.timed_out else ""
        if exc.in_doubt:
            raise click.ClickException(
                f"in doubt: no answer from Infobip at {client.base_url}{hint} ({exc.method} {exc.path}) after the "
                "request was sent, so it may have acted on it; it was not sent again: check the reports before "
                "sending it again"
            ) from None
        raise click.ClickException(f"no answer from Infobip at {client.base_url}{hint}: {exc}") from None


def application_code(settings: Settings, app: str | None) -> str:
    code = app or settings.infobip_application_code
    if not code:
        raise click.UsageError("no application code: pass --app or set INBOUND_INFOBIP_APPLICATION_CODE")
    return code


def only_configuration(client: InfobipClient, app: str) -> str:
    keys = client.list_configurations(app)
    if not keys:
        raise click.ClickException(
            f"application {app} has no configuration: create one with `infobip-inbound infobip configurations create`"
        )
    return keys[0]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if not rows:
        click.echo("(none)")
        return
    for line in table([h.upper() for h in headers], [list(row) for row in rows]):
        click.echo(line)


def print_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def action_json(action: Action, show_secrets: bool) -> dict[str, Any]:
    data = action.model_dump(by_alias=True, exclude_none=True)
    if action.forward_url and not show_secrets:
        data["forwardUrl"] = redact_forward_url(action.forward_url)
    return data


app_option = click.option(
    "--application",
    "--app",
    "app",
    cls=Aliased,
    default=None,
    help="Application code [INBOUND_INFOBIP_APPLICATION_CODE].",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
# Commands that change something: one JSON document describing what changed (shapes in the README).
json_result_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document of the result.")
configuration_option = click.option(
    "--configuration", "configuration", default=None, help="Configuration key; default: the application's one."
)


@click.group()
def infobip() -> None:
    """Manage the Infobip configuration and actions of a mobile application; send push and OMNI messages."""


@infobip.group()
def configurations() -> None:
    """An application's configuration (Infobip allows one): the container of its actions."""


@configurations.command("list")
@app_option
@json_option
def configurations_list(app: str | None, as_json: bool) -> None:
    """List the configuration keys of the application."""
    settings = loaded.settings()
    code = application_code(settings, app)
    with infobip_client(settings) as client:
        keys = client.list_configurations(code)
    if as_json:
        print_json({"configurations": [{"key": key} for key in keys]})
    else:
        print_table(["key"], [[key] for key in keys])


@configurations.command("get")
@app_option
@json_option
@click.argument("key", required=False)
def configurations_get(app: str | None, as_json: bool, key: str | None) -> None:
    """Show configuration KEY (default: the application's one) and how many actions it holds."""
    settings = loaded.settings()
    code = application_code(settings, app)
    with infobip_client(settings) as client:
        key = client.get_configuration(code, key) if key else only_configuration(client, code)
        found = client.list_actions(code, key)
    if as_json:
        print_json({"key": key, "applicationCode": code, "actions": len(found)})
    else:
        print_table(["key", "application", "actions"], [[key, code, str(len(found))]])


@configurations.command("create")
@app_option
@json_option
def configurations_create(app: str | None, as_json: bool) -> None:
    """Create the application's configuration and print its key."""
    settings = loaded.settings()
    code = application_code(settings, app)
    with infobip_client(settings) as client:
        key = client.create_configuration(code)
    if as_json:
        print_json({"key": key})
    else:
        click.echo(f"created configuration {key} for application {code}")


@configurations.command("delete")
@app_option
@json_result_option
@click.argument("key")
def configurations_delete(app: str | None, as_json: bool, key: str) -> None:
    """Delete configuration KEY and, with it, its actions."""
    settings = loaded.settings()
    code = application_code(settings, app)
    with infobip_client(settings) as client:
        client.delete_configuration(code, key)
    if as_json:
        print_json({"deleted": {"configuration": key, "applicationCode": code}})
    else:
        click.echo(f"deleted configuration {key} of application {code}")


@infobip.group()
def actions() -> None:
    """What Infobip does with user responses: HTTP_FORWARD to a URL, or keep them for PULL."""


@actions.command("list")
@app_option
@configuration_option
@json_option
@click.option("--show-secrets", is_flag=True, help="Show credentials embedded in forward URLs.")
def actions_list(app: str | None, configuration: str | None, as_json: bool, show_secrets: bool) -> None:
    """List the actions of a configuration."""
    settings = loaded.settings()
    code = application_code(settings, app)
    with infobip_client(settings) as client:
        key = configuration or only_configuration(client, code)
        found = client.list_actions(code, key)
    shown = [action_json(action, show_secrets) for action in found]
    if as_json:
        print_json({"configuration": key, "actions": shown})
    else:
        rows = [[a["key"], a["type"], a.get("forwardUrl", ""), a.get("callbackData", "")] for a in shown]
        print_table(["key", "type", "forward url", "callback data"], rows)


@actions.command("create")
@app_option
@configuration_option
@json_option
@click.option(
    "--type",
    "kind",
    type=click.Choice(["HTTP_FORWARD", "PULL"]),
    required=True,
    help="HTTP_FORWARD: Infobip POSTs each response to --forward-url; PULL: Infobip keeps them to be pulled.",
)
@click.option("--forward-url", default=None, help="Where Infobip POSTs responses (HTTP_FORWARD).")
@click.option("--callback-data", default=None, help="String Infobip sets as callbackData on each response.")
def actions_create(
    app: str | None,
    configuration: str | None,
    as_json: bool,
    kind: str,
    forward_url: str | None,
    callback_data: str | None,
) -> None:
    """Create an HTTP_FORWARD or PULL action in a configuration."""
    if kind == "HTTP_FORWARD" and not forward_url:
        raise click.UsageError("--forward-url is required for HTTP_FORWARD")
    settings = loaded.settings()
    code = application_code(settings, app)
    with infobip_client(settings) as client:
        key = configuration or only_configuration(client, code)
        action = client.create_action(
            code, key, "PULL" if kind == "PULL" else "HTTP_FORWARD", forward_url, callback_data
        )
    if as_json:
        print_json(action_json(action, show_secrets=False))
    else:
        click.echo(f"created {action.type} action {action.key} in configuration {key}")


@actions.command("delete")
@app_option
@configuration_option
@json_result_option
@click.argument("key")
def actions_delete(app: str | None, configuration: str | None, as_json: bool, key: str) -> None:
    """Delete action KEY."""
    settings = loaded.settings()
    code = application_code(settings, app)
    with infobip_client(settings) as client:
        configuration_key = configuration or only_configuration(client, code)
        client.delete_action(code, configuration_key, key)
    if as_json:
        print_json({"deleted": {"action": key, "configuration": configuration_key, "applicationCode": code}})
    else:
        click.echo(f"deleted action {key} of configuration {configuration_key}")


def _floats(value: str) -> list[float]:
    try:
        return [float(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter("expected comma-separated seconds, e.g. 0.1,0.5,1") from None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address of the simulator.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=9090, show_default=True, help="Listen port of the simulator."
)
@click.option("--api-key", "api_keys", multiple=True, help="Accepted API key (repeatable) [default: sim-api-key].")
@click.option(
    "--application", "--app", "apps", cls=Aliased, multiple=True, help="Application code that exists (repeatable)."
)
@click.option("--rate", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Responses per second.")
@click.option(
    "--requests-per-second",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Requests per second per API key, as Infobip throttles (0: off).",
)
@click.option("--forward-retry-delays", default=None, help="Seconds between forward tries [Infobip's schedule].")
@click.option("--seed", type=int, default=None, help="Make generated responses reproducible.")
def simulator(
    host: str,
    port: int,
    api_keys: tuple[str, ...],
    apps: tuple[str, ...],
    rate: float,
    requests_per_second: int,
    forward_retry_delays: str | None,
    seed: int | None,
) -> None:
    """Run a local stand-in for Infobip: management and pull endpoints, HTTP_FORWARD delivery, generated
    user responses, fault injection and counters (admin endpoints under /_sim)."""
    import uvicorn

    from infobip_inbound.simulator.app import create_app
    from infobip_inbound.simulator.state import Options

    options = Options(requests_per_second=requests_per_second, generate_per_second=rate, seed=seed)
    if api_keys:
        options.api_keys = list(api_keys)
    if apps:
        options.application_codes = list(apps)
    if forward_retry_delays is not None:
        options.forward_retry_delays = _floats(forward_retry_delays)
    click.echo(
        f"Infobip simulator on http://{host}:{port} applications {', '.join(options.application_codes)}",
        err=True,
    )
    uvicorn.run(create_app(options), host=host, port=port, access_log=False, log_level="warning")


public_url_option = click.option(
    "--public-url",
    required=True,
    help="Where Infobip reaches this service, e.g. https://inbound.example.com (the forward path is added).",
)
callback_data_option = click.option(
    "--callback-data",
    default=None,
    help="callbackData for our action (yours: Infobip puts it on every response); none unless given. "
    "A PULL action, having no URL, is recognised as ours by it.",
)
dry_run_option = click.option("--dry-run", is_flag=True, help="Show what would change, change nothing.")


def _run_plan(
    settings: Settings, make_plan: Callable[[InfobipClient], Plan], dry_run: bool, as_json: bool = False
) -> None:
    with infobip_client(settings) as client:
        plan = make_plan(client)
        if not as_json:
            for line in plan.describe():
                click.echo(("would " if dry_run and plan.changes_anything else "") + line)
        if not dry_run:
            apply(client, plan)
    if as_json:  # after the changes: a failure prints its one error line, never a plan that did not happen
        print_json(
            {
                "applicationCode": plan.application_code,
                "configuration": plan.configuration,
                "dryRun": dry_run,
                "changed": plan.changes_anything and not dry_run,
                "steps": plan.describe() if plan.changes_anything else [],
            }
        )


@click.command()
@public_url_option
@app_option
@callback_data_option
@click.option("--pull", is_flag=True, help="Set up a PULL action instead of HTTP_FORWARD.")
@dry_run_option
@json_result_option
def register(
    public_url: str, app: str | None, callback_data: str | None, pull: bool, dry_run: bool, as_json: bool
) -> None:
    """Make Infobip deliver this application's user responses to us: exactly one HTTP_FORWARD action to our
    forward endpoint with the current credentials (or one PULL action); stale ones are removed. Idempotent."""
    settings = loaded.settings()
    code = application_code(settings, app)
    forward_url = None
    if not pull:
        try:
            forward_url = forward_url_for(public_url, settings)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    _run_plan(
        settings, lambda client: plan_register(client, code, public_url, forward_url, callback_data), dry_run, as_json
    )


@click.command()
@public_url_option
@app_option
@callback_data_option
@dry_run_option
@json_result_option
def unregister(public_url: str, app: str | None, callback_data: str | None, dry_run: bool, as_json: bool) -> None:
    """Remove our actions (forwards to our endpoint, our PULL action), and the configuration if left empty."""
    settings = loaded.settings()
    code = application_code(settings, app)
    _run_plan(settings, lambda client: plan_unregister(client, code, public_url, callback_data), dry_run, as_json)


def attach(main: click.Group) -> None:
    for command in (infobip, register, unregister, simulator):
        main.add_command(command)
