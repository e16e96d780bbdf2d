"""Commands that send: `infobip push send|stats|reports` and `infobip omni scenarios list|create|send|reports`.

Requests are built as the client's typed models, so a malformed one is refused here, in one line, before
anything reaches Infobip. Tables by default, `--json` for scripts.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson
import redis
from pydantic import BaseModel, ValidationError

from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import campaigns
from infobip_inbound.infobip.omni import (
    OmniAdvancedRequest,
    OmniReport,
    Scenario,
    ScenarioRequest,
)
from infobip_inbound.infobip.push import (
    DEVICE_BOOLEAN_ATTRIBUTES,
    PushReport,
    PushRequest,
)
from infobip_inbound.infobip.wire import Status, field_errors
from infobip_inbound.runtime.redis_client import sync_client
from infobip_inbound.shell import loaded
from infobip_inbound.shell.cli_infobip import (
    app_option,
    application_code,
    infobip_client,
    json_option,
    print_json,
    print_table,
)
from infobip_inbound.shell.vocabulary import Aliased

M = TypeVar("M", bound=BaseModel)

file_option = click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The request body as Infobip documents it, in a .json or .toml file.",
)


def load_file(path: Path) -> dict[str, Any]:
    try:
        if path.suffix.lower() == ".toml":
            body: Any = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            body = orjson.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, orjson.JSONDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from None
    if not isinstance(body, dict):
        raise click.ClickException(f"{path} must hold one JSON/TOML object")
    return body


def build(model: type[M], body: dict[str, Any], what: str) -> M:
    """`body` as `model`, or one line naming every field that is wrong."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{field}: {', '.join(msgs)}" for field, msgs in field_errors(exc).items())
        raise click.ClickException(f"invalid {what} (nothing was sent): {problems}") from None


