"""The simulator's send side: `POST /push/3/messages`, bulk statistics and sent-message reports, OMNI scenarios, the
advanced OMNI send and its reports. Bodies are validated against JSON Schemas written from the seed documents
(simulator.schemas), never with the client's own models, so a client mistake fails here; a bad one is refused with
Infobip's error body (400 BAD_REQUEST, `validationErrors` by field). There are no devices here, so delivery is decided
by the address, case-insensitively: one starting with `invalid` fails as an invalid registration, `expired` as
expired, `cloud` as a cloud (APNS/FCM) error; anything else is delivered. A MULTIPLE destination is one delivered
message. A push delivered to a registration id reaches a simulated device (infobip_inbound.simulator.devices), whose
user may respond, which opens it (`seen` in the statistics); `POST /_sim/seen` marks delivered ones seen too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from jsonschema import Draft202012Validator
from starlette.requests import Request
from starlette.responses import Response

from infobip_inbound.simulator import schemas
from infobip_inbound.simulator.answers import infobip_error, json_response
from infobip_inbound.simulator.state import World

Outcome = Literal["delivered", "registration", "expired", "cloud"]
REPORTS_DEFAULT_LIMIT = 50
REPORTS_MAX_LIMIT = 1000

PENDING = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED"}
DELIVERED = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}
UNDELIVERABLE = {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED"}
EXPIRED = {"groupId": 4, "groupName": "EXPIRED", "id": 15, "name": "EXPIRED_EXPIRED"}
NO_ERROR = {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "permanent": False}
# The simulator's own error names: Infobip's push error codes are not in the API facts.
ERRORS = {
    "registration": {"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 1, "name": "INVALID_REGISTRATION"},
    "expired": {"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 2, "name": "EXPIRED"},
    "cloud": {"groupId": 2, "groupName": "CLOUD_ERRORS", "id": 3, "name": "CLOUD_ERROR"},
}


_FAILING_PREFIXES: tuple[tuple[str, Outcome], ...] = (
    ("invalid", "registration"),
    ("expired", "expired"),
    ("cloud", "cloud"),
)


def outcome(address: str) -> Outcome:
    lowered = address.lower()
    return next((result for prefix, result in _FAILING_PREFIXES if lowered.startswith(prefix)), "delivered")


def infobip_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


async def parse(request: Request, schema: Draft202012Validator) -> dict[str, Any] | Response:
    """The body, valid against `schema`, or Infobip's 400 answer saying what is wrong with it."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return infobip_error(400, "BAD_REQUEST", "Bad request", validationErrors={"body": ["malformed JSON"]})
    found = schemas.problems(schema, body)
    if found:
        return infobip_error(400, "BAD_REQUEST", "Bad request", validationErrors=found)
    assert isinstance(body, dict)  # every schema requires an object
    return body


def _report(bulk_id: str, message_id: str, to: str, result: Outcome, **extra: Any) -> dict[str, Any]:
    now = infobip_time(datetime.now(UTC))
    status = DELIVERED if result == "delivered" else EXPIRED if result == "expired" else UNDELIVERABLE
    return {
        "bulkId": bulk_id,
        "messageId": message_id,
        "to": to,
        "sentAt": now,
        "doneAt": now,
        "messageCount": 1,
        "status": status,
        "error": NO_ERROR if result == "delivered" else {**ERRORS[result], "permanent": result == "registration"},
        **extra,
        "outcome": result,  # the simulator's own; dropped from answers
    }


def _public(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in _OWN_FIELDS}


_OWN_FIELDS = frozenset({"outcome", "seen"})  # the simulator's bookkeeping, not part of Infobip's report


def _take_reports(queue: deque[dict[str, Any]], request: Request, filters: tuple[str, ...]) -> Response:
    """Reports matching the filters (bulkId, messageId, and channel for OMNI), up to limit; each is handed
    out once, like Infobip's."""
    raw = request.query_params.get("limit")
    if raw is not None and not (raw.isdigit() and int(raw) >= 1):
        return infobip_error(400, "BAD_REQUEST", "Bad request", validationErrors={"limit": ["invalid value"]})
    limit = min(int(raw), REPORTS_MAX_LIMIT) if raw is not None else REPORTS_DEFAULT_LIMIT
    wanted = {name: request.query_params.get(name) for name in filters}
    taken: list[dict[str, Any]] = []
    kept: deque[dict[str, Any]] = deque()
    for report in queue:
        matches = all(value is None or report.get(name) == value for name, value in wanted.items())
        (taken if matches and len(taken) < limit else kept).append(report)
    queue.clear()
    queue.extend(kept)
    return json_response(200, {"results": [_public(r) for r in taken]})


