"""The price list: what each default-on feature costs the hot path, measured in one run.

The receiver is measured with all defaults on, then with each feature switched off (or, for tracing, switched
on with an OTLP exporter to a local sink) in turn, one result per request and `--batch` results per request,
under the same wrk load as the ingest case. Redis's CPU and commands per message come from the enqueue plus
no-op worker path (bench.worker_speed `ours`) under the same settings. The quarantine's price is the cost of a
batch in which one result in BAD_EVERY cannot be read (it is set aside as sent) against an all-readable batch.
The acknowledgement's price (INBOUND_REDIS_ACK_REPLICAS=1: every write waits for a replica, Redis WAIT) is
measured with a replica attached, against the same replica attached without it (the `replica` case runs only
these and the all-on row).

Each variant's figures are reported next to the all-on figures of the same run; the difference is its price.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any

from bench import ack_latency
from infobip_inbound.shell.redis_server import RedisServer, free_port

BAD_EVERY = 20  # the quarantine variant: one unreadable result in this many


@dataclass(frozen=True)
class Variant:
    name: str
    env: dict[str, str] = field(default_factory=dict)
    load: dict[str, str] = field(default_factory=dict)  # extra environment for post.lua
    redis_cost: bool = True  # whether the enqueue + worker path is measured under it too
    replica: bool = False  # a replica of the bench's Redis is attached while it is measured


def variants(sink_url: str) -> list[Variant]:
    both_off = {"INBOUND_ARCHIVE": "false", "INBOUND_CAMPAIGN_COUNTING": "false"}
    return [
        Variant("all defaults on"),
        Variant("archive off", {"INBOUND_ARCHIVE": "false"}),
        Variant("campaign counting off", {"INBOUND_CAMPAIGN_COUNTING": "false"}),
        Variant("archive and campaigns off", both_off),
        Variant(
            "tracing on (OTLP exporter)",
            {"OTEL_EXPORTER_OTLP_ENDPOINT": sink_url, "OTEL_SERVICE_NAME": "bench", "OTEL_BSP_SCHEDULE_DELAY": "200"},
            redis_cost=False,  # the worker measurement runs in a plain process, without the role's tracing setup
        ),
        Variant(f"1 result in {BAD_EVERY} quarantined", load={"BENCH_BAD_EVERY": str(BAD_EVERY)}, redis_cost=False),
        *REPLICA_VARIANTS,
    ]


REPLICA_VARIANTS = [
    Variant("a replica, not waited for", replica=True),
    Variant("a replica acknowledging (WAIT)", {"INBOUND_REDIS_ACK_REPLICAS": "1"}, replica=True),
]


def attach_replica(server: RedisServer) -> RedisServer:
    """A replica of `server` on loopback, once its first sync is done."""
    import time

    import redis

    replica = RedisServer()
    replica.start()
    with redis.Redis(port=replica.port) as client:
        client.replicaof("127.0.0.1", server.port)
        deadline = time.monotonic() + 30
        while client.info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not sync within 30 s")
            time.sleep(0.05)
    return replica


def measure(server: RedisServer, args: argparse.Namespace, replica_only: bool = False) -> dict[str, Any]:
    """Every variant's ingest (single and batch) and, where it applies, Redis per message; with `replica_only`,
    the all-on row and the replica rows alone."""
    import redis

    from bench.run import Process

    sink_port = free_port()
    sink = Process(
        [sys.executable, "-m", "bench.downstream", "--port", str(sink_port), "--delay-ms", "0"],
        {},
        f"http://127.0.0.1:{sink_port}/ready",
    )
    rows: list[dict[str, Any]] = []
    try:
        chosen = variants(f"http://127.0.0.1:{sink_port}")
        if replica_only:
            chosen = [chosen[0], *REPLICA_VARIANTS]
        for variant in chosen:
            redis.Redis.from_url(server.url).flushall()
            replica = attach_replica(server) if variant.replica else None
            try:
                rows.append(_row(server, args, variant))
            finally:
                if replica is not None:
                    replica.cleanup()
    finally:
        sink.stop()
    base_row = rows[0]
    for row in rows:
        row["single_vs_all_on"] = row["single_req_per_s"] / base_row["single_req_per_s"]
        row["batch_vs_all_on"] = row["batch_msg_per_s"] / base_row["batch_msg_per_s"]
    redis.Redis.from_url(server.url).flushall()
    replica = attach_replica(server)
    try:
        ack = ack_latency.measure(server.url)
    finally:
        replica.cleanup()
    return {"batch": args.batch, "variants": rows, "ack_write_latency": ack}


def _row(server: RedisServer, args: argparse.Namespace, variant: Variant) -> dict[str, Any]:
    """One variant: the receiver's ingest (single and batch) and, where it applies, Redis per message."""
    import redis

    from bench.run import TOKEN, Process, cli, redis_cost, worker_speed
    from bench.run import measure as measure_case

    port = free_port()
    env = {
        "INBOUND_REDIS_URL": server.url,
        "INBOUND_FORWARD_TOKENS": TOKEN,
        "INBOUND_LOG_LEVEL": "WARNING",
        **variant.env,
    }
    receiver = Process(
        cli("serve", "--host", "127.0.0.1", "--port", str(port)), env, f"http://127.0.0.1:{port}/health/live"
    )
    base, path = f"http://127.0.0.1:{port}", f"/infobip/forward/{TOKEN}"
    try:
        single = measure_case(variant.name, base, path, 1, args.seconds, variant.load)
        batch = measure_case(variant.name, base, path, args.batch, args.seconds, variant.load)
    finally:
        receiver.stop()
    row: dict[str, Any] = {
        "variant": variant.name,
        "single_req_per_s": single.requests_per_s,
        "single_p50_ms": single.p50_ms,
        "single_p99_ms": single.p99_ms,
        "batch_msg_per_s": batch.messages_per_s,
        "batch_p50_ms": batch.p50_ms,
        "batch_p99_ms": batch.p99_ms,
        "errors": single.errors + batch.errors,
    }
    if variant.redis_cost:
        redis.Redis.from_url(server.url).flushall()
        cost = redis_cost(
            server, lambda: worker_speed(server.url, "ours", args.worker_messages, env), args.worker_messages
        )
        row |= {
            "worker_msg_per_s": cost["messages_per_s"],
            "redis_us_per_message": cost["cpu_us_per_message"],
            "redis_commands_per_message": cost["commands_per_message"],
        }
    return row


