"""Writes acknowledged by replicas (INBOUND_REDIS_ACK_REPLICAS): a real primary and replica on loopback, the
replica paused (SIGSTOP) to stand for one that is cut off or too slow."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import ConfigError, Settings, load_settings
from infobip_inbound.contract.store import replication
from infobip_inbound.contract.store.keys import PULL_RAW_KEY, STATS_KEY, inbox_key
from infobip_inbound.infobip.envelope import normalize, read_envelope
from infobip_inbound.receiver.enqueue import InboxWriter, enqueue_now
from infobip_inbound.receiver.pull_store import PullStore
from infobip_inbound.shell.redis_server import RedisServer
from tests.conftest import TOKEN
from tests.replicas import paused, start_replica
from tests.support import ReceiverProcess, envelope, result

INBOX = inbox_key("infobip-inbound")


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    """A primary and its replica, both empty."""
    primary = RedisServer(data_dir=tmp_path / "primary")
    primary.start()
    replica: RedisServer | None = None
    try:
        replica = start_replica(primary.port, tmp_path / "replica")
        yield primary, replica
    finally:
        if replica is not None:
            replica.cleanup()
        primary.cleanup()


def settings_for(primary: RedisServer, replicas: int = 1) -> Settings:
    return load_settings(redis_url=primary.url, redis_ack_replicas=replicas, redis_ack_timeout_ms=200)


def responses(*message_ids: str) -> Any:
    return normalize(read_envelope(orjson.dumps(envelope(*(result(m) for m in message_ids)))), "forward").responses


def replicated(primary: redis.Redis, replica: RedisServer) -> bool:
    """Whether the replica has processed everything the primary wrote so far."""
    offset = primary.info("replication")["master_repl_offset"]
    with redis.Redis(port=replica.port) as client:
        return bool(client.info("replication")["slave_repl_offset"] >= offset)


def test_a_write_counts_once_the_replica_holds_it(pair: tuple[RedisServer, RedisServer]) -> None:
    primary, replica = pair
    settings = settings_for(primary)
    writer, router = InboxWriter(settings), Router.from_settings(settings)
    with redis.Redis(port=primary.port) as connection:
        assert enqueue_now(connection, writer, router, responses("a1", "a2")).accepted == 2
        # Answered only after WAIT: the replica already holds both, no waiting needed to see them there.
        with redis.Redis(port=replica.port) as on_replica:
            assert on_replica.llen(INBOX) == 2


def test_a_retry_of_duplicates_only_still_waits_for_the_first_attempts_write(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    """The first attempt's write reached only the primary; the retry finds every message seen, on a connection
    of its own. Its WAIT must still cover the first write: the enqueue script writes on every call."""
    primary, replica = pair
    settings = settings_for(primary)
    writer, router = InboxWriter(settings), Router.from_settings(settings)
    with paused(replica):
        with redis.Redis(port=primary.port) as first, pytest.raises(replication.NotAcknowledged) as raised:
            enqueue_now(first, writer, router, responses("d1", "d2"))
        assert (raised.value.wanted, raised.value.acknowledged) == (1, 0)
        with redis.Redis(port=primary.port) as retry:
            assert retry.llen(INBOX) == 2  # on the primary alone
            with pytest.raises(replication.NotAcknowledged):
                enqueue_now(retry, writer, router, responses("d1", "d2"))
    with redis.Redis(port=primary.port) as retry:
        result = enqueue_now(retry, writer, router, responses("d1", "d2"))
        assert (result.accepted, result.duplicates) == (0, 2)
        with redis.Redis(port=replica.port) as on_replica:
            assert on_replica.llen(INBOX) == 2


def test_a_call_of_duplicates_only_is_replicated(pair: tuple[RedisServer, RedisServer]) -> None:
    """What the WAIT above relies on: the enqueue script writes (and so propagates) even when it queues nothing."""
    primary, _ = pair
    settings = load_settings(redis_url=primary.url)
    writer, router = InboxWriter(settings), Router.from_settings(settings)
    with redis.Redis(port=primary.port) as connection:
        enqueue_now(connection, writer, router, responses("s1"))
        before = connection.info("replication")["master_repl_offset"]
        assert enqueue_now(connection, writer, router, responses("s1")).duplicates == 1
        assert connection.info("replication")["master_repl_offset"] > before
        assert connection.hget(STATS_KEY, "duplicates") == b"1"


def test_a_new_primary_without_the_script_loads_it(pair: tuple[RedisServer, RedisServer]) -> None:
    primary, _ = pair
    settings = settings_for(primary)
    writer, router = InboxWriter(settings), Router.from_settings(settings)
    with redis.Redis(port=primary.port) as connection:
        enqueue_now(connection, writer, router, responses("n1"))
        connection.script_flush()  # as on a promoted replica: scripts are not replicated
        assert enqueue_now(connection, writer, router, responses("n2")).accepted == 1


def test_with_no_acknowledgement_asked_no_wait_is_sent(redis_client: redis.Redis, redis_url: str) -> None:
    settings = load_settings(redis_url=redis_url)
    assert replication.Acknowledgement.of(settings) is None
    redis_client.config_resetstat()
    writer, router = InboxWriter(settings), Router.from_settings(settings)
    enqueue_now(redis_client, writer, router, responses("z1"))
    assert "cmdstat_wait" not in redis_client.info("commandstats")


def test_a_pulled_batch_the_replica_did_not_take_stays_spilled(
    pair: tuple[RedisServer, RedisServer], tmp_path: Path
) -> None:
    primary, replica = pair
    settings = settings_for(primary)
    spill = tmp_path / "spill"
    body = orjson.dumps(envelope(result("p1"), result("p2")))
    with redis.Redis(port=primary.port) as connection:
        store = PullStore(connection, InboxWriter(settings), Router.from_settings(settings), spill)
        with paused(replica):
            store.store("00000000000000000001:main:1:abcd", body)
            assert [p.name for p in spill.iterdir()] == ["00000000000000000001~main~1~abcd.json"]
            with pytest.raises(replication.NotAcknowledged):  # queueing it is not acknowledged either
                store.process("00000000000000000001:main:1:abcd", body)
            with pytest.raises(replication.NotAcknowledged):  # nor is storing the spilled body again
                store.recover()
            assert len(list(spill.iterdir())) == 1
        (done,) = store.recover()
        assert (done.messages, done.accepted) == (2, 0)  # queued on the primary by the attempt above
        assert list(spill.iterdir()) == []
        assert connection.hlen(PULL_RAW_KEY) == 0
        with redis.Redis(port=replica.port) as on_replica:
            assert on_replica.llen(INBOX) == 2


def test_the_acknowledgement_must_end_before_the_socket_timeout() -> None:
    url = "redis://127.0.0.1:6379/0"
    with pytest.raises(ConfigError, match="INBOUND_REDIS_SOCKET_TIMEOUT"):
        load_settings(redis_url=url, redis_socket_timeout=1, redis_ack_replicas=1, redis_ack_timeout_ms=1000)
    # Without an acknowledgement its timeout is not used, and a short socket timeout stays valid.
    assert load_settings(redis_url=url, redis_socket_timeout=0.5).redis_ack_timeout_ms == 1000


def test_the_receiver_answers_200_only_once_the_replica_holds_the_messages(
    pair: tuple[RedisServer, RedisServer],
    base_env: dict[str, str],
    start_receiver: Callable[[dict[str, str]], ReceiverProcess],
) -> None:
    primary, replica = pair
    env = base_env | {
        "INBOUND_REDIS_URL": primary.url,
        "INBOUND_REDIS_ACK_REPLICAS": "1",
        "INBOUND_REDIS_ACK_TIMEOUT_MS": "200",
        "INBOUND_RETRY_AFTER_SECONDS": "7",
    }
    receiver = start_receiver(env)

    def post(*message_ids: str) -> httpx.Response:
        return httpx.post(
            f"{receiver.base_url}/infobip/forward/{TOKEN}",
            content=orjson.dumps(envelope(*(result(m) for m in message_ids))),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )

    assert post("r1").json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
    with paused(replica):
        answer = post("r2", "r3")
        assert (answer.status_code, answer.headers["Retry-After"]) == (503, "7")
        assert post("r2", "r3").status_code == 503  # duplicates now, on the primary alone: still not stored
    assert post("r2", "r3").json() == {"accepted": 0, "duplicates": 2, "quarantined": 0}
    with redis.Redis(port=primary.port) as direct:
        assert replicated(direct, replica)
        assert direct.llen(INBOX) == 3