Delivered = Callable[[str, str, dict[str, Any]], None]  # (application code, registration id, report)


class Sending:
    def __init__(
        self, world: Callable[[], World], new_key: Callable[[], str], delivered: Delivered | None = None
    ) -> None:
        self._world = world  # the current world: a reset replaces it
        self._new_key = new_key
        self._delivered = delivered

    # Push

    async def send_push(self, request: Request) -> Response:
        parsed = await parse(request, schemas.PUSH)
        if isinstance(parsed, Response):
            return parsed
        world = self._world()
        # Not documented what Infobip answers for an unknown sender; refused as a bad request here.
        unknown = {
            f"messages[{i}].sender": ["application does not exist"]
            for i, message in enumerate(parsed["messages"])
            if message["sender"] not in world.applications
        }
        if unknown:
            return infobip_error(400, "BAD_REQUEST", "Bad request", validationErrors=unknown)
        bulk_id = self._new_key()
        reports = world.bulks.setdefault(bulk_id, [])
        answers = []
        for message in parsed["messages"]:
            world.sent_pushes.append({"bulkId": bulk_id, **message})
            world.counters.pushes_sent += 1
            for destination in message["destinations"]:
                message_id = self._new_key()
                to = _address(destination)
                report = _report(
                    bulk_id, message_id, to, outcome(to) if destination["type"] != "MULTIPLE" else "delivered"
                )
                reports.append(report)
                world.push_reports.append(report)
                answers.append({"messageId": message_id, "status": PENDING, "destination": destination})
                if self._delivered and destination["type"] == "REGISTRATION" and report["outcome"] == "delivered":
                    self._delivered(message["sender"], to, report)
        return json_response(200, {"bulkId": bulk_id, "messages": answers})

    async def statistics(self, request: Request) -> Response:
        bulk_id = request.query_params.get("bulkId")
        if not bulk_id:
            return infobip_error(400, "BAD_REQUEST", "Bad request", validationErrors={"bulkId": ["must be given"]})
        reports = self._world().bulks.get(bulk_id)
        if reports is None:  # what Infobip answers for an unknown bulk is not documented
            return infobip_error(404, "NOT_FOUND", "Bulk not found")
        results = [r["outcome"] for r in reports]
        delivered = results.count("delivered")
        return json_response(
            200,
            {
                "totalSent": len(results),
                "delivered": delivered,
                "seen": sum(1 for r in reports if r.get("seen")),  # marked at /_sim/seen
                "errors": {name: results.count(name) for name in ("registration", "expired", "cloud")},
                "delivery": {"rate": delivered / len(results) if results else 0.0},
            },
        )

    async def push_reports(self, request: Request) -> Response:
        return _take_reports(self._world().push_reports, request, ("bulkId", "messageId"))

    async def seen(self, request: Request) -> Response:
        """Admin: users opened these delivered pushes (`{"messageIds": [...]}`), counted as seen in statistics."""
        try:
            ids = set(orjson.loads(await request.body())["messageIds"])
        except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
            return json_response(400, {"error": f"expected {{'messageIds': [...]}}: {exc}"})
        marked = 0
        for reports in self._world().bulks.values():
            for report in reports:
                if report["messageId"] in ids and report["outcome"] == "delivered" and not report.get("seen"):
                    report["seen"] = True
                    marked += 1
        return json_response(200, {"seen": marked})

    # OMNI

    async def list_scenarios(self, request: Request) -> Response:
        scenarios = list(self._world().scenarios.values())
        wanted = request.query_params.get("isDefault")
        if wanted is not None:
            scenarios = [s for s in scenarios if s["default"] == (wanted.lower() == "true")]
        # Paging as Infobip's published clients ask for it (limit, page); the numbering is not documented:
        # here pages count from 0, and without a limit every scenario is one page.
        paging = {name: request.query_params.get(name) for name in ("limit", "page")}
        if any(v is not None and not v.isdigit() for v in paging.values()) or paging["limit"] == "0":
            problems = {n: ["invalid value"] for n, v in paging.items() if v is not None}
            return infobip_error(400, "BAD_REQUEST", "Bad request", validationErrors=problems)
        if paging["limit"] is not None:
            size = int(paging["limit"])
            start = int(paging["page"] or 0) * size
            scenarios = scenarios[start : start + size]
        return json_response(200, {"scenarios": scenarios})

    async def create_scenario(self, request: Request) -> Response:
        parsed = await parse(request, schemas.SCENARIO)
        if isinstance(parsed, Response):
            return parsed
        world = self._world()
        unknown = {
            f"flow[{i}].from": ["application does not exist"]
            for i, step in enumerate(parsed["flow"])
            if step["channel"] == "PUSH" and step["from"] not in world.applications
        }
        if unknown:
            return infobip_error(400, "BAD_REQUEST", "Bad request", validationErrors=unknown)
        is_default = bool(parsed.pop("default", None) or parsed.pop("defaultScenario", None))
        if is_default:
            for other in world.scenarios.values():
                other["default"] = False
        scenario = {"key": self._new_key(), **parsed, "default": is_default}
        world.scenarios[scenario["key"]] = scenario
        return json_response(200, scenario)

    async def send_omni(self, request: Request) -> Response:
        parsed = await parse(request, schemas.OMNI)
        if isinstance(parsed, Response):
            return parsed
        world = self._world()
        if not set(parsed) - _OMNI_NOT_CHANNELS:
            missing = ["give the content of at least one channel (push, sms, ...)"]
            return infobip_error(400, "BAD_REQUEST", "Bad request", validationErrors={"body": missing})
        if parsed.get("scenarioKey") is not None:
            scenario = world.scenarios.get(parsed["scenarioKey"])
            problem = "scenario does not exist"
        else:
            scenario = next((s for s in world.scenarios.values() if s["default"]), None)
            problem = "no scenarioKey and no default scenario"
        if scenario is None:
            return infobip_error(400, "BAD_REQUEST", "Bad request", validationErrors={"scenarioKey": [problem]})
        bulk_id = parsed.get("bulkId") or self._new_key()
        answers = []
        for destination in parsed["destinations"]:
            message_id = destination.get("messageId") or self._new_key()
            channel, to, result = _through_flow(scenario["flow"], destination["to"], parsed)
            world.omni_reports.append(_report(bulk_id, message_id, to, result, channel=channel))
            world.counters.omni_sent += 1
            answers.append({"to": destination["to"], "status": PENDING, "messageId": message_id})
        return json_response(200, {"bulkId": bulk_id, "messages": answers})

    async def omni_reports(self, request: Request) -> Response:
        return _take_reports(self._world().omni_reports, request, ("bulkId", "messageId", "channel"))


