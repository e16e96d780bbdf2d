"""What every command gets from the `infobip-inbound` group: the settings, loaded once by the group's callback
and passed through click's context, and a Redis connection made from them on first use. An invalid
configuration is reported by the command that needs it, as one line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from infobip_inbound.contract.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    import redis


def one_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] + " " + "; ".join(lines[1:])).strip() if lines else ""


@dataclass
class Loaded:
    """The group's settings (or why there are none), and the connection made from them."""

    settings: Settings | None
    error: ConfigError | None
    connection: redis.Redis | None = None

    @classmethod
    def load(cls) -> Loaded:
        try:
            return cls(load_settings(), None)
        except ConfigError as exc:
            return cls(None, exc)


def _loaded() -> Loaded:
    context = click.get_current_context()
    loaded = context.find_object(Loaded)
    if loaded is None:  # a command invoked on its own, outside the group
        loaded = context.find_root().obj = Loaded.load()
    return loaded


def settings(**overrides: Any) -> Settings:
    """The settings the group loaded, with the command's own options (those given) over them."""
    loaded = _loaded()
    if loaded.settings is None:
        raise click.ClickException(one_line(str(loaded.error)))
    given = {name: value for name, value in overrides.items() if value is not None}
    return loaded.settings.model_copy(update=given) if given else loaded.settings


def connection() -> redis.Redis:
    """A Redis client for the group's settings, made once per command."""
    from infobip_inbound.runtime.redis_client import sync_client

    loaded = _loaded()
    if loaded.connection is None:
        try:
            loaded.connection = sync_client(settings())
        except (ConfigError, ValueError) as exc:
            raise click.ClickException(one_line(str(exc))) from None
    return loaded.connection
