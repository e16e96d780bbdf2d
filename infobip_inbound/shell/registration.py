"""`register` / `unregister`: make the application's Infobip configuration hold exactly one action of ours
(HTTP_FORWARD to our forward endpoint with the current credentials, or PULL), and nothing stale.

Ours means: an HTTP_FORWARD action whose forwardUrl points at our forward endpoint behind the public URL
(whatever credentials it carries), or a PULL action with the callbackData asked for (none by default).
callbackData stays the user's: Infobip puts it on every response, and routes match on it, so we set it only
when asked. An action has no name or description field to mark it with (an action is only key, type,
forwardUrl and callbackData), so the URL is the mark of a forward, and a PULL action, which has no URL,
is recognised by its callbackData; the `infobip-inbound` callbackData earlier versions set is recognised
too, so their actions are replaced rather than left behind. Other actions are left alone. The new action
is created before stale ones are deleted, so a rotation never leaves a gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infobip_inbound.infobip.client import Action, ActionType, InfobipClient, InfobipError
from infobip_inbound.infobip.forward_url import redact_forward_url, same_service

LEGACY_MARK = "infobip-inbound"  # the callbackData earlier versions set on every action they created


@dataclass
class Plan:
    application_code: str
    configuration: str | None  # None: the application has none yet
    create_configuration: bool = False
    create: tuple[ActionType, str | None, str | None] | None = None  # (type, forwardUrl, callbackData)
    delete: list[Action] = field(default_factory=list)
    keep: Action | None = None
    delete_configuration: bool = False

    @property
    def changes_anything(self) -> bool:
        return self.create_configuration or self.create is not None or bool(self.delete) or self.delete_configuration

    def describe(self) -> list[str]:
        lines = []
        if self.create_configuration:
            lines.append(f"create the configuration of application {self.application_code}")
        if self.create is not None:
            kind, url, callback = self.create
            target = f" to {redact_forward_url(url)}" if url else ""
            data = f" (callbackData {callback!r})" if callback is not None else ""
            lines.append(f"create {kind} action{target}{data}")
        for action in self.delete:
            target = f" to {redact_forward_url(action.forward_url)}" if action.forward_url else ""
            lines.append(f"delete stale {action.type} action {action.key}{target}")
        if self.delete_configuration:
            lines.append(f"delete the now empty configuration {self.configuration}")
        if self.keep is not None and not lines:
            lines.append(f"nothing to change: {self.keep.type} action {self.keep.key} is up to date")
        return lines or ["nothing to change"]


def _ours(action: Action, public_url: str, callback_data: str | None) -> bool:
    if action.type == "HTTP_FORWARD":
        return action.forward_url is not None and same_service(action.forward_url, public_url)
    return action.type == "PULL" and action.callback_data in {callback_data, LEGACY_MARK}


def _current(client: InfobipClient, application_code: str) -> tuple[str | None, list[Action]]:
    keys = client.list_configurations(application_code)
    if not keys:
        return None, []
    return keys[0], client.list_actions(application_code, keys[0])


def plan_register(
    client: InfobipClient,
    application_code: str,
    public_url: str,
    forward_url: str | None,
    callback_data: str | None = None,
) -> Plan:
    """What `register` would change. `forward_url` None means a PULL action instead of HTTP_FORWARD."""
    configuration, actions = _current(client, application_code)
    plan = Plan(application_code, configuration, create_configuration=configuration is None)
    kind: ActionType = "HTTP_FORWARD" if forward_url else "PULL"
    for action in actions:
        if not _ours(action, public_url, callback_data):
            continue
        up_to_date = (action.type, action.forward_url, action.callback_data) == (kind, forward_url, callback_data)
        if up_to_date and plan.keep is None:
            plan.keep = action
        else:
            plan.delete.append(action)
    if plan.keep is None:
        plan.create = (kind, forward_url, callback_data)
    return plan


def plan_unregister(
    client: InfobipClient, application_code: str, public_url: str, callback_data: str | None = None
) -> Plan:
    configuration, actions = _current(client, application_code)
    plan = Plan(application_code, configuration)
    plan.delete = [a for a in actions if _ours(a, public_url, callback_data)]
    plan.delete_configuration = bool(plan.delete) and len(plan.delete) == len(actions)
    return plan


def apply(client: InfobipClient, plan: Plan) -> None:
    app = plan.application_code
    configuration = plan.configuration
    if plan.create_configuration:
        try:
            configuration = client.create_configuration(app)
        except InfobipError as exc:
            # Someone created it since we looked: use that one.
            if exc.status != 409:
                raise
            configuration = client.list_configurations(app)[0]
    if configuration is None:
        return
    if plan.create is not None:
        kind, url, callback = plan.create
        client.create_action(app, configuration, kind, url, callback)
    for action in plan.delete:
        try:
            client.delete_action(app, configuration, action.key)
        except InfobipError as exc:
            if exc.message_id != "5":  # already gone is what we wanted
                raise
    if plan.delete_configuration:
        client.delete_configuration(app, configuration)
