from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import tests.handlers as handlers
from infobip_inbound.shell.redis_server import RedisServer
from tests.support import ReceiverProcess, Role

TOKEN = "test-token-0123456789"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def base_env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "INBOUND_REDIS_URL": redis_url,
        "INBOUND_FORWARD_TOKENS": TOKEN,
        "INBOUND_JSONL__PATH": str(tmp_path / "handled.jsonl"),
        "INBOUND_DEFAULT_HANDLERS": '["jsonl"]',
        "INBOUND_LOG_LEVEL": "INFO",
        "INBOUND_JOB_RETRY_INTERVALS": "[0, 0, 0]",
        "INBOUND_HANDLER_RETRY_DEFAULT": '{"backoff_base_seconds": 0}',
        "INBOUND_JOB_VISIBILITY_SECONDS": "3",
    }


def _roles(make: Callable[..., Role]) -> Iterator[Callable[..., Role]]:
    """Starts roles on demand; stops them at teardown and prints each log's tail (shown when a test fails)."""
    started: list[Role] = []

    def start(*args: Any, **kwargs: Any) -> Role:
        role = make(len(started), *args, **kwargs)
        started.append(role)
        role.start()
        return role

    yield start
    for role in started:
        role.stop()
        print(f"--- {role.log_path.name} (tail)\n{role.log()[-4000:]}")


@pytest.fixture
def start_receiver(tmp_path: Path) -> Iterator[Callable[..., Role]]:
    yield from _roles(lambda n, env: ReceiverProcess(env, tmp_path / f"receiver-{n}.log"))


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., Role]]:
    yield from _roles(lambda n, env, *args: Role(["worker", *args], env, tmp_path / f"worker-{n}.log"))


@pytest.fixture(autouse=True)
def clean_test_handlers() -> Iterator[None]:
    """tests/handlers.py keeps what its handlers saw in module state: each test starts empty."""
    handlers.calls.clear()
    handlers.failing.clear()
    yield
    handlers.calls.clear()
    handlers.failing.clear()
