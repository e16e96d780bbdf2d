"""`infobip-inbound dev`: the whole stack in one terminal, for trying it out and developing handlers.

- Redis from INBOUND_REDIS_URL, else an embedded redis-server keeping its data in ./.inbound-dev/, which
  it locks (./.inbound-dev/lock): a second `dev` in the same folder says so and exits, so two redis-servers
  never append to one AOF.
- Infobip: the account in INBOUND_INFOBIP_BASE_URL / INBOUND_INFOBIP_API_KEY, else the simulator, on
  which the local receiver is registered for HTTP_FORWARD (first application) and PULL (the others: like
  Infobip, the simulator keeps nothing for an application without a PULL action), while it generates
  responses for every application; the poller pulls what is not forwarded.
- The receiver, a worker and the poller, as child processes; the receiver listens on 127.0.0.1 only.
  Without configured credentials it accepts the path token `local-dev-token`.
- With the simulator, the loop closes: on start a small campaign goes out to simulated devices of both
  applications, half of them respond (by forward or by pull), and the `auto_reply` handler (on the default
  route, unless handlers or routes are configured) answers each once; `/_sim/counters` shows it all.
Ctrl-C (or SIGTERM) stops every process it started.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import IO

import click
import httpx
from pydantic import SecretStr

from infobip_inbound.contract.settings import (
    CONFIG_FILE_ENV,
    DEV_ADMIN_TOKEN,
    DEV_FORWARD_TOKEN,
    ConfigError,
    load_settings,
)
from infobip_inbound.infobip.client import InfobipClient
from infobip_inbound.infobip.push import PushContent, PushMessage, PushRequest, RegistrationDestination
from infobip_inbound.runtime.process import die_with_parent, stop
from infobip_inbound.shell.redis_server import RedisServer, RedisServerNotFound, free_port

DEV_TOKEN = DEV_FORWARD_TOKEN  # loopback-only development default, printed on purpose
SIMULATOR_KEY = "dev-simulator-key"
SIMULATOR_APPS = ("8a9b7c6d5e4f", "2f3e4d5c6b7a", "c0ffee123456")
DATA_DIR = Path(".inbound-dev")
CAMPAIGN_DEVICES = 10  # simulated devices per application that the start-up campaign goes to
RESPOND_SHARE = 0.5
# auto_reply's answers in dev, unless INBOUND_AUTO_REPLY is set.
DEV_AUTO_REPLY = (
    '{"keywords": {"YES": {"title": "You are in", "text": "Thanks, {registration_id}: see you there."},'
    ' "STOP": {"text": "Done: no more messages."}},'
    ' "default": {"text": "Thanks for your answer ({text})."}}'
)


class DataDirLocked(RuntimeError):
    """Another `dev` holds the data folder."""


def _lock_data_dir(data_dir: Path) -> IO[bytes]:
    """An exclusive lock on the data folder, held while the returned file stays open (the kernel releases it
    when this process ends, however it ends; child processes do not inherit it)."""
    data_dir.mkdir(exist_ok=True)
    lock = (data_dir / "lock").open("ab")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise DataDirLocked(
            f"another `infobip-inbound dev` is running with its data in {data_dir.resolve()}; stop it first "
            "(or set INBOUND_REDIS_URL to use a Redis of your own)"
        ) from None
    return lock


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _wait_http(url: str, child: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if child.poll() is not None:
            raise RuntimeError(f"{what} exited with {child.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")
        time.sleep(0.1)


def _campaign(base_url: str) -> str:
    """Push to simulated devices of the forward and the pull application: the loop's start. The bulk id."""
    request = PushRequest(
        messages=[
            PushMessage(
                sender=app,
                destinations=[
                    RegistrationDestination(push_registration_id=f"dev-device-{app}-{n:02d}")
                    for n in range(1, CAMPAIGN_DEVICES + 1)
                ],
                content=PushContent(title="Quick question", text="Will you join us on Friday? Answer YES or NO."),
            )
            for app in SIMULATOR_APPS[:2]
        ]
    )
    with InfobipClient(base_url, SecretStr(SIMULATOR_KEY)) as client:
        return client.send_push(request).bulk_id or ""


