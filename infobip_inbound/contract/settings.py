"""Configuration: environment variables prefixed INBOUND_, over an optional TOML file (INBOUND_CONFIG_FILE)."""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

CONFIG_FILE_ENV = "INBOUND_CONFIG_FILE"
_log = logging.getLogger("infobip_inbound.settings")

# The shortest forward token, Basic password or admin token accepted: too long to guess, and long enough that
# the log redactor, which replaces each configured secret wherever it appears, never rewrites an ordinary word.
SECRET_MIN_LENGTH = 16
# `infobip-inbound dev`'s own loopback credentials: documented and printed, so accepted only under `dev`.
DEV_FORWARD_TOKEN = "local-dev-token"  # noqa: S105
DEV_ADMIN_TOKEN = "local-dev-admin"  # noqa: S105
_DEV_CREDENTIALS = frozenset({DEV_FORWARD_TOKEN, DEV_ADMIN_TOKEN})


def _strong(secret: str, what: str, dev_defaults: bool) -> None:
    if secret in _DEV_CREDENTIALS:
        if not dev_defaults:
            raise ValueError(f"{what} is `infobip-inbound dev`'s published default: set one of your own")
    elif len(secret) < SECRET_MIN_LENGTH:
        raise ValueError(f"each {what} must be at least {SECRET_MIN_LENGTH} characters (one has {len(secret)})")


