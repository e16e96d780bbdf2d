from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import tests.handlers as handlers
from infobip_inbound.shell.redis_server import RedisServer
from tests.support import ReceiverProcess, Role
from tests.tiers import ProcessFinder

TOKEN = "test-token-0123456789"

# The longest modules (pytest --durations): spread over processes (`make test`, pytest -n), the suite runs them
# first, so that no process is left finishing one of them alone at the end.
LONGEST_MODULES = (
    "test_archive",
    "test_fuzz_receiver",
    "test_poller",
    "test_forward_endpoint",
    "test_chaos",
    "test_dev",
    "test_hardening",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    finder = ProcessFinder()  # the fast tier (`make test-fast`): tests that start no process (tests/tiers.py)
    for item in items:
        finder.mark(item)
    rank = {name: n for n, name in enumerate(LONGEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: each module's order kept


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
