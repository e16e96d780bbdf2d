"""Redis through a real Sentinel: settings, both clients, the receiver and RQ workers, credentials, log redaction."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from infobip_inbound.contract.settings import ConfigError, Settings, load_settings
from infobip_inbound.runtime.logs import REDACTED, _Redacting, secrets_of
from infobip_inbound.runtime.process import die_with_parent
from infobip_inbound.runtime.redis_client import async_client, sync_client
from infobip_inbound.shell.redis_server import RedisServer, find_redis_server, free_port
from tests.conftest import TOKEN
from tests.support import ReceiverProcess, Role, envelope, result, wait_until

MASTER = "inbound-primary"
PASSWORD = "data-pw-7f3a9c2e"
SENTINEL_PASSWORD = "sentinel-pw-1b8d4e6f"


@dataclass
class SentinelSetup:
    primary: RedisServer
    sentinel_port: int
    password: str | None

    @property
    def env(self) -> dict[str, str]:
        env = {
            "INBOUND_REDIS_SENTINELS": f"127.0.0.1:{self.sentinel_port}",
            "INBOUND_REDIS_SENTINEL_MASTER": MASTER,
            "INBOUND_REDIS_DB": "3",
        }
        if self.password:
            env["INBOUND_REDIS_PASSWORD"] = self.password
            env["INBOUND_REDIS_SENTINEL_PASSWORD"] = SENTINEL_PASSWORD
        return env

    def primary_client(self) -> redis.Redis:
        return redis.Redis(port=self.primary.port, db=3, password=self.password)


def start_sentinel(tmp_path: Path, primary: RedisServer, password: str | None) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    directory = tmp_path / "sentinel"
    directory.mkdir()
    lines = [
        "bind 127.0.0.1",
        f"port {port}",
        f'dir "{directory}"',
        f'logfile "{directory / "sentinel.log"}"',
        f"sentinel monitor {MASTER} 127.0.0.1 {primary.port} 1",
        f"sentinel down-after-milliseconds {MASTER} 60000",
    ]
    if password:
        lines += [f"sentinel auth-pass {MASTER} {password}", f"requirepass {SENTINEL_PASSWORD}"]
    conf = directory / "sentinel.conf"  # Sentinel rewrites its config file: it must be writable
    conf.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen(
        [find_redis_server(), str(conf), "--sentinel"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    client = redis.Redis(port=port, password=SENTINEL_PASSWORD if password else None, socket_connect_timeout=0.5)

    def knows_the_primary() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"sentinel exited {process.returncode}; see {directory}")
        try:
            return client.sentinel_get_master_addr_by_name(MASTER) == (b"127.0.0.1", primary.port)
        except redis.ConnectionError:
            return False

    try:
        wait_until(knows_the_primary, timeout=20)
    finally:
        client.close()
    return process, port


def _setup(tmp_path: Path, password: str | None) -> Iterator[SentinelSetup]:
    primary = RedisServer(data_dir=tmp_path / "primary")
    primary.start()
    process: subprocess.Popen[bytes] | None = None
    try:
        if password:
            with redis.Redis(port=primary.port) as client:
                client.config_set("requirepass", password)
        process, port = start_sentinel(tmp_path, primary, password)
        yield SentinelSetup(primary, port, password)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        primary.cleanup()


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[SentinelSetup]:
    yield from _setup(tmp_path, password=None)


@pytest.fixture
def sentinel_with_auth(tmp_path: Path) -> Iterator[SentinelSetup]:
    yield from _setup(tmp_path, password=PASSWORD)


def settings_for(setup: SentinelSetup, **overrides: object) -> Settings:
    fields = {k.removeprefix("INBOUND_").lower(): v for k, v in setup.env.items()}
    return load_settings(**{**fields, **overrides})


def check_both_clients(setup: SentinelSetup, settings: Settings) -> None:
    client = sync_client(settings)
    try:
        client.set("inbound:sentinel-test:sync", "1")
        assert client.connection_pool.get_master_address() == ("127.0.0.1", setup.primary.port)  # type: ignore[attr-defined]
    finally:
        client.close()

    async def via_async() -> None:
        aclient = async_client(settings)
        try:
            await aclient.set("inbound:sentinel-test:async", "2")
            assert await aclient.get("inbound:sentinel-test:sync") == b"1"
        finally:
            await aclient.aclose()

    asyncio.run(via_async())
    with setup.primary_client() as direct:  # both wrote to database 3 of the primary the Sentinel named
        assert direct.mget("inbound:sentinel-test:sync", "inbound:sentinel-test:async") == [b"1", b"2"]


def test_both_clients_reach_the_primary_through_the_sentinel(sentinel: SentinelSetup) -> None:
    check_both_clients(sentinel, settings_for(sentinel))


def test_passwords_of_the_primary_and_the_sentinels(sentinel_with_auth: SentinelSetup) -> None:
    check_both_clients(sentinel_with_auth, settings_for(sentinel_with_auth))

    no_sentinel_password = sync_client(settings_for(sentinel_with_auth, redis_sentinel_password=None))
    with pytest.raises(redis.ConnectionError):  # the Sentinel refuses: no primary can be discovered
        no_sentinel_password.ping()
    no_sentinel_password.close()

    no_password = sync_client(settings_for(sentinel_with_auth, redis_password=None))
    with pytest.raises(redis.AuthenticationError):
        no_password.ping()
    no_password.close()


def test_unknown_master_name_is_a_connection_error(sentinel: SentinelSetup) -> None:
    client = sync_client(settings_for(sentinel, redis_sentinel_master="not-monitored"))
    with pytest.raises(redis.ConnectionError):  # MasterNotFoundError: the receiver answers 503 on it
        client.ping()
    client.close()


class Interrupted(Exception):
    """Raised by the test's signal handler to cut into a blocking read."""


