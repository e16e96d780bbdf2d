"""Secrets shown nowhere: a distinct secret is planted in every secret-bearing setting (tokens, Basic and admin
credentials, API keys, webhook secrets, and the credentials and query string of every configured URL: the
service's Redis, `redis_stream`'s, `http_relay`'s, the Infobip base URL and a poll account's), every output is
made to fail (`http_relay` answered 400 by a real local server, `auto_reply` and the poller answered 400 by an
"Infobip" that echoes the request back, `redis_stream` refused), and every surface is searched for each
secret: the receiver's, worker's and poller's logs, every value in Redis, the message pages, /metrics, the
status page and the CLI's output. Nothing is found."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import orjson
import pytest
import redis
from click.testing import CliRunner

from infobip_inbound.shell.cli import main
from infobip_inbound.shell.redis_server import RedisServer, free_port
from tests.support import ReceiverProcess, Role, envelope, result, wait_until

FORWARD_TOKEN = "planted-forward-token-01"
BASIC_PASSWORD = "planted-basic-pass-02"
ADMIN_TOKEN = "planted-admin-token-03"
API_KEY = "planted-api-key-04xx"
INFOBIP_PASSWORD = "planted-infobip-pass-05"
RELAY_PASSWORD = "planted-relay-pass-07"
RELAY_QUERY = "planted-relay-query-08"
RELAY_KEY = b"planted-relay-key-09"
REDIS_USER = "planted-redis-user-10"
REDIS_PASSWORD = "planted-redis-pass-11"
STREAM_PASSWORD = "planted-stream-pass-12"
POLL_PASSWORD = "planted-poll-pass-13"
POLL_QUERY = "planted-poll-query-14"
POLL_KEY = "planted-poll-key-15xx"
RELAY_SECRET = "whsec_" + base64.b64encode(RELAY_KEY).decode()
PLANTED = [
    FORWARD_TOKEN,
    BASIC_PASSWORD,
    ADMIN_TOKEN,
    API_KEY,
    INFOBIP_PASSWORD,
    RELAY_PASSWORD,
    RELAY_QUERY,
    RELAY_SECRET,
    RELAY_SECRET.removeprefix("whsec_"),
    REDIS_USER,
    REDIS_PASSWORD,
    STREAM_PASSWORD,
    POLL_PASSWORD,
    POLL_QUERY,
    POLL_KEY,
]


class Refusing(BaseHTTPRequestHandler):
    """Answers 400 to everything, echoing the request line and its Authorization header (as an error page may)."""

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        body = orjson.dumps(
            {
                "requestError": {
                    "serviceException": {
                        "messageId": "BAD_REQUEST",
                        "text": f"refused {self.path} with {self.headers.get('authorization')}",
                    }
                }
            }
        )
        self.send_response(400)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def refusing() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def guarded_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(data_dir=tmp_path / "redis")
    server.start()
    admin = redis.Redis.from_url(server.url)
    admin.acl_setuser(REDIS_USER, enabled=True, passwords=[f"+{REDIS_PASSWORD}"], keys=["*"], channels=["*"],
                      commands=["+@all"])  # fmt: skip
    admin.close()
    yield server
    server.stop()


def every_redis_value(client: redis.Redis) -> str:
    """Every key and value in the database, as text."""
    parts: list[bytes] = []
    for key in client.scan_iter(count=1000):
        parts.append(key)
        kind = client.type(key).decode()
        if kind == "string":
            parts.append(client.get(key) or b"")  # type: ignore[arg-type]
        elif kind == "hash":
            for field, value in client.hgetall(key).items():  # type: ignore[union-attr]
                parts += [field, value]
        elif kind == "list":
            parts += client.lrange(key, 0, -1)  # type: ignore[operator]
        elif kind == "set":
            parts += list(client.smembers(key))  # type: ignore[arg-type]
        elif kind == "zset":
            parts += [member for member, _ in client.zrange(key, 0, -1, withscores=True)]  # type: ignore[union-attr]
        elif kind == "stream":
            for _, fields in client.xrange(key):  # type: ignore[union-attr]
                for field, value in fields.items():
                    parts += [field, value]
    return b"\n".join(parts).decode(errors="replace")


def test_a_planted_secret_is_found_on_no_surface(
    guarded_redis: RedisServer, refusing: int, tmp_path: Path, start_worker: Callable[..., Role]
) -> None:
    port = guarded_redis.url.rsplit(":", 1)[1].split("/")[0]
    local = f"127.0.0.1:{refusing}"
    health_port = free_port()
    env = {
        "INBOUND_REDIS_URL": f"redis://{REDIS_USER}:{REDIS_PASSWORD}@127.0.0.1:{port}/0",
        "INBOUND_FORWARD_TOKENS": FORWARD_TOKEN,
        "INBOUND_FORWARD_BASIC_AUTH": f"infobip:{BASIC_PASSWORD}",
        "INBOUND_ADMIN_TOKENS": ADMIN_TOKEN,
        "INBOUND_INFOBIP_BASE_URL": f"http://infobip:{INFOBIP_PASSWORD}@{local}",
        "INBOUND_INFOBIP_API_KEY": API_KEY,
        "INBOUND_INFOBIP_MAX_TRIES": "1",
        "INBOUND_HTTP_RELAY__URL": f"http://relay:{RELAY_PASSWORD}@{local}/hook?key={RELAY_QUERY}",
        "INBOUND_HTTP_RELAY__SECRETS": RELAY_SECRET,
        "INBOUND_REDIS_STREAM__URL": f"redis://stream:{STREAM_PASSWORD}@127.0.0.1:{free_port()}/0",
        "INBOUND_POLL_ACCOUNTS": json.dumps(
            [
                {"name": "main"},
                {
                    "name": "other",
                    "base_url": f"http://poll:{POLL_PASSWORD}@{local}/?q={POLL_QUERY}",
                    "api_key": POLL_KEY,
                },
            ]
        ),
        "INBOUND_POLL_INTERVAL_SECONDS": "0.2",
        "INBOUND_DEFAULT_HANDLERS": '["http_relay", "redis_stream", "auto_reply"]',
        "INBOUND_HANDLER_RETRY_DEFAULT": '{"max_tries": 1}',
        "INBOUND_JOB_RETRY_INTERVALS": "[0, 0, 0]",
        "INBOUND_LOG_LEVEL": "DEBUG",
    }
    receiver = ReceiverProcess(env, tmp_path / "receiver.log")
    receiver.start()
    worker = start_worker({**env, "INBOUND_HEALTH_PORT": str(health_port), "INBOUND_HOST": "127.0.0.1"})
    poller = Role(["poller"], env, tmp_path / "poller.log")
    poller.start()
    client = redis.Redis.from_url(guarded_redis.url)
    try:
        forward = f"{receiver.base_url}/infobip/forward"
        body = orjson.dumps(envelope(result("s-1"), result("s-2")))
        headers = {"content-type": "application/json"}
        assert httpx.post(f"{forward}/{FORWARD_TOKEN}", content=body, headers=headers).status_code == 200
        basic = httpx.post(forward, content=orjson.dumps(envelope(result("s-3"))), headers=headers,
                           auth=("infobip", BASIC_PASSWORD))  # fmt: skip
        assert basic.status_code == 200
        assert httpx.post(f"{forward}/{FORWARD_TOKEN}x", content=body, headers=headers).status_code == 401

        wait_until(lambda: len(dead_letter_ids(env)) >= 9, timeout=90, interval=0.5)  # 3 messages, 3 outputs
        wait_until(lambda: poller_failed(env), timeout=60, interval=0.5)

        admin = ("any", ADMIN_TOKEN)
        pages = [
            httpx.get(f"{receiver.base_url}{path}", auth=admin).text
            for path in ("/admin/messages/s-1", "/admin/messages/s-1.json", "/admin/status", "/metrics")
        ]
        pages.append(httpx.get(f"http://127.0.0.1:{health_port}/metrics").text)
        outputs = [cli(env, "dlq", "list"), cli(env, "dlq", "list", "--json"), cli(env, "status")]
        outputs += [cli(env, "dlq", "show", entry) for entry in dead_letter_ids(env)]
        outputs += [cli(env, "messages", "show", "s-1"), cli(env, "messages", "show", "s-1", "--json")]
        outputs.append(cli(env, "messages", "list"))
    finally:
        poller.stop()
        receiver.stop()
    surfaces = {
        "receiver log": receiver.log(),
        "worker log": worker.log(),
        "poller log": poller.log(),
        "redis": every_redis_value(client),
        "pages": "\n".join(pages),
        "cli": "\n".join(outputs),
    }
    client.close()
    # The failures did happen, and name what failed.
    assert "http_relay: http://127.0.0.1" in surfaces["cli"] and "answered 400" in surfaces["cli"]
    assert "redis_stream" in surfaces["cli"] and "auto_reply" in surfaces["cli"]
    for name, text in surfaces.items():
        found = [secret for secret in PLANTED if secret in text]
        assert not found, (name, found)


def cli(env: dict[str, str], *args: str) -> str:
    outcome = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    return outcome.output


def dead_letter_ids(env: dict[str, str]) -> list[str]:
    outcome = CliRunner().invoke(main, ["dlq", "list", "--json"], env=env, catch_exceptions=False)
    document = next(line for line in outcome.output.splitlines() if line.startswith('{"entries"'))
    return [entry["id"] for entry in json.loads(document)["entries"]]


def poller_failed(env: dict[str, str]) -> bool:
    """Both accounts' pulls were refused, as `status` reports them."""
    pollers = json.loads(cli(env, "status", "--json"))["poller"]["pollers"]
    accounts = [account for status in pollers for account in status.get("accounts", {}).values()]
    return len(accounts) == 2 and all(account.get("last_error") or account.get("stopped") for account in accounts)


def test_a_command_error_never_shows_a_configured_secret(redis_url: str) -> None:
    """An error line (here a message id that is not archived, given as the URL an operator pasted) leaves the
    command without the configured Redis password and without any URL's credentials or query string."""
    env = {
        "INBOUND_REDIS_URL": redis_url,
        "INBOUND_HTTP_RELAY__URL": "https://relay:relay-pass-7c1e9a@hooks.example/in?key=relay-key-5b2d8f",
    }
    asked = "https://someone:other-pass-1234@x.example/p?token=abcdef123456 relay-key-5b2d8f"
    outcome = CliRunner().invoke(main, ["messages", "show", asked], env=env)
    assert outcome.exit_code == 1 and "is not in the archive" in outcome.output
    for secret in ("relay-key-5b2d8f", "other-pass-1234", "abcdef123456"):
        assert secret not in outcome.output
