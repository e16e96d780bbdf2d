"""Configuration: environment variables prefixed INBOUND_, over an optional TOML file (INBOUND_CONFIG_FILE)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_ENV = "INBOUND_CONFIG_FILE"


class RouteMatch(BaseModel):
    """Conditions of a route; every condition given must hold (an empty match matches everything)."""

    application_code: list[str] | None = None
    keyword: list[str] | None = None
    callback_data: list[str] | None = None
    custom_payload_keys: list[str] | None = Field(
        default=None, description="Every key listed must be present in custom_payload."
    )

    @field_validator("application_code", "keyword", "callback_data", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Route(BaseModel):
    name: str
    match: RouteMatch = RouteMatch()
    handlers: list[str] = Field(min_length=1)
    queue: str | None = Field(default=None, description="Queue for these responses; the default queue if unset.")


class PullAccount(BaseModel):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    base_url: str | None = Field(default=None, description="Default: INBOUND_INFOBIP_BASE_URL.")
    api_key: SecretStr | None = Field(default=None, description="Default: INBOUND_INFOBIP_API_KEY.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INBOUND_", extra="forbid", validate_default=True)

    # Redis
    redis_url: str | None = Field(
        default=None, description="redis:// or rediss:// URL. Unset: `dev` starts an embedded Redis."
    )
    redis_socket_timeout: float = Field(default=5.0, gt=0)

    # Forward endpoint
    host: str = "0.0.0.0"  # noqa: S104 - a container listens on all interfaces
    port: int = Field(default=8080, ge=1, le=65535)
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
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    retry_after_seconds: int = Field(default=5, ge=1, description="Retry-After sent with 503 answers.")

    # Enqueue
    dedup_window_seconds: int = Field(default=72 * 3600, gt=0)
    commit_max_wait_ms: float = Field(
        default=1.0, ge=0, le=50, description="How long a group commit waits for more requests."
    )
    commit_max_messages: int = Field(default=500, ge=1, le=5000)
    default_queue: str = "infobip-inbound"
    job_timeout_seconds: int = Field(default=180, gt=0)
    job_result_ttl_seconds: int = Field(default=300, ge=0)
    job_retries: int = Field(default=3, ge=0)
    job_retry_intervals: list[int] = Field(default=[10, 60, 300])

    # Routing
    routes: list[Route] = Field(default_factory=list)
    default_handlers: list[str] = Field(default=["log"], min_length=1)

    # Built-in handlers
    jsonl_path: Path = Path("responses.jsonl")

    # Workers
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
    infobip_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    infobip_read_timeout_seconds: float = Field(default=30.0, gt=0)
    infobip_max_tries: int = Field(default=5, ge=1, le=20, description="Tries per call on 429, 5xx, refused.")
    infobip_retry_budget_seconds: float = Field(
        default=60.0, gt=0, description="Total time one call may spend waiting between tries."
    )
    infobip_backoff_base_seconds: float = Field(default=0.5, gt=0)
    infobip_backoff_max_seconds: float = Field(default=15.0, gt=0)

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
    poll_backoff_max_seconds: float = Field(default=60.0, gt=0)
    poll_spill_dir: Path = Field(
        default=Path("/tmp/infobip-inbound-spill"),  # noqa: S108 - a declared writable path in the image
        description="Where a pulled batch goes if Redis fails between the pull and the store.",
    )

    # Health endpoints of the worker and poller roles (0 = off)
    health_port: int = Field(default=0, ge=0, le=65535)

    # Operations: the receiver's read-only status page (/admin/status); off while no token is set
    admin_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated tokens for /admin/* (Bearer, or HTTP Basic with the token as password).",
    )

    # Logs
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("forward_tokens", "forward_basic_auth", "worker_queues", "admin_tokens", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("forward_basic_auth")
    @classmethod
    def _user_colon_password(cls, value: list[SecretStr]) -> list[SecretStr]:
        for pair in value:
            user, sep, password = pair.get_secret_value().partition(":")
            if not sep or not user or not password:
                raise ValueError("each entry must be user:password")
        return value

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
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            if not Path(config_file).is_file():
                raise ConfigError(f"{CONFIG_FILE_ENV}={config_file}: no such file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


class ConfigError(Exception):
    """Invalid configuration; the message names the setting."""


def load_settings(**overrides: Any) -> Settings:
    """Load settings, turning validation errors into one readable message naming each setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False, include_input=False):
            loc = ".".join(str(part) for part in error["loc"]) or "configuration"
            lines.append(f"{loc} (INBOUND_{loc.split('.')[0].upper()}): {error['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
