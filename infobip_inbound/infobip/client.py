"""Client of the Infobip API parts infobip-inbound uses: PULL, configurations, actions, sending push (with
its statistics and reports) and OMNI.

Every call sends `Authorization: App <key>` and turns Infobip's error body (either shape) into InfobipError.
Retries use backoff (or the server's Retry-After), bounded in tries and total time, and depend on what the
call does (`Kind`): a read is retried on 429, 5xx and any transport failure; a pull or a report fetch (each
item handed out once) on 429, 5xx and a connection that was never made; a send (push, OMNI, creating a
configuration, action or scenario) only when Infobip certainly did not act: 429, or a connection that was
never made. Any other failure of a send after the request went out is "in doubt" (`in_doubt` on the error):
Infobip may have acted, and it is not sent again.
The API key lives only in the auth hook: it is not in any repr, log line or exception.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from infobip_inbound.contract.settings import Settings
from infobip_inbound.infobip.envelope import InfobipEnvelope, parse_envelope
from infobip_inbound.infobip.omni import (
    OmniAdvancedRequest,
    OmniReports,
    OmniSendAnswer,
    Scenario,
    ScenarioRequest,
    Scenarios,
)
from infobip_inbound.infobip.push import (
    PushReports,
    PushRequest,
    PushSendAnswer,
    PushStatistics,
    push_to_registration,
)
from infobip_inbound.infobip.retry import RetryPolicy, parse_retry_after
from infobip_inbound.infobip.wire import Answer, field_errors

log = logging.getLogger("infobip_inbound.infobip_client")

PULL_LIMIT_MAX = 1000  # Infobip's documented cap on the SMS twin of the pull endpoint
REPORTS_DEFAULT_LIMIT = 50  # Infobip's documented default for the push and OMNI reports
REPORTS_LIMIT_MAX = 1000
# Sent-push reports: the API facts name /push/1/reports; Infobip's current reference documents the same
# query and answer at /push/3/reports. Which one an account has is not documented: the path is a parameter.
PUSH_REPORTS_PATH = "/push/1/reports"
A = TypeVar("A", bound=Answer)
_SERVER_ERRORS = frozenset(range(500, 600))
# What a call does, which decides what is retried (see the module docstring).
Kind = Literal["read", "read_once", "send"]
# Failures before any byte of the request was written: Infobip cannot have acted on it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class InfobipError(Exception):
    """Infobip answered with an error. `message_id` is Infobip's code (`6`, `UNAUTHORIZED`, ...) when it sent one."""

    def __init__(
        self,
        status: int,
        message_id: str | None,
        text: str,
        *,
        method: str = "",
        path: str = "",
        validation_errors: Any = None,
        retry_after: float | None = None,
        in_doubt: bool = False,
    ) -> None:
        where = f" ({method} {path})" if method else ""
        code = f" {message_id}" if message_id else ""
        doubt = "; in doubt: Infobip may have acted on it, it was not sent again" if in_doubt else ""
        super().__init__(f"Infobip answered {status}{code}: {text}{where}{doubt}")
        self.status = status
        # A send answered 5xx after the request went out: Infobip may have acted on it (a gateway error can
        # follow an accepted push), so it was not sent again.
        self.in_doubt = in_doubt
        self.message_id = message_id
        self.text = text
        self.method = method
        self.path = path
        self.validation_errors = validation_errors
        self.retry_after = retry_after  # seconds, from the answer's Retry-After header when it had one


class InfobipTransportError(Exception):
    """No usable answer: the connection failed, timed out or was dropped."""

    def __init__(self, method: str, path: str, cause: httpx.TransportError, *, sends: bool = False) -> None:
        # No connection was made, so nothing was sent: Infobip cannot have acted on the request.
        self.refused = isinstance(cause, _NOT_SENT)
        # A send whose request went out and whose answer never came: Infobip may have acted on it.
        self.in_doubt = sends and not self.refused
        doubt = "; in doubt: Infobip may have acted on it, it was not sent again" if self.in_doubt else ""
        super().__init__(f"no answer from Infobip ({method} {path}): {type(cause).__name__}{doubt}")
        self.method = method
        self.path = path
        self.timed_out = isinstance(cause, httpx.TimeoutException)


