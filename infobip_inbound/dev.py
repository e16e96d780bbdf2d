"""`infobip-inbound dev`: the whole stack in one terminal, for trying it out and developing handlers.

Redis comes from INBOUND_REDIS_URL, else an embedded redis-server keeping its data in ./.inbound-dev/.
The receiver listens on 127.0.0.1 only. Without configured credentials it accepts the path token
`local-dev-token`. Ctrl-C (or SIGTERM) stops every process it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import click

from infobip_inbound.process import die_with_parent
from infobip_inbound.redis_server import RedisServer, RedisServerNotFound
from infobip_inbound.settings import ConfigError, load_settings

DEV_TOKEN = "local-dev-token"  # noqa: S105 - loopback-only development default, printed on purpose
DEV_ADMIN_TOKEN = "local-dev-admin"  # noqa: S105 - the status page's, likewise
DATA_DIR = Path(".inbound-dev")


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_dev() -> int:
    env = dict(os.environ)
    env.setdefault("INBOUND_LOG_FORMAT", "console")
    env["INBOUND_HOST"] = "127.0.0.1"
    if not (env.get("INBOUND_FORWARD_TOKENS") or env.get("INBOUND_FORWARD_BASIC_AUTH")):
        env["INBOUND_FORWARD_TOKENS"] = DEV_TOKEN
    env.setdefault("INBOUND_ADMIN_TOKENS", DEV_ADMIN_TOKEN)
    os.environ.update(env)
    try:
        settings = load_settings()
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2

    redis_server: RedisServer | None = None
    if not settings.redis_url:
        try:
            DATA_DIR.mkdir(exist_ok=True)
            redis_server = RedisServer(data_dir=DATA_DIR.resolve())
        except RedisServerNotFound as exc:
            click.echo(f"error: {exc}", err=True)
            return 2
        redis_server.start()
        env["INBOUND_REDIS_URL"] = redis_server.url

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for role in ("serve", "worker"):
            children[role] = subprocess.Popen(
                [sys.executable, "-m", "infobip_inbound.cli", role],
                env=env,
                preexec_fn=die_with_parent,
            )
        # Only the built-in development token is shown; configured secrets are never printed.
        token = DEV_TOKEN if env.get("INBOUND_FORWARD_TOKENS") == DEV_TOKEN else "<token>"
        url = f"http://127.0.0.1:{settings.port}/infobip/forward/{token}"
        where = f"embedded at {env['INBOUND_REDIS_URL']}" if redis_server else "from INBOUND_REDIS_URL"
        lines = [
            f"infobip-inbound dev: Redis {where}",
            f"  forward URL: {url}",
            f"  try: curl -sS -X POST -H 'Content-Type: application/json' --data @docs/sample-envelope.json {url}",
        ]
        if env["INBOUND_ADMIN_TOKENS"] == DEV_ADMIN_TOKEN:
            lines.append(f"  status page: http://any:{DEV_ADMIN_TOKEN}@127.0.0.1:{settings.port}/admin/status")
        if redis_server is not None:  # a configured URL may hold a password: printed only when it is ours
            lines.append(f"  status: INBOUND_REDIS_URL={redis_server.url} infobip-inbound status --watch")
        lines.append("  Ctrl-C stops everything.")
        click.echo("\n" + "\n".join(lines) + "\n", err=True)
        while True:
            for role, child in children.items():
                if child.poll() is not None:
                    click.echo(f"error: {role} exited with {child.returncode}; stopping", err=True)
                    return 1
            time.sleep(0.2)
    except KeyboardInterrupt:
        click.echo("\nstopping…", err=True)
        return 0
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if redis_server is not None:
            redis_server.stop()
