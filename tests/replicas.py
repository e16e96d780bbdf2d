"""Replicas of a test Redis on loopback: started as a RedisServer, then told to replicate; paused (SIGSTOP) or
cut off to play a partition."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from infobip_inbound.runtime.process import die_with_parent, stop
from infobip_inbound.shell.redis_server import RedisServer, find_redis_server, free_port
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


class Sentinels:
    """Sentinels (redis-server --sentinel) on loopback watching one primary, with short timeouts so a failover
    takes a second or two: down after 500 ms, a quorum of 2."""

    def __init__(self, directory: Path, primary_port: int, master: str, count: int = 3) -> None:
        self.master = master
        self.ports = [free_port() for _ in range(count)]
        self.processes: list[subprocess.Popen[bytes]] = []
        for number, port in enumerate(self.ports):
            home = directory / f"sentinel-{number}"
            home.mkdir(parents=True)
            conf = home / "sentinel.conf"  # Sentinel rewrites its config file: it must be writable
            conf.write_text(
                "\n".join(
                    [
                        "bind 127.0.0.1",
                        f"port {port}",
                        f'dir "{home}"',
                        f'logfile "{home / "sentinel.log"}"',
                        f"sentinel monitor {master} 127.0.0.1 {primary_port} 2",
                        f"sentinel down-after-milliseconds {master} 500",
                        f"sentinel failover-timeout {master} 2000",
                        f"sentinel parallel-syncs {master} 1",
                    ]
                )
                + "\n"
            )
            self.processes.append(
                subprocess.Popen(
                    [find_redis_server(), str(conf), "--sentinel"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    preexec_fn=die_with_parent,
                )
            )

    @property
    def setting(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def _ask(self, port: int, *command: str) -> Any:
        with redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1) as client:
            return client.execute_command(*command)

    def primary_port(self) -> int | None:
        """The primary's port, when every Sentinel names the same one."""
        named = set()
        for port in self.ports:
            try:
                address = self._ask(port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master)
            except redis.RedisError:
                return None
            named.add(int(address[1]) if address else None)
        return named.pop() if len(named) == 1 else None

    def wait_ready(self, replicas: int) -> None:
        """Until each Sentinel knows the others and the primary's replicas (they meet through the primary)."""

        def ready() -> bool:
            for process in self.processes:
                if process.poll() is not None:
                    raise AssertionError(f"a sentinel exited {process.returncode}")
            try:
                return all(
                    len(self._ask(port, "SENTINEL", "SENTINELS", self.master)) == len(self.ports) - 1
                    and len(self._ask(port, "SENTINEL", "REPLICAS", self.master)) == replicas
                    for port in self.ports
                )
            except redis.RedisError:
                return False

        wait_until(ready, timeout=30, interval=0.1)

    def stop(self) -> None:
        for process in self.processes:
            stop(process, timeout=10)