def run_dev(simulator: bool = True, simulated_rate: float = 0.5) -> int:
    env = dict(os.environ)
    env.setdefault("INBOUND_LOG_FORMAT", "console")
    env["INBOUND_HOST"] = "127.0.0.1"
    if not (env.get("INBOUND_FORWARD_TOKENS") or env.get("INBOUND_FORWARD_BASIC_AUTH")):
        env["INBOUND_FORWARD_TOKENS"] = DEV_TOKEN
    env.setdefault("INBOUND_ADMIN_TOKENS", DEV_ADMIN_TOKEN)
    env["INBOUND_DEV_DEFAULTS"] = "true"  # its own published credentials, accepted here only
    os.environ.update(env)
    try:
        settings = load_settings()
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    use_simulator = simulator and not (settings.infobip_base_url and settings.infobip_api_key)

    redis_server: RedisServer | None = None
    if not settings.redis_url and not settings.redis_sentinels:
        try:
            data_lock = _lock_data_dir(DATA_DIR)  # noqa: F841 - held until this process ends
        except DataDirLocked as exc:
            click.echo(f"error: {exc}", err=True)
            return 1
        try:
            redis_server = RedisServer(data_dir=DATA_DIR.resolve())
        except RedisServerNotFound as exc:
            click.echo(f"error: {exc}", err=True)
            return 2
        redis_server.start()
        env["INBOUND_REDIS_URL"] = redis_server.url

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    children: dict[str, subprocess.Popen[bytes]] = {}

    def start(role: str, *args: str) -> subprocess.Popen[bytes]:
        children[role] = subprocess.Popen(
            [sys.executable, "-m", "infobip_inbound.shell.cli", *args], env=env, preexec_fn=die_with_parent
        )
        return children[role]

    try:
        if use_simulator:
            configured = CONFIG_FILE_ENV in env or "INBOUND_ROUTES" in env or "INBOUND_DEFAULT_HANDLERS" in env
            if not configured:
                env["INBOUND_DEFAULT_HANDLERS"] = '["log", "auto_reply"]'
            env.setdefault("INBOUND_AUTO_REPLY", DEV_AUTO_REPLY)
            port = free_port()
            sim = start(
                "simulator",
                "simulator",
                "--port", str(port),
                "--api-key", SIMULATOR_KEY,
                *(arg for app in SIMULATOR_APPS for arg in ("--application", app)),
                "--rate", str(simulated_rate),
                "--forward-retry-delays", "1,2,5,10",
            )  # fmt: skip
            env["INBOUND_INFOBIP_BASE_URL"] = f"http://127.0.0.1:{port}"
            env["INBOUND_INFOBIP_API_KEY"] = SIMULATOR_KEY
            _wait_http(f"http://127.0.0.1:{port}/_sim/counters", sim, "the simulator")
        receiver = start("receiver", "serve")
        start("worker", "worker")
        if use_simulator or (settings.infobip_base_url and settings.infobip_api_key):
            start("poller", "poller")
        local = f"http://127.0.0.1:{settings.port}"
        _wait_http(f"{local}/health/ready", receiver, "the receiver")
        if use_simulator:
            # Every application is set up, as at Infobip: without an action the simulator keeps nothing.
            forward_app, *pull_apps = SIMULATOR_APPS
            for args in (["--application", forward_app], *(["--application", app, "--pull"] for app in pull_apps)):
                subprocess.run(
                    [sys.executable, "-m", "infobip_inbound.shell.cli", "register", "--public-url", local, *args],
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
            sim_url = env["INBOUND_INFOBIP_BASE_URL"]
            httpx.put(f"{sim_url}/_sim/options", json={"respond_share": RESPOND_SHARE}, timeout=5).raise_for_status()
            bulk_id = _campaign(sim_url)

        # Only the built-in development token is shown; configured secrets are never printed.
        token = DEV_TOKEN if env.get("INBOUND_FORWARD_TOKENS") == DEV_TOKEN else "<token>"
        url = f"{local}/infobip/forward/{token}"
        where = f"embedded at {env['INBOUND_REDIS_URL']}" if redis_server else "as configured"
        infobip = (
            f"simulator at {env['INBOUND_INFOBIP_BASE_URL']} ({simulated_rate}/s responses; "
            f"{SIMULATOR_APPS[0]} by forward, the others by pull)"
            if use_simulator
            else ("your account (poller on)" if "poller" in children else "none (set INBOUND_INFOBIP_* to pull)")
        )
        lines = [
            f"infobip-inbound dev: Redis {where}",
            f"  Infobip: {infobip}",
        ]
        if use_simulator:
            lines += [
                f"  campaign {bulk_id}: {2 * CAMPAIGN_DEVICES} simulated devices, about {RESPOND_SHARE:.0%} respond;"
                " auto_reply answers them",
                f"  the loop: curl -sS {env['INBOUND_INFOBIP_BASE_URL']}/_sim/counters",
            ]
        lines += [
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
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        click.echo(f"error: {exc}; stopping", err=True)
        return 1
    finally:
        for child in children.values():  # all asked at once, so they stop in parallel
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children.values():
            stop(child)
        if redis_server is not None:
            redis_server.stop()