def json_object(value: str | None, option: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise click.BadParameter("expected a JSON object", param_hint=option) from None
    if not isinstance(parsed, dict):
        raise click.BadParameter("expected a JSON object", param_hint=option)
    return parsed


def conditions(pairs: tuple[str, ...], option: str) -> list[dict[str, Any]]:
    """`platform=iOS notificationsEnabled=true` as `[{"platform": "iOS"}, {"notificationsEnabled": true}]`."""
    found: list[dict[str, Any]] = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected ATTRIBUTE=VALUE, got {pair!r}", param_hint=option)
        if name in DEVICE_BOOLEAN_ATTRIBUTES and value.lower() in {"true", "false"}:
            found.append({name: value.lower() == "true"})
        else:
            found.append({name: value})
    return found


def status_text(status: Status | None) -> str:
    if status is None:
        return ""
    return status.name or status.group_name or ""


@click.group()
def push() -> None:
    """Send push messages and read their statistics and delivery reports."""


@push.command("send")
@file_option
@app_option
@click.option("--registration-id", "registration_ids", multiple=True, help="Push registration ID (repeatable).")
@click.option("--external-user-id", "external_user_ids", multiple=True, help="External user ID (repeatable).")
@click.option("--phone-number", "phone_numbers", multiple=True, help="MSISDN, e.g. 41793026727 (repeatable).")
@click.option("--email", "emails", multiple=True, help="Email address of a person (repeatable).")
@click.option("--and", "and_pairs", multiple=True, metavar="ATTR=VALUE", help="Segment: all must hold (repeatable).")
@click.option("--or", "or_pairs", multiple=True, metavar="ATTR=VALUE", help="Segment: any must hold (repeatable).")
@click.option("--primary-only", is_flag=True, help="Only each person's primary device (targetOnlyPrimaryDevices).")
@click.option("--push-title", "--title", "title", cls=Aliased, default=None, help="Notification title.")
@click.option("--push-text", "--text", "text", cls=Aliased, default=None, help="Notification text.")
@click.option("--payload", default=None, metavar="JSON", help="customPayload, a JSON object.")
@click.option(
    "--notification-options", default=None, metavar="JSON", help="notificationOptions, a JSON object (camelCase)."
)
@json_option
def push_send(
    path: Path | None,
    app: str | None,
    registration_ids: tuple[str, ...],
    external_user_ids: tuple[str, ...],
    phone_numbers: tuple[str, ...],
    emails: tuple[str, ...],
    and_pairs: tuple[str, ...],
    or_pairs: tuple[str, ...],
    primary_only: bool,
    title: str | None,
    text: str | None,
    payload: str | None,
    notification_options: str | None,
    as_json: bool,
) -> None:
    """Send a push message: from --file (a {"messages": [...]} body, or one message), or built from the
    options (one message to every destination given; --and/--or make one MULTIPLE destination)."""
    settings = loaded.settings()
    flags = registration_ids, external_user_ids, phone_numbers, emails, and_pairs, or_pairs
    built_from_flags = any(flags) or primary_only or any(v is not None for v in (title, text, payload))
    if path is not None and (built_from_flags or notification_options is not None):
        raise click.UsageError("give either --file or the message options, not both")
    if path is not None:
        body = load_file(path)
        if "messages" not in body:  # one message; its sender defaults to --app / the configured application
            sender = body.get("sender") or application_code(settings, app)
            body = {"messages": [{**body, "sender": sender}]}
    else:
        if not text:
            raise click.UsageError("give --text (or a request in --file)")
        primary = {"targetOnlyPrimaryDevices": True} if primary_only else {}
        destinations: list[dict[str, Any]] = [
            *({"type": "REGISTRATION", "pushRegistrationId": r} for r in registration_ids),
            *({"type": "EXTERNAL_USER_ID", "externalUserId": u, **primary} for u in external_user_ids),
            *({"type": "PHONE_NUMBER", "phoneNumber": p, **primary} for p in phone_numbers),
            *({"type": "EMAIL", "email": e, **primary} for e in emails),
        ]
        if and_pairs or or_pairs:
            segment: dict[str, Any] = {"type": "MULTIPLE", **primary}
            if and_pairs:
                segment["$and"] = conditions(and_pairs, "--and")
            if or_pairs:
                segment["$or"] = conditions(or_pairs, "--or")
            destinations.append(segment)
        if not destinations:
            raise click.UsageError("give at least one destination (--registration-id, --external-user-id, ...)")
        options = {
            "customPayload": json_object(payload, "--payload"),
            "notificationOptions": json_object(notification_options, "--notification-options"),
        }
        message: dict[str, Any] = {
            "sender": application_code(settings, app),
            "destinations": destinations,
            "content": {"text": text, **({"title": title} if title is not None else {})},
        }
        if any(v is not None for v in options.values()):
            message["options"] = {k: v for k, v in options.items() if v is not None}
        body = {"messages": [message]}
    request = build(PushRequest, body, "push request")
    with infobip_client(settings) as client:
        answer = client.send_push(request)
    if answer.bulk_id:
        _record_send(settings, answer.bulk_id)
    if as_json:
        print_json(answer.wire())
        return
    click.echo(f"bulk {answer.bulk_id or '-'}: {len(answer.messages)} message(s) accepted")
    rows = [[m.message_id or "", status_text(m.status), orjson.dumps(m.destination).decode()] for m in answer.messages]
    print_table(["message id", "status", "destination"], rows)


def _record_send(settings: Settings, bulk_id: str) -> None:
    """Remember when the bulk went out, so `campaigns` can tell how long its answers took. Best effort: the
    push is sent either way, and without Redis configured there is nothing to remember it in."""
    if not (settings.redis_url or settings.redis_sentinels) or not settings.campaign_counting:
        return
    try:
        with sync_client(settings) as connection:
            campaigns.record_send(connection, settings, bulk_id)
    except redis.RedisError as exc:
        click.echo(f"warning: send time of bulk {bulk_id} not recorded: {type(exc).__name__}", err=True)


NOT_GIVEN = "—"  # a figure Infobip left out of its answer: not a zero


def _figure(value: int | None) -> str:
    return NOT_GIVEN if value is None else str(value)


@push.command("stats")
@click.argument("bulk_id")
@json_option
def push_stats(bulk_id: str, as_json: bool) -> None:
    """Statistics of the bulk BULK_ID: sent, delivered, seen, errors and the delivery rate."""
    settings = loaded.settings()
    with infobip_client(settings) as client:
        stats = client.push_statistics(bulk_id)
    if as_json:
        print_json(stats.wire())
        return
    errors, rate = stats.errors, stats.delivery.rate
    click.echo(f"bulk {bulk_id}")
    rows = [
        ["total sent", _figure(stats.total_sent)],
        ["delivered", _figure(stats.delivered)],
        ["seen", _figure(stats.seen)],
        ["errors: registration", _figure(errors.registration)],
        ["errors: expired", _figure(errors.expired)],
        ["errors: cloud", _figure(errors.cloud)],
        ["delivery rate", NOT_GIVEN if rate is None else f"{rate:.1%}"],
    ]
    print_table(["statistic", "value"], rows)


bulk_option = click.option("--bulk-id", default=None, help="Only reports of this bulk.")
message_option = click.option("--message-id", default=None, help="Only the report of this message.")
limit_option = click.option(
    "--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="At most this many reports."
)


def report_rows(reports: list[PushReport] | list[OmniReport]) -> list[list[str]]:
    rows = []
    for report in reports:
        error = report.error.name if report.error and report.error.name != "NO_ERROR" else None
        channel = [report.channel or ""] if isinstance(report, OmniReport) else []
        status = status_text(report.status)
        rows.append([report.message_id or "", report.bulk_id or "", report.to or "", *channel, status, error or ""])
    return rows


@push.command("reports")
@bulk_option
@message_option
@limit_option
@json_option
def push_reports(bulk_id: str | None, message_id: str | None, limit: int, as_json: bool) -> None:
    """Delivery reports of sent pushes. Infobip hands each report out once: keep what you print."""
    settings = loaded.settings()
    with infobip_client(settings) as client:
        reports = client.push_reports(bulk_id=bulk_id, message_id=message_id, limit=limit)
    if as_json:
        print_json(reports.wire())
        return
    print_table(["message id", "bulk id", "to", "status", "error"], report_rows(reports.results))


@click.group()
def omni() -> None:
    """OMNI: push with fallback to other channels (SMS, ...), by scenario."""


@omni.group()
def scenarios() -> None:
    """Scenarios: the channels a message tries, in order (PUSH from an application code, then fallbacks)."""


def flow_text(scenario: Scenario) -> str:
    return " -> ".join(f"{step.channel}({step.from_})" for step in scenario.flow)


@scenarios.command("list")
@click.option("--default-only", is_flag=True, help="Only the default scenario.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Scenarios per page [Infobip's default].")
@click.option("--page", type=click.IntRange(min=0), default=None, help="Which page (Infobip's numbering).")
@json_option
def scenarios_list(default_only: bool, limit: int | None, page: int | None, as_json: bool) -> None:
    """The account's OMNI scenarios, a page at a time with --limit and --page."""
    settings = loaded.settings()
    with infobip_client(settings) as client:
        found = client.list_scenarios(default=True if default_only else None, limit=limit, page=page)
    if as_json:
        print_json({"scenarios": [s.wire() for s in found]})
        return
    rows = [[s.key, s.name or "", flow_text(s), "yes" if s.default else ""] for s in found]
    print_table(["key", "name", "flow", "default"], rows)


@scenarios.command("create")
@file_option
@click.option("--name", default=None, help="Scenario name.")
@click.option(
    "--step",
    "steps",
    multiple=True,
    metavar="CHANNEL=FROM",
    help="A step, in order (repeatable): PUSH=<application code>, SMS=<sender>, ...",
)
@click.option("--default", "is_default", is_flag=True, help="Make it the account's default scenario.")
@json_option
def scenarios_create(
    path: Path | None, name: str | None, steps: tuple[str, ...], is_default: bool, as_json: bool
) -> None:
    """Create a scenario, from --file or from --name and --step options."""
    if path is not None and (name or steps or is_default):
        raise click.UsageError("give either --file or --name/--step/--default, not both")
    if path is not None:
        body = load_file(path)
    else:
        if not name or not steps:
            raise click.UsageError("give --name and at least one --step (or a request in --file)")
        flow = []
        for step in steps:
            channel, sep, sender = step.partition("=")
            if not sep:
                raise click.BadParameter(f"expected CHANNEL=FROM, got {step!r}", param_hint="--step")
            flow.append({"channel": channel.upper(), "from": sender})
        body = {"name": name, "flow": flow, **({"default": True} if is_default else {})}
    request = build(ScenarioRequest, body, "scenario")
    settings = loaded.settings()
    with infobip_client(settings) as client:
        scenario = client.create_scenario(request)
    if as_json:
        print_json(scenario.wire())
    else:
        click.echo(f"created scenario {scenario.key}: {flow_text(scenario)}")


@omni.command("send")
@file_option
@click.option("--scenario", "scenario_key", default=None, help="Scenario key; default: the account's default one.")
@click.option("--phone-number", "phone_numbers", multiple=True, help="A destination's phone number (repeatable).")
@click.option(
    "--registration-id", "registration_ids", multiple=True, help="A destination's push registration ID (repeatable)."
)
@click.option(
    "--external-user-id", "external_user_ids", multiple=True, help="A destination's external user ID (repeatable)."
)
@click.option(
    "--email",
    "--email-address",
    "email_addresses",
    cls=Aliased,
    multiple=True,
    help="A destination's email (repeatable).",
)
@click.option("--push-text", default=None, help="Text of the push.")
@click.option("--push-title", default=None, help="Title of the push (notificationOptions.title).")
@click.option("--payload", default=None, metavar="JSON", help="The push's customPayload, a JSON object.")
@click.option(
    "--notification-options", default=None, metavar="JSON", help="The push's notificationOptions, a JSON object."
)
@click.option(
    "--primary-only", is_flag=True, help="Push to each person's primary device only (targetOnlyPrimaryDevices)."
)
@click.option("--sms-text", default=None, help="Text of the SMS fallback.")
@json_option
def omni_send(
    path: Path | None,
    scenario_key: str | None,
    phone_numbers: tuple[str, ...],
    registration_ids: tuple[str, ...],
    external_user_ids: tuple[str, ...],
    email_addresses: tuple[str, ...],
    push_text: str | None,
    push_title: str | None,
    payload: str | None,
    notification_options: str | None,
    primary_only: bool,
    sms_text: str | None,
    as_json: bool,
) -> None:
    """Send through a scenario: from --file (the advanced request), or built from the options (each address
    given is one destination)."""
    options = (scenario_key, push_text, push_title, payload, notification_options, sms_text)
    addresses = phone_numbers or registration_ids or external_user_ids or email_addresses
    if path is not None and (addresses or any(options) or primary_only):
        raise click.UsageError("give either --file or the message options, not both")
    push_only = {
        "--push-title": push_title is not None,
        "--payload": payload is not None,
        "--notification-options": notification_options is not None,
        "--primary-only": primary_only,
    }
    if push_text is None and any(push_only.values()):
        needs = ", ".join(name for name, given in push_only.items() if given)
        raise click.UsageError(f"{needs} belong to the push: give --push-text too (or a request in --file)")
    if path is not None:
        body = load_file(path)
    else:
        destinations = [
            *({"to": {"phoneNumber": p}} for p in phone_numbers),
            *({"to": {"pushRegistrationId": r}} for r in registration_ids),
            *({"to": {"externalUserId": u}} for u in external_user_ids),
            *({"to": {"emailAddress": e}} for e in email_addresses),
        ]
        body = {"destinations": destinations}
        if scenario_key:
            body["scenarioKey"] = scenario_key
        if push_text is not None:
            custom_payload = json_object(payload, "--payload")
            shown = json_object(notification_options, "--notification-options") or {}
            if push_title is not None:
                shown["title"] = push_title
            body["push"] = {"text": push_text}
            if shown:
                body["push"]["notificationOptions"] = shown
            if custom_payload is not None:
                body["push"]["customPayload"] = custom_payload
            if primary_only:
                body["push"]["targetOnlyPrimaryDevices"] = True
        if sms_text is not None:
            body["sms"] = {"text": sms_text}
    request = build(OmniAdvancedRequest, body, "OMNI request")
    settings = loaded.settings()
    with infobip_client(settings) as client:
        answer = client.send_omni(request)
    if as_json:
        print_json(answer.wire())
        return
    click.echo(f"bulk {answer.bulk_id or '-'}: {len(answer.messages)} message(s) accepted")
    rows = [[m.message_id or "", status_text(m.status), orjson.dumps(m.to).decode()] for m in answer.messages]
    print_table(["message id", "status", "to"], rows)


@omni.command("reports")
@bulk_option
@message_option
@limit_option
@click.option("--channel", default=None, help="Only reports of messages that ended on this channel (PUSH, SMS, ...).")
@json_option
def omni_reports(bulk_id: str | None, message_id: str | None, limit: int, channel: str | None, as_json: bool) -> None:
    """OMNI delivery reports, with the channel each message ended on. Each report is handed out once."""
    settings = loaded.settings()
    channel = channel.upper() if channel else None
    with infobip_client(settings) as client:
        reports = client.omni_reports(bulk_id=bulk_id, message_id=message_id, limit=limit, channel=channel)
    others = sorted({r.channel or "?" for r in reports.results if channel and r.channel != channel})
    if others:  # shown all the same: each report is handed out once, so none is dropped here
        click.echo(f"warning: Infobip did not filter by channel; reports of {', '.join(others)} shown too", err=True)
    if as_json:
        print_json(reports.wire())
        return
    headers = ["message id", "bulk id", "to", "channel", "status", "error"]
    print_table(headers, report_rows(reports.results))


def attach(infobip: click.Group) -> None:
    infobip.add_command(push)
    infobip.add_command(omni)