# The fields of an advanced OMNI request that are not a channel's block.
_OMNI_NOT_CHANNELS = frozenset({"scenarioKey", "bulkId", "callbackData", "notifyUrl", "destinations"})


def _address(destination: dict[str, Any]) -> str:
    for name in ("pushRegistrationId", "externalUserId", "phoneNumber", "email"):
        if name in destination:
            return str(destination[name])
    return "MULTIPLE"


# Which address of an OMNI destination each channel uses; a channel not listed is reached when the request
# carries its block and the destination has a phone number (how most of Infobip's other channels address).
_CHANNEL_ADDRESS = {
    "PUSH": ("pushRegistrationId", "externalUserId", "phoneNumber"),
    "SMS": ("phoneNumber",),
    "EMAIL": ("emailAddress",),
}


def _through_flow(flow: list[dict[str, Any]], to: dict[str, Any], body: dict[str, Any]) -> tuple[str, str, Outcome]:
    """Each step in order until one delivers: (channel, address, outcome) of the last step tried."""
    last: tuple[str, str, Outcome] = (str(flow[0]["channel"]), "", "registration")
    for step in flow:
        channel = str(step["channel"])
        address = next((str(to[n]) for n in _CHANNEL_ADDRESS.get(channel, ("phoneNumber",)) if n in to), None)
        if address is None or channel.lower() not in body:
            continue
        last = (channel, address, outcome(address))
        if last[2] == "delivered":
            break
    return last
