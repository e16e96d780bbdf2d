from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from infobip_inbound.redis_server import RedisServer
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
        "INBOUND_JSONL_PATH": str(tmp_path / "handled.jsonl"),
        "INBOUND_DEFAULT_HANDLERS": '["jsonl"]',
        "INBOUND_LOG_LEVEL": "INFO",
        "INBOUND_JOB_RETRY_INTERVALS": "[0, 0, 0]",
        "INBOUND_HANDLER_RETRY_DEFAULT": '{"backoff_base_seconds": 0}',
        "INBOUND_JOB_VISIBILITY_SECONDS": "3",
    }


@pytest.fixture
def start_receiver(tmp_path: Path) -> Iterator[object]:
    started: list[ReceiverProcess] = []

    def start(env: dict[str, str]) -> ReceiverProcess:
        receiver = ReceiverProcess(env, tmp_path / f"receiver-{len(started)}.log")
        started.append(receiver)
        receiver.start()
        return receiver

    yield start
    for receiver in started:
        receiver.stop()
        print(f"--- {receiver.log_path.name} (tail)\n{receiver.log()[-4000:]}")  # shown when the test fails


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[object]:
    started: list[Role] = []

    def start(env: dict[str, str], *args: str) -> Role:
        worker = Role(["worker", *args], env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        worker.start()
        return worker

    yield start
    for worker in started:
        worker.stop()
        print(f"--- {worker.log_path.name} (tail)\n{worker.log()[-4000:]}")  # shown when the test fails
