"""Replicas of a test Redis on loopback: started as a RedisServer, then told to replicate; paused (SIGSTOP) or
cut off to play a partition."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from infobip_inbound.shell.redis_server import RedisServer
from tests.support import wait_until


def link_up(replica: RedisServer) -> bool:
    with redis.Redis(port=replica.port, socket_timeout=2) as client:
        info = client.info("replication")
    return info.get("master_link_status") == "up"


def start_replica(primary_port: int, data_dir: Path) -> RedisServer:
    """A replica of the Redis on `primary_port`, returned once its link is up and the first sync is done."""
    replica = RedisServer(data_dir=data_dir)
    replica.start()
    with redis.Redis(port=replica.port) as client:
        client.replicaof("127.0.0.1", primary_port)
    wait_until(lambda: link_up(replica), timeout=20)
    return replica


def pid_of(server: RedisServer) -> int:
    assert server.process is not None
    return server.process.pid


@contextmanager
def paused(server: RedisServer) -> Iterator[None]:
    """The server stopped (SIGSTOP): connected, answering nothing, acknowledging nothing, until the block ends."""
    os.kill(pid_of(server), signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid_of(server), signal.SIGCONT)
