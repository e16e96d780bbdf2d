"""Peak memory of `dlq retry --all` over a large dead-letter store: it works in chunks, so the peak should not
grow with the number of entries.

    python -m bench.dlq_bulk [--entries 100000 10000] [--traceback-bytes 2000]

Starts its own redis-server, fills the store with realistic entries (a UserResponse and a traceback each),
runs the command in a child process per size, which reports its peak RSS (VmHWM) as it ends.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import orjson
import redis

from infobip_inbound.contract.store import dead_letter
from infobip_inbound.contract.store.keys import RQ_QUEUES_KEY
from infobip_inbound.shell.redis_server import RedisServer


def fill(connection: redis.Redis, entries: int, traceback_bytes: int) -> None:
    traceback = ("Traceback (most recent call last):\n" + "  File x.py, line 1, in handler\n" * 200)[:traceback_bytes]
    for start in range(0, entries, 5000):
        pipe = connection.pipeline(transaction=False)
        for n in range(start, min(start + 5000, entries)):
            response = orjson.dumps(
                {
                    "schema_version": 2,
                    "message_id": f"bench-{n:08d}",
                    "application_code": "8a9b7c6d5e4f",
                    "registration_id": f"reg-{n}",
                    "text": "ORDER 12345 please deliver to the back door",
                    "received_at": "2026-11-27T12:00:00Z",
                    "source": "forward",
                }
            )
            entry = dead_letter.DeadPair.build(
                message_id=f"bench-{n:08d}",
                handler=("log", "jsonl")[n % 2],
                application_code="8a9b7c6d5e4f",
                queue="infobip-inbound",
                tries=5,
                error="ValueError: the shop is closed",
                traceback=traceback,
                response=response,
            )
            dead_letter.add(pipe, entry)
        pipe.execute()


# The child reports its own high-water mark: VmHWM starts afresh at exec, whereas wait4's ru_maxrss also counts
# what the parent had mapped when it forked (a test process that has just filled Redis, say).
_CHILD = """
import sys
from infobip_inbound.shell.cli import main
try:
    main(sys.argv[1:], prog_name="infobip-inbound")
finally:
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(hwm.split()[1], file=sys.stderr)
"""


def run_cli(redis_url: str, *args: str) -> tuple[dict[str, object] | None, float, float]:
    """(its --json document if any, seconds, peak RSS in MiB) of one `infobip-inbound` run. Linux only."""
    env = {**os.environ, "INBOUND_REDIS_URL": redis_url, "INBOUND_DEFAULT_HANDLERS": '["log"]'}
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], env=env, capture_output=True, check=False, timeout=600
    )
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited with {child.returncode}: {child.stderr.decode()[-2000:]}")
    peak_kib = int(child.stderr.decode().split()[-1])
    document = json.loads(child.stdout) if args[-1] == "--json" else None
    return document, time.monotonic() - started, peak_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--traceback-bytes", type=int, default=2000)
    options = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        connection = redis.Redis.from_url(server.url)
        _, _, baseline = run_cli(server.url, "dlq", "list", "--limit", "1")
        print(f"baseline (dlq list --limit 1 on an empty store): peak RSS {baseline:.1f} MiB")
        for entries in options.entries:
            connection.flushall()
            fill(connection, entries, options.traceback_bytes)
            stored = connection.info("memory")["used_memory"] / 2**20
            document, seconds, peak = run_cli(server.url, "dlq", "retry", "--all", "--json")
            assert document is not None and document["retried"] == entries, document
            assert dead_letter.count(connection) == 0
            queued = sum(int(connection.llen(key)) for key in connection.smembers(RQ_QUEUES_KEY))  # type: ignore[union-attr]
            print(
                f"dlq retry --all over {entries} entries ({stored:.0f} MiB in Redis): {seconds:.1f} s, "
                f"peak RSS {peak:.1f} MiB, {queued} batch jobs queued"
            )
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