def test_a_read_interrupted_by_a_signal_leaves_no_reply_behind(sentinel: SentinelSetup) -> None:
    """SIGTERM during RQ's blocking dequeue raises inside the read; the next command must get its own reply."""
    client = sync_client(settings_for(sentinel))

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(Interrupted):
            client.blpop(["inbound:sentinel-test:empty"], timeout=2)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    # A connection kept after the interrupt would answer PING with the BLPOP's nil, then ECHO with PONG.
    assert client.ping() is True
    assert client.echo("own") == b"own"
    client.close()


@pytest.mark.parametrize("processes", ["1", "2"])
def test_receiver_and_rq_workers_through_the_sentinel(
    sentinel: SentinelSetup,
    start_receiver: Callable[[dict[str, str]], ReceiverProcess],
    start_worker: Callable[..., Role],
    base_env: dict[str, str],
    tmp_path: Path,
    processes: str,
) -> None:
    env = {k: v for k, v in base_env.items() if k != "INBOUND_REDIS_URL"} | sentinel.env
    receiver = start_receiver(env)
    ready = httpx.get(receiver.base_url + "/health/ready", timeout=5)
    assert ready.status_code == 200, ready.text
    answer = httpx.post(
        f"{receiver.base_url}/infobip/forward/{TOKEN}",
        content=orjson.dumps(envelope(result("s1"), result("s2"), result("s3"))),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    with sentinel.primary_client() as direct:
        assert direct.exists("rq:queue:infobip-inbound")  # the job is on the primary, database 3

    worker = start_worker(env, "--processes", processes)
    handled = Path(base_env["INBOUND_JSONL__PATH"])

    def all_handled() -> bool:
        assert worker.process is not None
        if worker.process.poll() is not None:
            raise AssertionError(f"worker exited {worker.process.returncode}:\n{worker.log()}")
        lines = handled.read_text().splitlines() if handled.exists() else []
        return sorted(orjson.loads(line)["message_id"] for line in lines) == ["s1", "s2", "s3"]

    wait_until(all_handled, timeout=60)
    # Every process of the pool listening first: one stopped while it still starts up dies by RQ's
    # KeyboardInterrupt before it registers its cleanup, and RQ's own maintenance drops its entry later.
    wait_until(lambda: worker.log().count("*** Listening on") == int(processes), timeout=60)
    # SIGTERM interrupts the blocking dequeue; the worker then deregisters from Redis and exits by itself.
    assert worker.stop() == 0, worker.log()
    with sentinel.primary_client() as direct:
        assert direct.smembers("rq:workers") == set()


# Settings


def test_url_and_sentinels_are_exclusive() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(redis_url="redis://127.0.0.1:6379/0", redis_sentinels="127.0.0.1:26379")
    assert "INBOUND_REDIS_SENTINELS" in str(raised.value)
    assert "INBOUND_REDIS_URL" in str(raised.value)


@pytest.mark.parametrize("entry", ["127.0.0.1", "127.0.0.1:http", ":26379", "host:0", "host:70000"])
def test_each_sentinel_is_host_colon_port(entry: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(redis_sentinels=f"10.0.0.1:26379,{entry}")
    assert "redis_sentinels (INBOUND_REDIS_SENTINELS)" in str(raised.value)


def test_sentinel_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    monkeypatch.setenv("INBOUND_REDIS_SENTINELS", "redis-0:26379, redis-1:26379,[fd00::2]:26379")
    monkeypatch.setenv("INBOUND_REDIS_SENTINEL_MASTER", "mymaster")
    monkeypatch.setenv("INBOUND_REDIS_DB", "2")
    monkeypatch.setenv("INBOUND_REDIS_SENTINEL_TLS", "true")
    monkeypatch.setenv("INBOUND_REDIS_SSL_CA_CERTS", str(ca))
    monkeypatch.setenv("INBOUND_REDIS_USERNAME", "inbound")
    monkeypatch.setenv("INBOUND_REDIS_PASSWORD", PASSWORD)
    settings = load_settings()
    assert settings.redis_sentinels == ["redis-0:26379", "redis-1:26379", "[fd00::2]:26379"]
    assert (settings.redis_db, settings.redis_sentinel_tls, settings.redis_ssl_ca_certs) == (2, True, ca)
    assert settings.redis_password is not None and settings.redis_password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(settings)


def test_db_and_ca_settings_that_would_be_ignored_are_refused() -> None:
    with pytest.raises(ConfigError, match="INBOUND_REDIS_DB"):
        load_settings(redis_url="redis://127.0.0.1:6379/0", redis_db=2)
    with pytest.raises(ConfigError, match="INBOUND_REDIS_SSL_CA_CERTS"):
        load_settings(redis_url="redis://127.0.0.1:6379/0", redis_ssl_ca_certs="/etc/ca.crt")
    load_settings(redis_url="rediss://127.0.0.1:6380/0", redis_ssl_ca_certs="/etc/ca.crt")


def test_no_redis_configured_names_both_settings() -> None:
    with pytest.raises(ValueError, match="INBOUND_REDIS_URL nor INBOUND_REDIS_SENTINELS"):
        sync_client(load_settings())


# Log redaction


def test_redis_credentials_and_api_keys_are_redacted_from_log_lines() -> None:
    settings = load_settings(
        redis_sentinels="127.0.0.1:26379",
        redis_username="inbound-svc",
        redis_password=PASSWORD,
        redis_sentinel_password=SENTINEL_PASSWORD,
        infobip_api_key="main-api-key-0a1b2c3d",
        poll_accounts=[
            {"name": "eu", "api_key": "eu-api-key-4e5f6071"},
            {"name": "us", "base_url": "https://us.api.infobip.com"},
        ],
    )
    formatter = _Redacting(logging.Formatter("%(message)s"), secrets_of(settings))
    secrets = [PASSWORD, SENTINEL_PASSWORD, "inbound-svc", "main-api-key-0a1b2c3d", "eu-api-key-4e5f6071"]
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed: " + " | ".join(secrets), None, None)
    line = formatter.format(record)
    assert line == "failed: " + " | ".join([REDACTED] * len(secrets))


def test_the_default_redis_user_name_is_not_redacted() -> None:
    settings = load_settings(redis_url="redis://127.0.0.1:6379/0", redis_username="default")
    assert "default" not in secrets_of(settings)
