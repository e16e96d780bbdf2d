"""Exec probes for the worker and poller containers (the receiver has HTTP health endpoints).

probe.py ready        Redis answers a PING with the pod's settings.
probe.py worker-live  An RQ worker of this pod is registered in Redis with a live heartbeat (its key expires
                      when heartbeats stop). Passes while Redis is unreachable: that is readiness' business,
                      and restarting every worker would not bring Redis back.
probe.py process NAME A process running `infobip-inbound NAME` exists and is neither a zombie nor stopped.
"""

import os
import socket
import sys


def redis_client():
    from infobip_inbound.contract.settings import load_settings
    from infobip_inbound.runtime.redis_client import sync_client

    return sync_client(load_settings())


def ready() -> int:
    try:
        redis_client().ping()
    except Exception as exc:  # any failure means not ready
        print(f"redis unreachable: {type(exc).__name__}: {exc}")
        return 1
    return 0


def worker_live() -> int:
    try:
        client = redis_client()
        client.ping()
    except Exception as exc:
        print(f"redis unreachable ({type(exc).__name__}); not judging liveness")
        return 0
    host = socket.gethostname().encode()
    for key in client.smembers("rq:workers"):
        if client.hget(key, "hostname") == host:
            return 0
    print(f"no RQ worker of {host.decode()} registered with a live heartbeat")
    return 1


def process(role: str) -> int:
    me = os.getpid()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if argv[0].endswith(b"tini"):
            continue
        if role.encode() in argv and any(a.endswith(b"infobip-inbound") for a in argv) and state not in b"ZTt":
            return 0
    print(f"no running `infobip-inbound {role}` process")
    return 1


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "ready":
        sys.exit(ready())
    if mode == "worker-live":
        sys.exit(worker_live())
    if mode == "process" and len(sys.argv) == 3:
        sys.exit(process(sys.argv[2]))
    sys.exit(f"usage: {sys.argv[0]} ready | worker-live | process ROLE")
