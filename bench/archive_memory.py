"""Memory of the archive: responses enqueued by the enqueue script itself against a local redis-server, each
then marked handled the way a worker does; prints Redis' used_memory as they go in.

    .venv/bin/python -m bench.archive_memory [--messages 1000000] [--max-messages 100000]

Only the archive is kept: after each batch the inbox, seen keys and drain job the script also wrote are
deleted, so used_memory above the empty server's is the archive's records and index. The figure per message
is with one handler's outcome recorded and a request id, as the forward path writes them.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import orjson
import redis

from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store import archive, keys, scripts
from infobip_inbound.contract.store.entries import encode_entry
from infobip_inbound.contract.store.jobs import Jobs
from infobip_inbound.shell.redis_server import RedisServer
from infobip_inbound.testing import user_response

QUEUE = "bench-archive"
BATCH = 1000


def used_memory(connection: redis.Redis) -> int:
    return int(connection.info("memory")["used_memory"])  # type: ignore[index]


def count_keys(connection: redis.Redis, prefix: str) -> int:
    return sum(1 for _ in connection.scan_iter(match=prefix + "*", count=10_000))


def run(messages: int, max_messages: int, redis_url: str | None = None, outcomes: bool = True) -> dict[str, Any]:
    """Enqueue `messages` with the archive bounded to `max_messages`, on `redis_url` or a server of its own;
    with `outcomes`, each message also gets a handler's outcome, as a worker writes it."""
    server = None
    if redis_url is None:
        server = RedisServer()
        server.start()
        redis_url = server.url
    try:
        connection = redis.Redis.from_url(redis_url)
        settings = load_settings(redis_url=redis_url, archive_max_messages=max_messages, campaign_counting=False)
        limits = archive.limits(settings)
        drain_job = Jobs(settings).drain(QUEUE)
        template = user_response("TEMPLATE", text="Yes please, tell me more", keyword="YES").model_dump_json()
        line = archive.handler_line("crm", archive.HANDLED, 1)
        empty = used_memory(connection)
        checkpoints = []
        started = time.perf_counter()
        for done in range(0, messages, BATCH):
            ids = [f"{1561984815475492804 + i}" for i in range(done, min(done + BATCH, messages))]
            call = scripts.enqueue(
                queue=QUEUE,
                drain_job=drain_job,
                message_ids=ids,
                entries=[encode_entry(template.replace("TEMPLATE", i).encode(), f"req-{i[-12:]}") for i in ids],
                dedup_ttl=3600,
                archive=limits,
            )
            call.run(connection)
            pipe = connection.pipeline(transaction=False)
            for message_id in ids if outcomes else ():
                archive.note(pipe, settings, message_id, line)
            pipe.delete(keys.inbox_key(QUEUE), keys.pending_key(QUEUE), keys.rq_queue_key(QUEUE), drain_job.key)
            pipe.delete(*(keys.seen_key(message_id) for message_id in ids))
            pipe.execute()
            enqueued = done + len(ids)
            if enqueued % (messages // 4 or 1) == 0 or enqueued == messages:
                checkpoints.append(
                    {
                        "messages": enqueued,
                        "archived": int(connection.zcard(keys.ARCHIVE_INDEX)),  # type: ignore[arg-type]
                        "used_memory_bytes": used_memory(connection) - empty,
                    }
                )
        elapsed = time.perf_counter() - started
        kept = int(connection.zcard(keys.ARCHIVE_INDEX))  # type: ignore[arg-type]
        memory = used_memory(connection) - empty
        newest = archive.load(connection, f"{1561984815475492804 + messages - 1}")
        return {
            "messages": messages,
            "max_messages": max_messages,
            "archived": kept,
            "record_keys": count_keys(connection, keys.ARCHIVE_PREFIX),
            "event_keys": count_keys(connection, keys.ARCHIVE_EVENTS_PREFIX),
            "messages_per_second": round(messages / elapsed),
            "checkpoints": checkpoints,
            "used_memory_bytes": memory,
            "bytes_per_message": round(memory / max(kept, 1)),
            "newest_outcomes": {h: e.kind for h, e in newest.outcomes().items()} if newest else None,
        }
    finally:
        if server is not None:
            server.stop()
            server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--max-messages", type=int, default=100_000)
    args = parser.parse_args()
    print(orjson.dumps(run(args.messages, args.max_messages), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