def print_prices(prices: dict[str, Any]) -> None:
    print(
        f"price list (receiver; 1 and {prices['batch']} results per request; Redis per message: enqueue + no-op worker)"
    )
    print(
        f"  {'variant':32} {'req/s':>8} {'x':>6} {'p50 ms':>7} {'p99 ms':>7} {'msg/s':>8} {'x':>6}"
        f" {'worker/s':>9} {'Redis us':>9} {'cmds':>6}"
    )
    for row in prices["variants"]:
        cost = f"{'-':>9} {'-':>9} {'-':>6}"
        if "redis_us_per_message" in row:
            worker, micros, commands = (
                row[k] for k in ("worker_msg_per_s", "redis_us_per_message", "redis_commands_per_message")
            )
            cost = f"{worker:9.0f} {micros:9.1f} {commands:6.1f}"
        print(
            f"  {row['variant']:32} {row['single_req_per_s']:8.0f} {row['single_vs_all_on']:6.2f}"
            f" {row.get('single_p50_ms', 0):7.2f} {row.get('single_p99_ms', 0):7.2f}"
            f" {row['batch_msg_per_s']:8.0f} {row['batch_vs_all_on']:6.2f} {cost}"
        )
    if "ack_write_latency" in prices:
        ack = prices["ack_write_latency"]
        print(
            f"  one write with a replica attached, {ack['writes']} each: p50 {ack['off']['p50_us']:.0f} us,"
            f" p99 {ack['off']['p99_us']:.0f} us; waiting for it (WAIT): p50 {ack['on']['p50_us']:.0f} us,"
            f" p99 {ack['on']['p99_us']:.0f} us"
        )
