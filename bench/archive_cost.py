"""Redis' cost of the archive on the enqueue path: redis-server CPU per message of the enqueue script, with the
archive off and on, alternating, against a local redis-server.

    .venv/bin/python -m bench.archive_cost [--per-call 20] [--bound 5000] [--rounds 3]

Each round enqueues the same number of realistic responses (a UserResponse with a request line) both ways;
with a bound below the messages of a round, the archive runs at its bound (each response evicts the oldest).
Ratios within a round are the figure: absolute CPU drifts with the machine.
"""

from __future__ import annotations

import argparse
import time

import orjson
import redis

from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store import archive, keys, scripts
from infobip_inbound.contract.store.entries import encode_entry
from infobip_inbound.contract.store.jobs import Jobs
from infobip_inbound.shell.redis_server import RedisServer
from infobip_inbound.testing import user_response

QUEUE = "bench-archive-cost"


def cpu_seconds(connection: redis.Redis) -> float:
    info = connection.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])  # type: ignore[index]


def run(per_call: int, bound: int, rounds: int, messages: int = 20_000) -> dict[str, list[float]]:
    server = RedisServer()
    server.start()
    try:
        connection = redis.Redis.from_url(server.url)
        settings = load_settings(redis_url=server.url, archive_max_messages=bound)
        drain_job = Jobs(settings).drain(QUEUE)
        template = user_response("TEMPLATE", text="Yes please", keyword="YES").model_dump_json()
        figures: dict[str, list[float]] = {"off": [], "on": []}
        for round_ in range(rounds):
            for name, limits in (("off", None), ("on", archive.limits(settings))):
                before = cpu_seconds(connection)
                for call in range(messages // per_call):
                    ids = [f"{round_}-{name}-{call}-{n}" for n in range(per_call)]
                    entries = [encode_entry(template.replace("TEMPLATE", i).encode(), f"req-{call}") for i in ids]
                    scripts.enqueue(
                        queue=QUEUE,
                        drain_job=drain_job,
                        message_ids=ids,
                        entries=entries,
                        dedup_ttl=3600,
                        archive=limits,
                    ).run(connection)
                    if call % 50 == 0:
                        connection.delete(keys.inbox_key(QUEUE))
                used = cpu_seconds(connection) - before
                figures[name].append(round(used / messages * 1e6, 1))
        return figures
    finally:
        server.stop()
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--per-call", type=int, default=20, help="responses per enqueue call")
    parser.add_argument("--bound", type=int, default=5000, help="INBOUND_ARCHIVE_MAX_MESSAGES")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    figures = run(args.per_call, args.bound, args.rounds)
    document = {"redis_cpu_us_per_message": figures, "seconds": round(time.perf_counter() - started, 1)}
    print(orjson.dumps(document | vars(args), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
