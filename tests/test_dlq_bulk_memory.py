"""`dlq retry --all` works in chunks: its peak memory over 100,000 dead letters is that over 5,000.

Loading every entry and queueing them in one transaction, as the command once did, needs about 300 MiB more
at 100,000 entries (2 KB tracebacks); `python -m bench.dlq_bulk` prints the figures."""

from __future__ import annotations

import redis

from bench.dlq_bulk import fill, run_cli
from infobip_inbound.contract.store import dead_letter


def test_retry_all_over_100k_dead_letters_in_bounded_memory(redis_url: str, redis_client: redis.Redis) -> None:
    peaks = {}
    for entries in (5_000, 100_000):
        redis_client.flushall()
        fill(redis_client, entries, traceback_bytes=2000)
        document, _, peaks[entries] = run_cli(redis_url, "dlq", "retry", "--all", "--json")
        assert document is not None and document["retried"] == entries
        assert dead_letter.count(redis_client) == 0
    print(f"peak RSS: {peaks}")
    assert peaks[100_000] < peaks[5_000] + 40  # MiB; all at once it grows by ~300
    redis_client.flushall()