class RouteMatch(BaseModel):
    """Conditions of a route; every condition given must hold (an empty match matches everything)."""

    model_config = ConfigDict(extra="forbid")

    application_code: list[str] | None = None
    keyword: list[str] | None = Field(default=None, description="Any of these keywords, compared case-insensitively.")
    callback_data: list[str] | None = None
    custom_payload_keys: list[str] | None = Field(
        default=None, description="Every key listed must be present in custom_payload."
    )
    custom_payload: dict[str, Any] | None = Field(
        default=None,
        description="Every key must be present in custom_payload with this value (a list: any of its values).",
    )
    bulk_id: list[str] | None = Field(default=None, description="Answers to a push of any of these bulks.")
    initial_message_id: list[str] | None = None
    paired: bool | None = Field(
        default=None, description="true: answers a push (has pairedMessageId); false: unprompted."
    )
    keyword_regex: re.Pattern[str] | None = Field(
        default=None, description="Regular expression searched in the keyword (empty when none)."
    )
    text_regex: re.Pattern[str] | None = Field(
        default=None, description="Regular expression searched in the text (empty when none)."
    )

    @field_validator("keyword_regex", "text_regex", mode="before")
    @classmethod
    def _compiled(cls, value: Any) -> Any:
        # Compiled once, here; the error says what is wrong with the expression.
        if isinstance(value, str):
            try:
                return re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
        return value

    @field_validator("application_code", "keyword", "callback_data", "bulk_id", "initial_message_id", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    match: RouteMatch = RouteMatch()
    handlers: list[str] = Field(min_length=1)
    queue: str | None = Field(default=None, description="Queue for these responses; the default queue if unset.")

    @field_validator("match", mode="wrap")
    @classmethod
    def _named(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        # A bad match names its route and field, so a route file that does not validate says where.
        try:
            return handler(value)
        except ValidationError as exc:
            problems = "; ".join(
                "match." + ".".join(str(part) for part in error["loc"]) + ": " + error["msg"]
                for error in exc.errors(include_url=False, include_input=False)
            )
            raise ValueError(f"route {info.data.get('name', '?')!r}: {problems}") from None


class PullAccount(BaseModel):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    base_url: str | None = Field(default=None, description="Default: INBOUND_INFOBIP_BASE_URL.")
    api_key: SecretStr | None = Field(default=None, description="Default: INBOUND_INFOBIP_API_KEY.")


def sentinel_address(entry: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) of one Sentinel."""
    host, sep, port = entry.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{entry!r} is not host:port")
    return host, int(port)


class HandlerRetry(BaseModel):
    """Retry policy of a handler: exponential backoff with jitter, then the dead-letter store."""

    max_tries: int = Field(default=4, ge=1, le=1000, description="Tries of one (message, handler) pair in all.")
    backoff_base_seconds: float = Field(default=10.0, ge=0, description="Delay ceiling before the 2nd try.")
    backoff_max_seconds: float = Field(default=3600.0, ge=0, description="Largest delay ceiling.")
    jitter: float = Field(
        default=0.5, ge=0, le=1, description="Share of each delay drawn at random (0: none, 1: full jitter)."
    )


# Calls in flight at once of an async handler, per worker process, unless configured: enough to hide the
# latency of typical HTTP calls, few enough not to flood a downstream.
ASYNC_CONCURRENCY_DEFAULT = 32
PACED_SYNC_CONCURRENCY_MAX = 16


class HandlerFlow(BaseModel):
    """How hard a handler may run: its calls in flight at once (per worker process), its rate (all workers
    together), and its circuit breaker."""

    concurrency: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description=f"Calls in flight at once per worker process; unset: {ASYNC_CONCURRENCY_DEFAULT} for an async"
        " handler, 1 for a sync one, or for a sync one with `rate_per_second` about 50 ms of its calls (2 to"
        f" {PACED_SYNC_CONCURRENCY_MAX}) so its waits for its slots overlap (a sync handler above 1 runs in a thread"
        " pool of that size).",
    )

    rate_per_second: float | None = Field(
        default=None,
        gt=0,
        description="Most calls per second, all workers and pods together (paced in Redis); unset: no limit.",
    )
    breaker_failures: int | None = Field(
        default=None,
        ge=1,
        description="Consecutive failures (all workers together) that open the handler's circuit breaker; unset:"
        " no breaker. An open breaker holds the handler's pairs without spending their tries.",
    )
    breaker_cooloff_seconds: float = Field(
        default=30.0, gt=0, description="How long an open breaker holds pairs before it lets one probe through."
    )
    hold_seconds: float = Field(
        default=5.0, gt=0, description="How long held pairs (paused handler, open breaker) wait between looks."
    )

    def limit(self, is_async: bool) -> int:
        if self.concurrency is not None:
            return self.concurrency
        if is_async:
            return ASYNC_CONCURRENCY_DEFAULT
        if self.rate_per_second is not None:
            # A paced sync handler's calls mostly wait for their slots: about 50 ms of its calls in flight let
            # those waits overlap, so it keeps its pace (the pacing keeps it from exceeding it).
            return max(2, min(PACED_SYNC_CONCURRENCY_MAX, math.ceil(self.rate_per_second * 0.05) + 1))
        return 1


def _plain_fields(template: str) -> str:
    """A reply template may name the response's fields (`{keyword}`), nothing else: no attribute or index
    access, so a template cannot reach beyond the fields' text."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"invalid template {template!r}: {exc}") from None
    for _, field, _, _ in parsed:
        if field is not None and not field.isidentifier():
            raise ValueError(f"template {template!r}: {{{field}}} is not a plain field name")
    return template


Template = Annotated[str, AfterValidator(_plain_fields)]


class ReplyTemplate(BaseModel):
    """One reply: text (and title) formatted over the response's fields; a missing field formats empty."""

    text: Template = Field(min_length=1)
    title: Template | None = None


class AutoReply(BaseModel):
    """What the `auto_reply` handler answers: the template of the response's keyword, else the default one."""

    keywords: dict[str, ReplyTemplate] = Field(
        default_factory=dict, description="Template by keyword (compared case-insensitively)."
    )
    default: ReplyTemplate | None = Field(
        default_factory=lambda: ReplyTemplate(text="Thanks, we got your message."),
        description="Template for any other response; null: those get no reply.",
    )
    custom_payload: dict[str, Any] | None = Field(default=None, description="Sent with every reply, as is.")


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# Each built-in output owns its settings: a model nested under Settings, set as INBOUND_<OUTPUT>__<NAME> (or a
# table `[<output>]` in the config file). The flat names from before still work (LEGACY_OUTPUT_NAMES).


class JsonlSettings(BaseModel):
    """`jsonl`: appends each response as one JSON line."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(default=Path("responses.jsonl"), description="The file `jsonl` appends to.")


class HttpRelaySettings(BaseModel):
    """`http_relay`: a signed POST of each response (docs/handlers.md)."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, pattern=r"^https?://", description="Where it POSTs each response's JSON.")
    secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated Standard Webhooks secrets (`whsec_<base64>`); each signs, for key rotation.",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="The whole request.")
    connect_timeout_seconds: float = Field(default=3.0, gt=0, description="Connecting.")

    _comma_separated = field_validator("secrets", mode="before")(_comma_list)

    @field_validator("secrets")
    @classmethod
    def _webhook_secrets(cls, value: list[SecretStr]) -> list[SecretStr]:
        import base64
        import binascii

        for secret in value:
            key = secret.get_secret_value().removeprefix("whsec_")
            try:
                if len(base64.b64decode(key, validate=True)) < 16:
                    raise ValueError("each secret must be `whsec_` and at least 16 bytes in base64")
            except binascii.Error:
                raise ValueError("each secret must be `whsec_` and base64") from None
        return value


class RedisStreamSettings(BaseModel):
    """`redis_stream`: XADD of each response."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, description="The Redis it writes to; default: the service's own.")
    key: str | None = Field(default=None, min_length=1, description="Its stream; default `inbound:responses`.")
    maxlen: int = Field(default=1_000_000, gt=0, description="It trims the stream to about this many entries.")


# The outputs' flat setting names from before they were nested: read still, with a warning naming the new one.
LEGACY_OUTPUT_NAMES: dict[str, tuple[str, str]] = {
    "jsonl_path": ("jsonl", "path"),
    "http_relay_url": ("http_relay", "url"),
    "http_relay_secrets": ("http_relay", "secrets"),
    "http_relay_timeout_seconds": ("http_relay", "timeout_seconds"),
    "http_relay_connect_timeout_seconds": ("http_relay", "connect_timeout_seconds"),
    "redis_stream_url": ("redis_stream", "url"),
    "redis_stream_key": ("redis_stream", "key"),
    "redis_stream_maxlen": ("redis_stream", "maxlen"),
}
_warned_legacy: set[str] = set()


def _nested_from_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """Flat output names (an init argument, a config-file key, or the environment through _LegacyOutputEnv)
    moved under their output; a value given under the new name wins."""
    data = dict(data)
    for old, (output, name) in LEGACY_OUTPUT_NAMES.items():
        if old not in data:
            continue
        value = data.pop(old)
        if old not in _warned_legacy:
            _warned_legacy.add(old)
            _log.warning(
                f"INBOUND_{old.upper()} ({old}) is deprecated: use INBOUND_{output.upper()}__{name.upper()}"
                f" ({output}.{name} in the config file)"
            )
        nested = data.get(output)
        if nested is None:
            data[output] = {name: value}
        elif isinstance(nested, dict):
            data[output] = {name: value, **nested}
    return data


class _LegacyOutputEnv(PydanticBaseSettingsSource):
    """The outputs' flat environment names (LEGACY_OUTPUT_NAMES), as flat keys for _nested_from_legacy."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {
            old: os.environ["INBOUND_" + old.upper()]
            for old in LEGACY_OUTPUT_NAMES
            if "INBOUND_" + old.upper() in os.environ
        }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="INBOUND_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    # Redis
    redis_url: str | None = Field(
        default=None, description="redis:// or rediss:// URL. Unset: `dev` starts an embedded Redis."
    )
    redis_socket_timeout: float = Field(
        default=5.0, gt=0, description="Seconds a Redis command may take before the client gives up on it."
    )
    redis_sentinels: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated host:port of Redis Sentinels; the primary is discovered through them. "
        "Instead of INBOUND_REDIS_URL.",
    )
    redis_sentinel_master: str = Field(default="mymaster", min_length=1, description="Sentinel service name.")
    redis_db: int = Field(default=0, ge=0, description="Database number with Sentinels (a URL names its own).")
    redis_sentinel_tls: bool = Field(default=False, description="TLS to the Sentinels and to the primary.")
    redis_username: str | None = Field(default=None, description="Redis ACL user (Redis 6+).")
    redis_password: SecretStr | None = Field(
        default=None, description="Redis AUTH password of the primary; a URL's own password takes precedence."
    )
    redis_sentinel_password: SecretStr | None = Field(
        default=None, description="AUTH password of the Sentinels themselves, when they require one."
    )
    redis_ssl_ca_certs: Path | None = Field(
        default=None, description="CA bundle for Redis TLS (rediss:// URL or INBOUND_REDIS_SENTINEL_TLS)."
    )
    redis_ack_replicas: int = Field(
        default=0,
        ge=0,
        le=16,
        description="Replicas that must hold a write (Redis WAIT) before it counts as stored: a forward is answered"
        " 200, a pulled batch kept. 0: the primary's memory (and AOF) alone; a failover can lose what it had not"
        " replicated yet. 1 or more: nothing acknowledged is lost with the primary, and writes fail (503) while"
        " fewer replicas answer.",
    )
    redis_ack_timeout_ms: int = Field(
        default=1000,
        ge=1,
        le=60_000,
        description="How long a write waits for INBOUND_REDIS_ACK_REPLICAS replicas before it counts as failed.",
    )

    @field_validator("redis_sentinels", mode="before")
    @classmethod
    def _sentinel_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinels_host_port(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if value and info.data.get("redis_url"):
            raise ValueError("set either INBOUND_REDIS_URL or INBOUND_REDIS_SENTINELS, not both")
        for entry in value:
            sentinel_address(entry)
        return value

    @field_validator("redis_db")
    @classmethod
    def _db_with_sentinels_only(cls, value: int, info: ValidationInfo) -> int:
        if value and info.data.get("redis_url"):
            raise ValueError("with INBOUND_REDIS_URL the database is the URL's path (redis://host:6379/<db>)")
        return value

    @field_validator("redis_ssl_ca_certs")
    @classmethod
    def _ca_needs_tls(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        url = info.data.get("redis_url") or ""
        if value is not None and not url.startswith("rediss://") and not info.data.get("redis_sentinel_tls"):
            raise ValueError("a CA is only used over TLS: a rediss:// INBOUND_REDIS_URL or INBOUND_REDIS_SENTINEL_TLS")
        return value

    @field_validator("redis_ack_timeout_ms")
    @classmethod
    def _ack_within_socket_timeout(cls, value: int, info: ValidationInfo) -> int:
        socket_timeout = info.data.get("redis_socket_timeout")
        if info.data.get("redis_ack_replicas") and socket_timeout is not None and value >= socket_timeout * 1000:
            # The wait must end with an answer, not with the connection's read timing out under it.
            raise ValueError("must be below INBOUND_REDIS_SOCKET_TIMEOUT (in ms)")
        return value

    # Forward endpoint
    dev_defaults: bool = Field(
        default=False,
        description="Set by `infobip-inbound dev` for the processes it starts: they accept its published loopback"
        " credentials. Never set it elsewhere.",
    )
    host: str = Field(
        default="0.0.0.0",  # noqa: S104 - a container listens on all interfaces
        description="The receiver's listen address (`dev`: 127.0.0.1).",
    )
    port: int = Field(default=8080, ge=1, le=65535, description="The receiver's port (`INBOUND_PORT=8081 make run`).")
    forward_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated secret path tokens accepted on /infobip/forward/{token}.",
    )
    forward_basic_auth: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated user:password pairs accepted as HTTP Basic credentials.",
    )
    auth_disabled: bool = Field(
        default=False, description="Accept unauthenticated forwards. For local development only."
    )
    max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Largest forward body read (413 past it, while reading)."
    )
    max_json_depth: int = Field(default=32, ge=2, le=200, description="Deepest nesting accepted in a body.")
    max_results: int = Field(default=10_000, ge=1, description="Most results accepted in one envelope.")
    # HTTP limits of the receiver's connections (infobip_inbound.receiver.edge.http_limits; docs/reliability.md).
    http_max_header_bytes: int = Field(
        default=32_768, ge=1_024, description="Largest request head (request line and headers): 431 over it."
    )
    http_header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Longest a request head may take to arrive: 408 and closed after it."
    )
    http_body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Longest a request body may take to arrive once its head is in: 408, closed."
    )
    http_keepalive_seconds: float = Field(
        default=5.0, gt=0, description="Longest an idle connection is kept open between requests."
    )
    http_max_connections: int = Field(
        default=1_000, ge=1, description="Most connections one receiver process holds: 503 and closed past it."
    )
    forward_allowed_cidrs: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated CIDRs allowed to call the forward endpoint; empty: any."
    )
    trusted_proxies: int = Field(
        default=0, ge=0, le=10, description="Proxies in front of the receiver that append to X-Forwarded-For."
    )
    rate_limit_per_second: float = Field(
        default=0.0, ge=0, description="Forward requests per second per client address (0: no limit)."
    )
    rate_limit_burst: int = Field(default=200, ge=1, description="Requests a client may send at once.")
    retry_after_seconds: int = Field(default=5, ge=1, description="Retry-After sent with 503 answers.")

    # Enqueue
    dedup_window_seconds: int = Field(
        default=72 * 3600,
        gt=0,
        description="How long a message id counts as seen (a repeat is a duplicate) and a (message, handler) pair"
        " as handled.",
    )
    commit_max_wait_ms: float = Field(
        default=0.0,
        ge=0,
        le=50,
        description="Extra time a group commit waits for more requests. 0: none; requests that arrive while a"
        " write is in flight still share the next one.",
    )
    commit_max_messages: int = Field(
        default=200,
        ge=1,
        le=5000,
        description="Most messages one group commit writes (a larger request is still written whole, in several"
        " script calls): smaller commits overlap better with the others in flight.",
    )
    commit_concurrency: int = Field(
        default=4,
        ge=1,
        le=8,
        description="Group commits a receiver process writes at once: the next one gathers and is written while"
        " one waits for Redis. 1: one at a time.",
    )
    quarantine_max_entries: int = Field(
        default=100_000,
        ge=1,
        description="Most results the quarantine keeps (at most a few KB each); beyond it the oldest are evicted"
        " and counted in infobip_inbound_quarantine_evicted_total.",
    )
    default_queue: str = Field(
        default="infobip-inbound", description="Queue of the responses no route sends elsewhere."
    )
    job_timeout_seconds: int = Field(default=180, gt=0, description="RQ's timeout of one job (a batch).")
    job_result_ttl_seconds: int = Field(default=300, ge=0, description="How long RQ keeps a finished job's result.")
    # A job fails as a whole only when Redis fails under it (handler failures are retried per pair), and
    # it is safe to run again: retry soon and often, so its claimed batch never waits minutes for Redis.
    job_retries: int = Field(default=10, ge=0, description="Retries of a job that fails as a whole (Redis errors).")
    job_retry_intervals: list[int] = Field(
        default=[1, 2, 5, 10, 30], description="Seconds before each retry; the last repeats for the rest."
    )
    handler_retry_default: HandlerRetry = Field(
        default_factory=HandlerRetry, description="Retry policy of a failed (message, handler) pair (JSON)."
    )
    handler_retry: dict[str, HandlerRetry] = Field(
        default_factory=dict, description="Per-handler retry policies, by handler name; others use the default."
    )
    handler_flow_default: HandlerFlow = Field(
        default_factory=HandlerFlow,
        description="Concurrency, rate and circuit breaker of a handler (JSON); docs/handlers.md.",
    )
    handler_flow: dict[str, HandlerFlow] = Field(
        default_factory=dict, description="Per-handler flow settings, by handler name; others use the default."
    )
    job_visibility_seconds: float = Field(
        default=30.0, gt=0, description="A running job whose worker stops renewing its lease this long is requeued."
    )

    # Routing
    routes: list[Route] = Field(
        default_factory=list,
        description="Routing rules, first match wins (JSON, or `[[routes]]` in the file); docs/handlers.md.",
    )
    default_handlers: list[str] = Field(
        default=["log"], min_length=1, description="Handlers of the responses no route matches (JSON list)."
    )

    # Built-in outputs, each its own model (INBOUND_<OUTPUT>__<NAME>)
    jsonl: JsonlSettings = Field(default_factory=JsonlSettings, description="`jsonl` (INBOUND_JSONL__PATH).")
    auto_reply: AutoReply = Field(default_factory=AutoReply, description="`auto_reply` on routes not listed below.")
    auto_reply_routes: dict[str, AutoReply] = Field(
        default_factory=dict, description="`auto_reply` per route, by route name (`default`: the default route)."
    )
    http_relay: HttpRelaySettings = Field(
        default_factory=HttpRelaySettings,
        description="`http_relay` (INBOUND_HTTP_RELAY__URL, __SECRETS, __TIMEOUT_SECONDS, __CONNECT_TIMEOUT_SECONDS).",
    )
    redis_stream: RedisStreamSettings = Field(
        default_factory=RedisStreamSettings,
        description="`redis_stream` (INBOUND_REDIS_STREAM__URL, __KEY, __MAXLEN).",
    )

    # Campaign counts (infobip_inbound.contract.store.campaigns)
    campaign_counting: bool = Field(default=True, description="Count responses per bulk id and application.")
    campaign_max_groups: int = Field(
        default=10_000, ge=1, description="Most bulks (and applications) counted; the least recent beyond it go."
    )
    campaign_ttl_seconds: int = Field(
        default=30 * 86400, ge=60, description="A bulk's counts expire this long after its last response."
    )
    campaign_keywords_max: int = Field(
        default=20, ge=1, le=40, description="Distinct keywords counted per bulk; later ones count as other."
    )
    campaign_statistics_cache_seconds: int = Field(
        default=300, ge=1, description="How long Infobip's statistics of a bulk are reused before asking again."
    )

    # The archive (infobip_inbound.contract.store.archive)
    archive: bool = Field(
        default=True, description="Keep every accepted response with its journey, for `messages` and `replay`."
    )
    archive_max_messages: int = Field(
        default=50_000,
        ge=1,
        description="Most messages the archive keeps (about 1 KB each: 50 MB of Redis by default); beyond it the"
        " oldest go first.",
    )
    archive_max_age_seconds: int = Field(
        default=7 * 86400, ge=60, description="A message leaves the archive this long after it was accepted."
    )

    # Replying to users (infobip_inbound.workers.reply)
    reply_requests_per_second: float = Field(
        default=10.0,
        gt=0,
        le=2500,
        description="Reply sends per second per API key, shared by all workers (Infobip allows 2500 on this "
        "endpoint, 10 on most others).",
    )
    reply_at_least_once: bool = Field(
        default=False,
        description="Send again when a crash left a reply's outcome unknown (a second reply is possible); "
        "default: at most once.",
    )

    # Workers
    worker_claim_max: int = Field(default=1000, ge=1, le=10000, description="Most responses one claim takes.")
    worker_job_budget_seconds: float = Field(
        default=5.0, gt=0, description="How long one job keeps claiming; keep it well under the job timeout."
    )
    worker_idle_wait_ms: float = Field(
        default=100.0, ge=0, le=5000, description="How long a job waits for more responses before it ends."
    )
    worker_lane_after_ms: float = Field(
        default=10.0,
        ge=0,
        le=60000,
        description="In a batch shared by several handlers, a handler whose pairs left would take longer than this "
        "(by its recent calls) runs them in its own lane, so the others do not wait for it.",
    )
    worker_queues: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated queues to work; default: every routed queue."
    )

    # Infobip API
    infobip_base_url: str | None = Field(
        default=None, description="Your account's API base URL, https://<subdomain>.api.infobip.com."
    )
    infobip_api_key: SecretStr | None = Field(default=None, description="Sent as `Authorization: App <key>`.")
    infobip_application_code: str | None = Field(
        default=None, description="Mobile application code used by `register` and the management commands."
    )
    infobip_connect_timeout_seconds: float = Field(default=5.0, gt=0, description="Connect timeout of Infobip calls.")
    infobip_read_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Read timeout of Infobip calls (a pull has its own, below)."
    )
    infobip_max_tries: int = Field(default=5, ge=1, le=20, description="Tries per call on 429, 5xx, refused.")
    infobip_retry_budget_seconds: float = Field(
        default=60.0, gt=0, description="Total time one call may spend waiting between tries."
    )
    infobip_backoff_base_seconds: float = Field(
        default=0.5, gt=0, description="First wait between tries (doubling, with jitter), unless Retry-After."
    )
    infobip_backoff_max_seconds: float = Field(default=15.0, gt=0, description="Longest wait between tries.")

    # Poller (PULL)
    poll_accounts: list[PullAccount] = Field(
        default_factory=list,
        description="Accounts to pull from; default: one account from INBOUND_INFOBIP_BASE_URL/API_KEY.",
    )
    poll_interval_seconds: float = Field(default=5.0, gt=0, description="Time between drain ticks.")
    poll_limit: int = Field(default=1000, ge=1, le=1000, description="Messages asked for per pull.")
    poll_requests_per_second: float = Field(
        default=9.0, gt=0, le=10, description="Pulls per second per API key (Infobip allows 10)."
    )
    poll_timeout_seconds: float = Field(default=10.0, gt=0, description="Longest a pull may take.")
    poll_lease_seconds: float = Field(default=30.0, gt=0, description="Leader lease; a dead poller's expires.")
    poll_backoff_max_seconds: float = Field(default=60.0, gt=0, description="Longest pause after failed pulls.")
    poll_spill_dir: Path = Field(
        default=Path("/tmp/infobip-inbound-spill"),  # noqa: S108 - a declared writable path in the image
        description="Where a pulled batch goes if Redis fails between the pull and the store.",
    )

    # Health endpoints of the worker and poller roles (0 = off)
    health_port: int = Field(
        default=0, ge=0, le=65535, description="Worker and poller: /health/live, /health/ready and /metrics here."
    )

    # Operations: the receiver's read-only status page (/admin/status); off while no token is set
    admin_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated tokens for /admin/* (Bearer, or HTTP Basic with the token as password).",
    )

    # Logs
    log_format: Literal["json", "console"] = Field(
        default="json", description="JSON lines, or key=value console lines; configured secrets redacted either way."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Least level logged.")

    @field_validator(
        "forward_tokens",
        "forward_basic_auth",
        "worker_queues",
        "forward_allowed_cidrs",
        "admin_tokens",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return _comma_list(value)

    @model_validator(mode="before")
    @classmethod
    def _legacy_output_names(cls, data: Any) -> Any:
        return _nested_from_legacy(data) if isinstance(data, dict) else data

    @field_validator("forward_basic_auth")
    @classmethod
    def _user_colon_password(cls, value: list[SecretStr], info: ValidationInfo) -> list[SecretStr]:
        for pair in value:
            user, sep, password = pair.get_secret_value().partition(":")
            if not sep or not user or not password:
                raise ValueError("each entry must be user:password")
            _strong(password, "password", bool(info.data.get("dev_defaults")))
        return value

    @field_validator("forward_tokens", "admin_tokens")
    @classmethod
    def _strong_tokens(cls, value: list[SecretStr], info: ValidationInfo) -> list[SecretStr]:
        for token in value:
            _strong(token.get_secret_value(), "token", bool(info.data.get("dev_defaults")))
        return value

    @field_validator("forward_allowed_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        import ipaddress

        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not a CIDR: {exc}") from None
        return value

    def retry_policy(self, handler: str) -> HandlerRetry:
        return self.handler_retry.get(handler, self.handler_retry_default)

    def flow_policy(self, handler: str) -> HandlerFlow:
        return self.handler_flow.get(handler, self.handler_flow_default)

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        names = [route.name for route in self.routes]
        if len(names) != len(set(names)):
            raise ValueError("route names must be unique")
        accounts = [account.name for account in self.poll_accounts]
        if len(accounts) != len(set(accounts)):
            raise ValueError("poll account names must be unique")
        return self

    @property
    def queues(self) -> list[str]:
        """Every queue a response can be routed to, default first."""
        queues = [self.default_queue]
        for route in self.routes:
            if route.queue and route.queue not in queues:
                queues.append(route.queue)
        return queues

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, _LegacyOutputEnv(settings_cls)]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            if not Path(config_file).is_file():
                raise ConfigError(f"{CONFIG_FILE_ENV}={config_file}: no such file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


class ConfigError(Exception):
    """Invalid configuration; the message names the setting."""


# INBOUND_ variables read outside Settings, with what they do (the configuration reference lists them).
OTHER_ENV_DOCS = {
    CONFIG_FILE_ENV: "A TOML file of settings (keys are the variable names, lower-case, without the prefix).",
    "INBOUND_REDIS_SERVER_BIN": "The redis-server binary `dev` and the tests start (default: the one on PATH,"
    " else the embedded one).",
}
OTHER_ENV = frozenset(OTHER_ENV_DOCS)
_warned_env: set[str] = set()
_OUTPUTS = frozenset(output for output, _ in LEGACY_OUTPUT_NAMES.values())


def unknown_env(environ: Mapping[str, str]) -> dict[str, str | None]:
    """`INBOUND_*` names no setting reads, each with the closest known name (None: nothing close)."""
    known = {"INBOUND_" + name.upper() for name in Settings.model_fields} | OTHER_ENV
    known |= {"INBOUND_" + old.upper() for old in LEGACY_OUTPUT_NAMES}
    for name, field in Settings.model_fields.items():  # nested models' fields: INBOUND_<FIELD>__<NAME>
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            known |= {f"INBOUND_{name.upper()}__{sub.upper()}" for sub in field.annotation.model_fields}
    return {
        name: next(iter(difflib.get_close_matches(name, known, n=1, cutoff=0.75)), None)
        for name in sorted(environ)
        if name.startswith("INBOUND_") and name not in known
    }


def _warn_unknown_env() -> None:
    """A misspelled variable would be silently ignored (a misspelled file key is an error): say so, once."""
    for name, closest in unknown_env(os.environ).items():
        if name not in _warned_env:
            _warned_env.add(name)
            hint = f"; did you mean {closest}?" if closest else ""
            _log.warning(f"unknown environment variable {name} is ignored{hint}")


def load_settings(**overrides: Any) -> Settings:
    """Load settings, turning validation errors into one readable message naming each setting."""
    _warn_unknown_env()
    try:
        return Settings(**overrides)
    except SettingsError as exc:
        # A complex setting (a list or a table) whose text is not JSON: pydantic-settings names the field only.
        field = re.search(r'field "([^"]+)"', str(exc))
        name = f"INBOUND_{field.group(1).upper()}" if field else "a setting"
        cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
        raise ConfigError(f"invalid configuration: {name} is not valid JSON{cause}") from None
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False, include_input=False):
            loc = ".".join(str(part) for part in error["loc"]) or "configuration"
            parts = [str(part) for part in error["loc"]]
            variable = "INBOUND_" + parts[0].upper() if parts else "INBOUND_"
            if parts and parts[0] in _OUTPUTS and len(parts) > 1:
                variable += "__" + parts[1].upper()
            lines.append(f"{loc} ({variable}): {error['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
