"""Workers run their jobs and handlers with the settings they were started with, never a fresh read of the
environment; the built-ins' old names keep working."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from infobip_inbound.contract.settings import load_settings
from tests.support import ROOT, Role, result, wait_until
from tests.test_worker import put


@pytest.fixture
def explicit_worker(base_env: dict[str, str], tmp_path: Path) -> Iterator[Role]:
    role = Role([], base_env, tmp_path / "explicit-worker.log", module="tests.explicit_worker")
    yield role
    role.stop()
    print(f"--- {role.log_path.name} (tail)\n{role.log()[-4000:]}")


@pytest.mark.parametrize("processes", [1, 2])
def test_jsonl_handler_writes_where_the_worker_settings_say(
    explicit_worker: Role, base_env: dict[str, str], redis_url: str, tmp_path: Path, processes: int
) -> None:
    from_env = Path(base_env["INBOUND_JSONL__PATH"])
    explicit = tmp_path / "explicit.jsonl"
    explicit_worker.args = [str(explicit), str(processes), "jsonl"]
    put(load_settings(redis_url=redis_url), result("s1"), result("s2"), result("s3"))
    explicit_worker.start()
    wait_until(lambda: explicit.exists() and len(explicit.read_text().splitlines()) == 3, timeout=60)
    assert sorted(orjson.loads(line)["message_id"] for line in explicit.read_text().splitlines()) == [
        "s1",
        "s2",
        "s3",
    ]
    assert not from_env.exists()


def test_a_plain_rq_worker_runs_the_drain_jobs_with_settings_from_the_environment(
    base_env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    # RQ's own `rq worker` (a forking worker that installs no job context): each job builds one from the
    # INBOUND_ environment, as `infobip-inbound worker` would, instead of failing and leaving the message.
    import redis
    from rq import Queue
    from rq.registry import FailedJobRegistry

    settings = load_settings(redis_url=redis_url)
    put(settings, result("p1"), result("p2"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOUND_")} | base_env
    done = subprocess.run(
        [str(Path(sys.executable).parent / "rq"), "worker", "--burst", "--url", redis_url, settings.default_queue],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    handled = Path(base_env["INBOUND_JSONL__PATH"])
    assert sorted(orjson.loads(line)["message_id"] for line in handled.read_text().splitlines()) == ["p1", "p2"]
    connection = redis.Redis.from_url(redis_url)
    assert FailedJobRegistry(settings.default_queue, connection=connection).count == 0
    assert Queue(settings.default_queue, connection=connection).count == 0
    assert "no job context in this process" in done.stderr  # said, not failed
    connection.close()


# Run in a process of its own: the deprecation warning is given once per process.
OLD_NAMES = """
import json, sys, warnings
from datetime import datetime, timezone
from infobip_inbound.contract.model import UserResponse
from infobip_inbound.contract.settings import load_settings
from infobip_inbound.workers import builtin
from infobip_inbound.workers.registry import HandlerRegistry, resolve

warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert resolve("workers.builtin:log_handler") is builtin.log_handler
    assert resolve("workers.builtin:jsonl_handler") is builtin.jsonl_handler
    names = ["workers.builtin:log_handler", "workers.builtin:jsonl_handler"]
    registry = HandlerRegistry(names, load_settings(jsonl={"path": sys.argv[1]}))
    response = UserResponse.model_validate_json(sys.argv[2])
    for name in names:
        registry.call(name, response)
print(json.dumps([str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]))
"""


def test_old_builtin_names_map_to_the_current_module(tmp_path: Path) -> None:
    from infobip_inbound.infobip.envelope import normalize, read_envelope
    from tests.support import envelope

    (response,) = normalize(read_envelope(orjson.dumps(envelope(result("o1")))), "pull").responses
    jsonl = tmp_path / "old-name.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", OLD_NAMES, str(jsonl), response.json.decode()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    warned = json.loads(done.stdout)
    assert warned == [
        "handler 'workers.builtin:log_handler' is deprecated: "
        "name it 'infobip_inbound.workers.builtin:log_handler' (or by its entry point)",
        "handler 'workers.builtin:jsonl_handler' is deprecated: "
        "name it 'infobip_inbound.workers.builtin:jsonl_handler' (or by its entry point)",
    ]
    assert [orjson.loads(line)["message_id"] for line in jsonl.read_text().splitlines()] == ["o1"]


def test_each_output_owns_its_settings_and_the_flat_names_still_work(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from infobip_inbound.contract import settings as settings_module
    from infobip_inbound.contract.settings import unknown_env

    secret = "whsec_" + base64.b64encode(b"0123456789abcdef").decode()
    monkeypatch.setattr(settings_module, "_warned_legacy", set())
    monkeypatch.setenv("INBOUND_HTTP_RELAY__URL", "https://new.example/hook")
    monkeypatch.setenv("INBOUND_HTTP_RELAY__SECRETS", f"{secret},{secret}")
    monkeypatch.setenv("INBOUND_REDIS_STREAM_MAXLEN", "7")  # the flat name from before
    monkeypatch.setenv("INBOUND_JSONL_PATH", str(tmp_path / "old.jsonl"))
    with caplog.at_level(logging.WARNING, logger="infobip_inbound.settings"):
        loaded = load_settings()
    assert loaded.http_relay.url == "https://new.example/hook" and len(loaded.http_relay.secrets) == 2
    assert loaded.redis_stream.maxlen == 7 and loaded.jsonl.path == tmp_path / "old.jsonl"
    assert (
        "INBOUND_REDIS_STREAM_MAXLEN (redis_stream_maxlen) is deprecated: use INBOUND_REDIS_STREAM__MAXLEN"
        in caplog.text
    )
    assert "use INBOUND_JSONL__PATH" in caplog.text
    assert unknown_env(dict(os.environ)) == {}  # old and new names are both known
    monkeypatch.setenv("INBOUND_HTTP_RELAY_URL", "https://old.example/hook")  # the new name wins
    assert load_settings().http_relay.url == "https://new.example/hook"
