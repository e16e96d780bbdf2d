"""Memory of the campaign counts: responses spread over many bulks, counted by the enqueue script itself
against a local redis-server; prints Redis' used_memory as the responses go in.

    .venv/bin/python -m bench.campaign_memory [--responses 1000000] [--bulks 10000]

Only the counts are kept: after each batch the inbox, seen keys and drain job it also wrote are deleted,
so used_memory above the empty server's is the campaign groups and their index. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import random
import time

import orjson
import redis

from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store import campaigns, keys, scripts
from infobip_inbound.contract.store.jobs import Jobs
from infobip_inbound.shell.redis_server import RedisServer

QUEUE = "bench-campaigns"
BATCH = 1000
KEYWORDS = ["YES", "NO", "STOP", "HELP", "VOTE", "", "INFO", "MORE"]
APPS = [f"app-{n}" for n in range(5)]


class Response:
    """The fields the counting reads (the Routable protocol)."""

    def __init__(self, bulk_id: str | None, keyword: str, application_code: str) -> None:
        self.bulk_id = bulk_id
        self.keyword = keyword
        self.application_code = application_code
        self.paired_message_id = "p" if bulk_id else None
        self.text = keyword
        self.callback_data = None
        self.custom_payload = None
        self.initial_message_id = None


def used_memory(connection: redis.Redis) -> int:
    return int(connection.info("memory")["used_memory"])  # type: ignore[index]


def worst_group_bytes(connection: redis.Redis, keywords_max: int) -> int:
    """MEMORY USAGE of the largest group the bounds allow: every keyword slot (64 characters each) and every
    delay bucket taken, large counts."""
    key = keys.campaign_bulk_key("worst-case-" + "x" * 30)
    fields: dict[str, int] = {name: 10**9 for name in ("total", "first", "last", "sent", "p", "kn", "o")}
    fields |= {f"k:{n:02d}" + "k" * 60: 10**6 for n in range(keywords_max)}
    fields |= {f"d:{bucket}": 10**6 for bucket in range(campaigns.TOP_BUCKET + 1)}
    connection.hset(key, mapping=fields)  # type: ignore[arg-type]
    size = int(connection.memory_usage(key) or 0)
    connection.delete(key)
    return size


def run(responses: int, bulks: int, seed: int = 7) -> dict[str, object]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible spread, not a secret
    server = RedisServer()
    server.start()
    try:
        connection = redis.Redis.from_url(server.url)
        # Room for every bulk and application: the figure is the memory of all of them kept, no churn.
        settings = load_settings(redis_url=server.url, campaign_max_groups=bulks + len(APPS))
        limits = campaigns.limits(settings)
        drain_job = Jobs(settings).drain(QUEUE)
        empty = used_memory(connection)
        now = time.time()
        for n in range(bulks):  # sent within the last day, so delays spread over many buckets
            campaigns.record_send(connection, settings, f"bulk-{n:05d}", at=now - rng.uniform(60, 86_400))
        checkpoints = []
        started = time.perf_counter()
        for done in range(0, responses, BATCH):
            batch = []
            for i in range(done, min(done + BATCH, responses)):
                keyword = rng.choice(KEYWORDS) if rng.random() < 0.95 else f"free-{rng.randrange(1000)}"
                bulk_id = f"bulk-{rng.randrange(bulks):05d}" if rng.random() < 0.9 else None
                batch.append((f"m{i}", Response(bulk_id, keyword, rng.choice(APPS))))
            call = scripts.enqueue(
                queue=QUEUE,
                drain_job=drain_job,
                message_ids=[message_id for message_id, _ in batch],
                entries=[b"{}"] * len(batch),
                dedup_ttl=3600,
                counts=[campaigns.count_of(response) for _, response in batch],
                limits=limits,
            )
            call.run(connection)
            pipe = connection.pipeline(transaction=False)
            pipe.delete(keys.inbox_key(QUEUE), keys.pending_key(QUEUE), keys.rq_queue_key(QUEUE), drain_job.key)
            pipe.delete(*(keys.seen_key(message_id) for message_id, _ in batch))
            pipe.execute()
            counted = done + len(batch)
            if counted % (responses // 4 or 1) == 0 or counted == responses:
                checkpoints.append({"responses": counted, "used_memory_bytes": used_memory(connection) - empty})
        elapsed = time.perf_counter() - started
        for key in connection.scan_iter(count=1000):  # whatever is not the campaign counts
            if not key.startswith(keys.CAMPAIGN_PREFIX.encode()) and key != keys.CAMPAIGN_INDEX.encode():
                connection.delete(key)
        groups = int(connection.zcard(keys.CAMPAIGN_INDEX))  # type: ignore[arg-type]
        sample = campaigns.recent(connection, 1, kind="bulk")[0]
        worst = worst_group_bytes(connection, settings.campaign_keywords_max)
        return {
            "responses": responses,
            "bulks": bulks,
            "groups_kept": groups,
            "responses_per_second": round(responses / elapsed),
            "checkpoints": checkpoints,
            "used_memory_bytes": used_memory(connection) - empty,
            "bytes_per_group": round((used_memory(connection) - empty) / max(groups, 1)),
            "worst_case_group_bytes": worst,
            "worst_case_bound_bytes": worst * (bulks + len(APPS)),
            "sample_group": sample.as_json(),
        }
    finally:
        server.stop()
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--bulks", type=int, default=10_000)
    args = parser.parse_args()
    result = run(args.responses, args.bulks)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