class InfobipNotConfigured(Exception):
    """INBOUND_INFOBIP_BASE_URL or INBOUND_INFOBIP_API_KEY is missing."""


class Action(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    key: str
    type: str
    forward_url: str | None = Field(default=None, alias="forwardUrl")
    callback_data: str | None = Field(default=None, alias="callbackData")


ActionType = Literal["HTTP_FORWARD", "PULL"]


@dataclass(frozen=True)
class PulledReports:
    """One PULL answer. Keep `raw` durably before parsing: a pulled batch is never handed out again."""

    raw: bytes

    def envelope(self) -> InfobipEnvelope:
        return parse_envelope(self.raw)


class _AppKeyAuth(httpx.Auth):
    def __init__(self, api_key: SecretStr) -> None:
        self._api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"App {self._api_key.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "_AppKeyAuth(api_key=**********)"


def error_from_response(response: httpx.Response, method: str, path: str, *, in_doubt: bool = False) -> InfobipError:
    """Infobip's error body, in either shape it uses, or what can be read of it:
    `{"requestError": {"serviceException": {"messageId", "text", "validationErrors"}}}` (the /push/1 endpoints;
    any level may be null) or the newer `{"errorCode", "description", "action", "violations": [...]}`."""
    message_id: str | None = None
    text = response.reason_phrase or "error"
    validation_errors: Any = None
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        body = {}
    request_error = body.get("requestError")
    exception = request_error.get("serviceException") if isinstance(request_error, dict) else None
    if isinstance(exception, dict):
        message_id = _text(exception.get("messageId"))
        text = _text(exception.get("text")) or text
        validation_errors = exception.get("validationErrors")
    elif "errorCode" in body or "description" in body or "violations" in body:
        message_id = _text(body.get("errorCode"))
        text = _text(body.get("description")) or text
        violations = body.get("violations")
        if isinstance(violations, list) and violations:
            validation_errors = _violations(violations)
    return InfobipError(
        response.status_code,
        message_id,
        text,
        method=method,
        path=path,
        validation_errors=validation_errors,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        in_doubt=in_doubt,
    )


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _violations(violations: list[Any]) -> dict[str, list[str]]:
    """`[{"property": "to", "violation": "must not be null"}]` by field, the shape of `validationErrors`."""
    found: dict[str, list[str]] = {}
    for item in violations:
        if isinstance(item, dict):
            field = _text(item.get("property")) or "body"
            found.setdefault(field, []).append(_text(item.get("violation")) or "invalid")
        else:
            found.setdefault("body", []).append(str(item))
    return found


def with_scheme(base_url: str) -> str:
    """Infobip's portal shows the base URL without a scheme (`xyz.api.infobip.com`): it is HTTPS."""
    base_url = base_url.strip().rstrip("/")
    return base_url if "://" in base_url else f"https://{base_url}"


class InfobipClient:
    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        reports_path: str = PUSH_REPORTS_PATH,
    ) -> None:
        self.base_url = with_scheme(base_url)
        self.reports_path = reports_path
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=_AppKeyAuth(api_key),
            timeout=timeout or httpx.Timeout(30.0, connect=5.0),
            headers={"Accept": "application/json", "User-Agent": "infobip-inbound"},
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> InfobipClient:
        if not settings.infobip_base_url or settings.infobip_api_key is None:
            raise InfobipNotConfigured(
                "the Infobip API is not configured: set INBOUND_INFOBIP_BASE_URL and INBOUND_INFOBIP_API_KEY"
            )
        timeout = httpx.Timeout(settings.infobip_read_timeout_seconds, connect=settings.infobip_connect_timeout_seconds)
        retry = RetryPolicy(
            max_tries=settings.infobip_max_tries,
            budget_seconds=settings.infobip_retry_budget_seconds,
            base_seconds=settings.infobip_backoff_base_seconds,
            max_seconds=settings.infobip_backoff_max_seconds,
        )
        return cls(settings.infobip_base_url, settings.infobip_api_key, timeout=timeout, retry=retry, **kwargs)

    def __repr__(self) -> str:
        return f"InfobipClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> InfobipClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # PULL

    def pull_reports(self, limit: int = 100) -> PulledReports:
        """The next batch of received messages. Infobip hands each message out once: store `raw` first."""
        if not 1 <= limit <= PULL_LIMIT_MAX:
            raise ValueError(f"limit must be between 1 and {PULL_LIMIT_MAX}")
        # Not idempotent: a batch whose answer was lost is gone, so only a refused connection is retried.
        response = self._request("GET", "/push/1/inbox/reports", params={"limit": limit}, kind="read_once")
        return PulledReports(raw=response.content)

    # Configurations

    def list_configurations(self, application_code: str) -> list[str]:
        body = self._json("GET", _configurations(application_code))
        return [str(item["key"]) for item in body.get("configurations") or []]

    def get_configuration(self, application_code: str, configuration_key: str) -> str:
        return str(self._json("GET", _configuration(application_code, configuration_key))["key"])

    def create_configuration(self, application_code: str) -> str:
        """The new configuration's key. Infobip answers 409 when the application already has one."""
        return str(self._json("POST", _configurations(application_code), kind="send")["key"])

    def delete_configuration(self, application_code: str, configuration_key: str) -> None:
        self._request("DELETE", _configuration(application_code, configuration_key))

    # Actions

    def list_actions(self, application_code: str, configuration_key: str) -> list[Action]:
        body = self._json("GET", _actions(application_code, configuration_key))
        return [Action.model_validate(item) for item in body.get("actions") or []]

    def create_action(
        self,
        application_code: str,
        configuration_key: str,
        type: ActionType,
        forward_url: str | None = None,
        callback_data: str | None = None,
    ) -> Action:
        request: dict[str, Any] = {"type": type}
        if forward_url is not None:
            request["forwardUrl"] = forward_url
        if callback_data is not None:
            request["callbackData"] = callback_data
        body = self._json("POST", _actions(application_code, configuration_key), json=request, kind="send")
        return Action.model_validate(body)

    def delete_action(self, application_code: str, configuration_key: str, action_key: str) -> None:
        self._request("DELETE", f"{_actions(application_code, configuration_key)}/{_segment(action_key)}")

    # Send push

    def send_push(self, request: PushRequest) -> PushSendAnswer:
        """POST /push/3/messages: the bulkId and each message's status."""
        return self._typed(PushSendAnswer, "POST", "/push/3/messages", json=request.wire(), kind="send")

    def push_to_registration(
        self,
        application_code: str,
        registration_id: str,
        text: str,
        *,
        title: str | None = None,
        custom_payload: dict[str, Any] | None = None,
    ) -> PushSendAnswer:
        """Push to one installation, e.g. back to the device that sent a response (its `from`, our
        `registration_id`)."""
        request = push_to_registration(
            application_code, registration_id, text, title=title, custom_payload=custom_payload
        )
        return self.send_push(request)

    def push_statistics(self, bulk_id: str) -> PushStatistics:
        """GET /push/1/statistics: sent, delivered, seen and errors of one bulk."""
        if not bulk_id:
            raise ValueError("bulk_id must not be empty")
        return self._typed(PushStatistics, "GET", "/push/1/statistics", params={"bulkId": bulk_id})

    def push_reports(
        self, *, bulk_id: str | None = None, message_id: str | None = None, limit: int = REPORTS_DEFAULT_LIMIT
    ) -> PushReports:
        """Delivery reports of sent pushes, at `reports_path`. Infobip hands each report out once, so a lost
        answer is not asked again (only a refused connection is retried)."""
        params = _report_params(bulk_id, message_id, limit)
        return self._typed(PushReports, "GET", self.reports_path, params=params, kind="read_once")

    # OMNI

    def list_scenarios(
        self, *, default: bool | None = None, limit: int | None = None, page: int | None = None
    ) -> list[Scenario]:
        """The account's scenarios. `limit` and `page` are the paging parameters Infobip's published clients
        send (not in the API facts; page numbering is Infobip's): none given, Infobip's default page."""
        params: dict[str, str | int] = {} if default is None else {"isDefault": str(default).lower()}
        if limit is not None:
            params["limit"] = limit
        if page is not None:
            params["page"] = page
        return self._typed(Scenarios, "GET", "/omni/1/scenarios", params=params).scenarios

    def create_scenario(self, request: ScenarioRequest) -> Scenario:
        return self._typed(Scenario, "POST", "/omni/1/scenarios", json=request.wire(), kind="send")

    def send_omni(self, request: OmniAdvancedRequest) -> OmniSendAnswer:
        """POST /omni/1/advanced: each destination goes through the scenario's channels in order."""
        return self._typed(OmniSendAnswer, "POST", "/omni/1/advanced", json=request.wire(), kind="send")

    def omni_reports(
        self,
        *,
        bulk_id: str | None = None,
        message_id: str | None = None,
        limit: int = REPORTS_DEFAULT_LIMIT,
        channel: str | None = None,
    ) -> OmniReports:
        """OMNI delivery reports; like push reports, each is handed out once. `channel` (PUSH, SMS, ...) asks
        for the reports of that channel only: a parameter of Infobip's published clients, not in the API facts."""
        params = _report_params(bulk_id, message_id, limit)
        if channel:
            params["channel"] = channel
        return self._typed(OmniReports, "GET", "/omni/1/reports", params=params, kind="read_once")

    # Transport

    def _typed(self, model: type[A], method: str, path: str, **kwargs: Any) -> A:
        """The answer read as `model`; one that cannot be read is an InfobipError like any other bad answer."""
        body = self._json(method, path, **kwargs)
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {', '.join(msgs)}" for field, msgs in field_errors(exc).items())
            raise InfobipError(200, None, f"unexpected answer: {problems}", method=method, path=path) from None

    def _json(self, method: str, path: str, *, kind: Kind = "read", **kwargs: Any) -> dict[str, Any]:
        response = self._request(method, path, kind=kind, **kwargs)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise InfobipError(response.status_code, None, "the answer is not a JSON object", method=method, path=path)
        return body

    def _request(self, method: str, path: str, *, kind: Kind = "read", **kwargs: Any) -> httpx.Response:
        """Send, retrying what is safe to retry for this kind of call, within the policy's tries and time budget.

        429 and connections never made are retried for every call: Infobip did not act on them. 5xx is
        retried for reads and pulls, not for sends (a gateway 502 may follow an accepted push): a send's 5xx,
        timeout or dropped connection is raised as in doubt. Timeouts and dropped connections are retried
        only for reads: a pull may have handed its batch out before the answer was lost.
        """
        sends = kind == "send"
        tries = 0
        waited = 0.0
        while True:
            tries += 1
            retry_after: float | None = None
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                lost = InfobipTransportError(method, path, exc, sends=sends)
                if not (kind == "read" or lost.refused):
                    raise lost from None
                failure: InfobipError | InfobipTransportError = lost
                reason = type(exc).__name__
            else:
                if response.is_success:
                    return response
                status = response.status_code
                in_doubt = sends and status in _SERVER_ERRORS
                failure = error_from_response(response, method, path, in_doubt=in_doubt)
                if status != 429 and (status not in _SERVER_ERRORS or sends):
                    raise failure
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                reason = str(response.status_code)
            delay = self.retry.next_delay(tries, waited, retry_after, self._rng)
            if delay is None:
                raise failure from None
            log.warning(
                "Infobip call failed, retrying",
                extra={
                    "method": method,
                    "path": path,
                    "reason": reason,
                    "try": tries,
                    "delay_s": round(delay, 3),
                },
            )
            self._sleep(delay)
            waited += delay


def _report_params(bulk_id: str | None, message_id: str | None, limit: int) -> dict[str, str | int]:
    if not 1 <= limit <= REPORTS_LIMIT_MAX:
        raise ValueError(f"limit must be between 1 and {REPORTS_LIMIT_MAX}")
    params: dict[str, str | int] = {"limit": limit}
    if bulk_id:
        params["bulkId"] = bulk_id
    if message_id:
        params["messageId"] = message_id
    return params


def _segment(value: str) -> str:
    # Keys and codes go into the path: refuse anything that would change which resource is addressed.
    if not value or "/" in value or value in {".", ".."} or "?" in value or "#" in value:
        raise ValueError(f"invalid identifier: {value!r}")
    return value


def _configurations(application_code: str) -> str:
    return f"/push/1/applications/{_segment(application_code)}/configurations"


def _configuration(application_code: str, configuration_key: str) -> str:
    return f"{_configurations(application_code)}/{_segment(configuration_key)}"


def _actions(application_code: str, configuration_key: str) -> str:
    return f"{_configuration(application_code, configuration_key)}/actions"
