"""The benchmark: baselines and infobip-inbound measured in one run, reported as ratios.

    make bench            # full run (a few minutes)
    make bench-smoke      # seconds per case, to keep the script from rotting (CI)

Starts its own redis-server (AOF everysec, as in production), uvicorn processes (1 worker, uvloop,
httptools), workers, the simulator and the poller; loads HTTP with wrk (1 thread, 50 connections) from
a second process; prints one table and writes bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import redis

from bench import drain, e2e_latency, lanes, prices, rate_accuracy
from infobip_inbound.runtime.process import die_with_parent, stop
from infobip_inbound.shell.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "post.lua"
T = TypeVar("T")
TOKEN = "bench-token-4f7c2a9e"  # noqa: S105 - loopback-only benchmark credential
SIM_KEY = "bench-sim-key"


@dataclass
class Case:
    name: str
    batch: int
    requests_per_s: float
    messages_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


class Process:
    """A child process; waits for `ready_url` to answer when given."""

    def __init__(self, args: list[str], env: dict[str, str], ready_url: str | None = None) -> None:
        self.process = subprocess.Popen(
            args,
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + 30
        while ready_url:
            if self.process.poll() is not None:
                raise RuntimeError(f"{args} exited with {self.process.returncode}")
            try:
                httpx.get(ready_url, timeout=1)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else float("nan")

    def stop(self) -> None:
        stop(self.process)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "infobip_inbound.shell.cli", *args]


def wrk(
    url: str, path: str, batch: int, seconds: float, connections: int = 50, load: dict[str, str] | None = None
) -> dict[str, int]:
    env = {
        **os.environ,
        "BENCH_PATH": path,
        "BENCH_BATCH": str(batch),
        "BENCH_PREFIX": uuid.uuid4().hex[:8],
        **(load or {}),
    }
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(LUA), url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
    result: dict[str, int] = json.loads(line.removeprefix("BENCH_JSON "))
    return result


def measure(name: str, base: str, path: str, batch: int, seconds: float, load: dict[str, str] | None = None) -> Case:
    """One wrk run after a warm-up; `load`: extra environment for post.lua (BENCH_BAD_EVERY)."""
    wrk(base, path, batch, min(2.0, seconds), load=load)  # warm-up: connections, imports, script cache
    raw = wrk(base, path, batch, seconds, load=load)
    rps = raw["requests"] / (raw["duration_us"] / 1e6)
    errors = raw["errors_status"] + raw["errors_connect"] + raw["errors_timeout"]
    return Case(name, batch, rps, rps * batch, raw["p50_us"] / 1000, raw["p99_us"] / 1000, errors)


def median(runs: list[T], rate: Callable[[T], float]) -> T:
    """The run of the median `rate` (the lower middle one of an even number)."""
    return sorted(runs, key=rate)[(len(runs) - 1) // 2]


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    if not shutil.which("wrk"):
        sys.exit("the benchmark needs wrk (Debian/Ubuntu: apt-get install wrk)")


def worker_speed(redis_url: str, kind: str, messages: int, env: dict[str, str] | None = None) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "bench.worker_speed", kind, redis_url, str(messages)],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    measured = json.loads(out.strip().splitlines()[-1])
    return float(measured["messages"] / measured["seconds"])


def rate_limit(redis_url: str, args: argparse.Namespace, children: list[Process]) -> dict[str, float]:
    """A handler limited to `--rate` calls/s, worked by 3 worker processes: the rate it is called at."""
    env = rate_accuracy.worker_env(redis_url, args.rate)
    processes = 3
    return rate_accuracy.measure(
        redis_url,
        args.rate,
        args.rate_seconds,
        processes,
        lambda: children.append(Process(cli("worker", "--processes", str(processes)), env)),
    )


def redis_cost(server: RedisServer, measure: Callable[[], float], messages: int) -> dict[str, float]:
    """redis-server's CPU and commands per message over `measure` (which handles `messages` messages)."""
    assert server.process is not None
    stat = Path(f"/proc/{server.process.pid}/stat")
    connection = redis.Redis.from_url(server.url)

    def cpu_seconds() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def commands() -> int:
        return int(connection.info("stats")["total_commands_processed"])

    cpu_before, commands_before = cpu_seconds(), commands()
    rate = measure()
    cpu = (cpu_seconds() - cpu_before) / messages
    return {
        "messages_per_s": rate,
        "cpu_us_per_message": cpu * 1e6,
        "commands_per_message": (commands() - commands_before) / messages,
        "ceiling_messages_per_s": 1 / cpu if cpu else float("inf"),
    }


# The I/O-bound handler's HTTP clients: async httpx (the goal's), httpx's API over aiohttp's transport, and a
# minimal kept-alive client; each is also measured alone (its calls, no worker) for its own ceiling.
IO_CLIENTS = {  # report key: (bench.worker_speed kind suffix, label)
    "httpx": ("io", "async httpx"),
    "httpx_aiohttp": ("io-aiohttp", "httpx over aiohttp's transport"),
    "lean": ("io-lean", "a minimal kept-alive client"),
}


def io_bound(redis_url: str, args: argparse.Namespace, noop_rate: float) -> dict[str, Any]:
    """A handler that POSTs each message to a downstream answering after 20 ms: ours (async, concurrent calls)
    against plain RQ doing the same call synchronously, one job per message; per client, ours against the
    client's own calls/s in one process (what is left once the I/O is hidden: the client's CPU per call)."""
    port = free_port()
    downstream = Process(
        [sys.executable, "-m", "bench.downstream", "--port", str(port)], {}, f"http://127.0.0.1:{port}/ready"
    )
    env = {"BENCH_DOWNSTREAM_URL": f"http://127.0.0.1:{port}/call"}
    report: dict[str, Any] = {}
    try:
        rq_rate = worker_speed(redis_url, "rq-io", args.rq_io_messages, env)
        report["plain_rq_simpleworker_per_s"] = rq_rate
        for client, (kind, _) in IO_CLIENTS.items():
            redis.Redis.from_url(redis_url).flushall()
            ours_rate = worker_speed(redis_url, f"ours-{kind}", args.io_messages, env)
            alone_rate = worker_speed(redis_url, f"alone-{kind}", args.io_messages, env)
            report[client] = {
                "ours_per_s": ours_rate,
                "client_alone_per_s": alone_rate,
                "ratio": ours_rate / rq_rate,
                "vs_noop": ours_rate / noop_rate,
                "vs_client_alone": ours_rate / alone_rate,
            }
    finally:
        downstream.stop()
    return report


RELAY_SECRET = "whsec_" + "YmVuY2gtcmVsYXktc2lnbmluZy1rZXk="


def relay(redis_url: str, args: argparse.Namespace) -> dict[str, float]:
    """The built-in `http_relay` to a downstream answering after 20 ms: ours (the worker running the built-in)
    against a plain RQ job making the same signed POST, and against the built-in's own calls alone."""
    port = free_port()
    downstream = Process(
        [sys.executable, "-m", "bench.downstream", "--port", str(port)], {}, f"http://127.0.0.1:{port}/ready"
    )
    env = {"INBOUND_HTTP_RELAY__URL": f"http://127.0.0.1:{port}/hook", "INBOUND_HTTP_RELAY__SECRETS": RELAY_SECRET}
    try:
        rq_rate = worker_speed(redis_url, "rq-relay", args.rq_io_messages, env)
        redis.Redis.from_url(redis_url).flushall()
        ours_rate = worker_speed(redis_url, "ours-relay", args.io_messages, env)
        alone_rate = worker_speed(redis_url, "alone-relay", args.io_messages, env)
    finally:
        downstream.stop()
    return {
        "plain_rq_relay_per_s": rq_rate,
        "ours_per_s": ours_rate,
        "client_alone_per_s": alone_rate,
        "ratio": ours_rate / rq_rate,
        "vs_client_alone": ours_rate / alone_rate,
    }


def ingest(redis_url: str, args: argparse.Namespace, report: dict[str, Any]) -> None:
    uvicorn_args = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    base_port, ours_port = free_port(), free_port()
    base_url, ours_url = f"http://127.0.0.1:{base_port}", f"http://127.0.0.1:{ours_port}"
    baseline = Process(
        [sys.executable, "-m", "uvicorn", "bench.baselines:app", "--port", str(base_port), *uvicorn_args],
        {"BENCH_REDIS_URL": redis_url},
        base_url,
    )
    ours = Process(
        cli("serve", "--host", "127.0.0.1", "--port", str(ours_port)),
        {"INBOUND_REDIS_URL": redis_url, "INBOUND_FORWARD_TOKENS": TOKEN, "INBOUND_LOG_LEVEL": "WARNING"},
        ours_url,
    )
    forward = f"/infobip/forward/{TOKEN}"
    plan = [
        ("bare Starlette 200", base_url, "/bare", 1),
        ("one LPUSH per request", base_url, "/lpush", 1),
        ("naive RQ enqueue", base_url, "/rq", 1),
        ("infobip-inbound receiver", ours_url, forward, 1),
        ("one LPUSH per request (batch)", base_url, "/lpush", args.batch),
        ("infobip-inbound receiver (batch)", ours_url, forward, args.batch),
    ]
    try:
        # The cases in turn, `rounds` times: a spell of the machine's noise falls on every case alike rather than
        # on one, and each case reports its median run.
        runs = [
            [measure(name, url, path, batch, args.seconds) for name, url, path, batch in plan]
            for _ in range(args.rounds)
        ]
        cases = [median([run[index] for run in runs], lambda case: case.requests_per_s) for index in range(len(plan))]
        # Memory: RSS once warm (allocator arenas, caches and connection buffers at their working size
        # after half a soak's worth of messages), then after a run of `soak_messages` more. The warm-up is two
        # runs back to back, as the soak follows it: the requests of a new run's connections overlap the tail
        # of the last run's, a peak of requests in flight that sets the heap's high-water mark once (about
        # 13 MB with 50-message bodies; flat over later turnovers, so not growth).
        soak_batch = 50
        soak_rate = cases[-1].messages_per_s or 1.0
        for _ in range(2):
            wrk(ours_url, forward, soak_batch, args.soak_messages / 4 / soak_rate)
        rss_before = ours.rss_mb()
        soak = wrk(ours_url, forward, soak_batch, args.soak_messages / soak_rate)
        rss_after = ours.rss_mb()
    finally:
        baseline.stop()
        ours.stop()
    by_name = {case.name: case for case in cases}
    receiver, lpush, naive, bare = (
        by_name[n]
        for n in ("infobip-inbound receiver", "one LPUSH per request", "naive RQ enqueue", "bare Starlette 200")
    )
    batched, lpush_batched = by_name["infobip-inbound receiver (batch)"], by_name["one LPUSH per request (batch)"]
    report["ingest"] = [asdict(case) for case in cases]
    report["ratios"] = {
        "ingest_vs_bare": receiver.requests_per_s / bare.requests_per_s,
        "ingest_vs_lpush": receiver.requests_per_s / lpush.requests_per_s,
        "batch_vs_lpush_batch": batched.messages_per_s / lpush_batched.messages_per_s,
        "ingest_vs_naive_rq": receiver.requests_per_s / naive.requests_per_s,
        "p99_vs_lpush_p99": receiver.p99_ms / lpush.p99_ms,
    }
    report["receiver_rss_mb"] = {
        "before": rss_before,
        "after": rss_after,
        "growth": rss_after / rss_before - 1,
        "soak_messages": soak["requests"] * soak_batch,
    }


CASES = ("ingest", "worker", "io", "relay", "rate", "e2e", "lanes", "poller", "prices", "replica")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--only", default=",".join(CASES), help=f"comma-separated cases to run, of {','.join(CASES)} (default: all)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="HTTP load per ingest case")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="times the ingest cases, and plain RQ and our worker, run in turn (each reports its median run)",
    )
    parser.add_argument("--batch", type=int, default=20, help="results per request in the batch variant")
    parser.add_argument("--soak-messages", type=int, default=1_000_000, help="messages for the RSS run")
    parser.add_argument("--worker-messages", type=int, default=20_000)
    parser.add_argument("--rq-messages", type=int, default=2_000, help="plain RQ is slow: fewer suffice")
    parser.add_argument("--io-messages", type=int, default=5_000, help="messages of the I/O-bound worker case")
    parser.add_argument("--rq-io-messages", type=int, default=200, help="plain RQ pays 20 ms per message")
    parser.add_argument("--rate", type=float, default=200.0, help="a handler's configured rate limit, calls/s")
    parser.add_argument("--rate-seconds", type=float, default=30.0, help="how long the rate is measured")
    parser.add_argument("--e2e-rate", type=float, default=500.0)
    parser.add_argument("--e2e-seconds", type=float, default=10.0)
    parser.add_argument("--lanes-seconds", type=float, default=20.0, help="offered load of each lanes case")
    parser.add_argument("--drain-backlog", type=int, default=30_000)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    args = parser.parse_args()
    only = {case.strip() for case in args.only.split(",") if case.strip()}
    if unknown := only - set(CASES):
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    if only & {"ingest", "prices", "replica"}:
        ensure_wrk()

    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "settings": {k: str(v) for k, v in vars(args).items()} | {"wrk": "1 thread, 50 connections"},
    }
    redis_server = RedisServer()
    redis_server.start()
    try:
        run_cases(redis_server, args, only, report)
    finally:
        redis_server.cleanup()

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report, args.output)


def run_cases(redis_server: RedisServer, args: argparse.Namespace, only: set[str], report: dict[str, Any]) -> None:
    url = redis_server.url
    children: list[Process] = []
    try:
        if "ingest" in only:
            ingest(url, args, report)

        if only & {"worker", "io"}:  # the I/O-bound case is compared with the no-op figure of the same run
            # The ingest runs' messages are not the workers' to handle. Flushed synchronously, here and before each
            # case: a background flush of the last case's keys would count as this case's Redis CPU per message.
            redis.Redis.from_url(url).flushall()
            # Plain RQ and ours in turn, `rounds` times, each side's median run reported (as the ingest cases).
            # Ours: the enqueue (batches of 100, as the receiver's group commit makes them) and the worker with a
            # no-op handler, the forward path's cost to Redis.
            rq_rates, costs = [], []
            for _ in range(args.rounds):
                rq_rates.append(worker_speed(url, "rq", args.rq_messages))
                redis.Redis.from_url(url).flushall()
                costs.append(
                    redis_cost(
                        redis_server, lambda: worker_speed(url, "ours", args.worker_messages), args.worker_messages
                    )
                )
                redis.Redis.from_url(url).flushall()
            rq_rate = median(rq_rates, float)
            report["redis_cost"] = median(costs, lambda cost: cost["messages_per_s"])
            ours_rate = report["redis_cost"]["messages_per_s"]
            report["worker"] = {
                "plain_rq_simpleworker_per_s": rq_rate,
                "ours_per_s": ours_rate,
                "ratio": ours_rate / rq_rate,
            }
        if "io" in only:
            redis.Redis.from_url(url).flushall()
            report["io_worker"] = io_bound(url, args, report["worker"]["ours_per_s"])
        if "relay" in only:
            redis.Redis.from_url(url).flushall()
            report["relay"] = relay(url, args)
        if "rate" in only:
            redis.Redis.from_url(url).flushall()
            report["rate_limit"] = rate_limit(url, args, children)
            for child in children:
                child.stop()
            children.clear()

        if "e2e" in only:
            redis.Redis.from_url(url).flushall()
            port = free_port()
            env = {
                "INBOUND_REDIS_URL": url,
                "INBOUND_FORWARD_TOKENS": TOKEN,
                "INBOUND_LOG_LEVEL": "WARNING",
                "INBOUND_DEFAULT_HANDLERS": '["bench.handlers:record_start"]',
                "BENCH_REDIS_URL": url,
            }
            children.append(
                Process(
                    cli("serve", "--host", "127.0.0.1", "--port", str(port)),
                    env,
                    f"http://127.0.0.1:{port}/health/live",
                )
            )
            children.append(Process(cli("worker"), env))  # e2e_latency.measure starts once it handles messages
            report["e2e"] = e2e_latency.measure(
                f"http://127.0.0.1:{port}/infobip/forward/{TOKEN}", url, args.e2e_rate, args.e2e_seconds
            )
            for child in children:
                child.stop()
            children.clear()

        if "lanes" in only:
            port = free_port()

            def start(env: dict[str, str], with_receiver: bool) -> None:
                env = {**env, "INBOUND_FORWARD_TOKENS": TOKEN}
                ready = f"http://127.0.0.1:{port}/health/live"
                if with_receiver:
                    children.append(Process(cli("serve", "--host", "127.0.0.1", "--port", str(port)), env, ready))
                children.append(Process(cli("worker"), env))

            def stop() -> None:
                for child in children:
                    child.stop()
                children.clear()

            forward = f"http://127.0.0.1:{port}/infobip/forward/{TOKEN}"
            report["lanes"] = lanes.run(forward, url, args.e2e_rate, args.lanes_seconds, start, stop)

        if "prices" in only:
            report["prices"] = prices.measure(redis_server, args)
        elif "replica" in only:  # the acknowledgement's rows of the price list alone
            report["prices"] = prices.measure(redis_server, args, replica_only=True)

        if "poller" in only:
            sim_port = free_port()
            sim_url = f"http://127.0.0.1:{sim_port}"
            children.append(
                Process(cli("simulator", "--port", str(sim_port), "--api-key", SIM_KEY), {}, f"{sim_url}/_sim/counters")
            )
            poll_env = {
                "INBOUND_REDIS_URL": url,
                "INBOUND_LOG_LEVEL": "WARNING",
                "INBOUND_INFOBIP_BASE_URL": sim_url,
                "INBOUND_INFOBIP_API_KEY": SIM_KEY,
                "INBOUND_POLL_INTERVAL_SECONDS": "0.5",
            }
            report["poller"] = drain.measure(
                sim_url,
                SIM_KEY,
                url,
                args.drain_backlog,
                1000,
                lambda: children.append(Process(cli("poller"), poll_env)),
            )
    finally:
        for child in children:
            child.stop()


def print_report(report: dict[str, Any], output: Path) -> None:
    if "ingest" in report:
        print(f"{'ingest case':34} {'batch':>5} {'req/s':>9} {'msg/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
        for case in report["ingest"]:
            print(
                f"{case['name']:34} {case['batch']:5d} {case['requests_per_s']:9.0f} {case['messages_per_s']:9.0f} "
                f"{case['p50_ms']:8.2f} {case['p99_ms']:8.2f} {case['errors']:6d}"
            )
        ratios = report["ratios"]
        print()
        print(f"ingest vs bare Starlette         {ratios['ingest_vs_bare']:6.2f}x   (goal >= 0.6x)")
        print(f"ingest vs one LPUSH endpoint     {ratios['ingest_vs_lpush']:6.2f}x   (goal >= 1.6x)")
        batched = f"{ratios['batch_vs_lpush_batch']:6.2f}x"
        print(f"batch msg/s vs LPUSH of {case['batch']:<3d}      {batched}   (goal >= 0.35x)")
        print(f"ingest vs naive RQ endpoint      {ratios['ingest_vs_naive_rq']:6.2f}x   (goal >= 5x)")
        print(f"ingest p99 / LPUSH p99           {ratios['p99_vs_lpush_p99']:6.2f}    (goal <= 1)")
    if "worker" in report:
        worker, cost = report["worker"], report["redis_cost"]
        plain = worker["plain_rq_simpleworker_per_s"]
        print(f"worker msg/s: ours {worker['ours_per_s']:.0f}, plain RQ SimpleWorker {plain:.0f}")
        print(f"  -> {worker['ratio']:.1f}x   (goal >= 20x)")
        print(
            f"Redis per message (enqueue + no-op worker): {cost['cpu_us_per_message']:.1f} us CPU,"
            f" {cost['commands_per_message']:.1f} commands -> one Redis core tops out near"
            f" {cost['ceiling_messages_per_s']:.0f} msg/s   (goals <= 45 us, <= 8 commands)"
        )
    if "rate_limit" in report:
        limit = report["rate_limit"]
        print(
            f"rate limit {limit['configured_per_s']:.0f}/s over {limit['processes']} worker processes:"
            f" {limit['measured_per_s']:.1f}/s measured over {limit['seconds']:.0f} s ({limit['error']:+.1%})"
            "   (goal within +-5%)"
        )
    if "io_worker" in report:
        io = report["io_worker"]
        rq_io = io["plain_rq_simpleworker_per_s"]
        print(f"I/O-bound handler (20 ms POST), msg/s of one process: plain RQ SimpleWorker {rq_io:.0f}")
        for client, (_, label) in IO_CLIENTS.items():
            c = io[client]
            goals = "   (goals >= 50x, >= 0.7x)" if client == "httpx" else ""
            print(
                f"  {label}: ours {c['ours_per_s']:.0f} -> {c['ratio']:.1f}x plain RQ, {c['vs_noop']:.2f}x our no-op"
                f" figure{goals}; the client alone {c['client_alone_per_s']:.0f} -> ours {c['vs_client_alone']:.2f}x"
            )
    if "relay" in report:
        r = report["relay"]
        print(
            f"built-in http_relay (20 ms downstream), msg/s of one process: ours {r['ours_per_s']:.0f}, plain RQ relay"
            f" {r['plain_rq_relay_per_s']:.0f} -> {r['ratio']:.1f}x; its calls alone {r['client_alone_per_s']:.0f}"
            f" -> ours {r['vs_client_alone']:.2f}x   (goals >= 25x, >= 0.8x)"
        )
    if "e2e" in report:
        e2e = report["e2e"]
        print(
            f"end to end at {e2e['offered_per_s']:.0f} msg/s: p50 {e2e['p50_ms']:.1f} ms, p99 {e2e['p99_ms']:.1f} ms"
            f" ({e2e['handled']}/{e2e['messages']} handled, {e2e['failures']} failed)   (goals 5 / 25 ms)"
        )
        print(
            f"  from the receiver's ingested_at: p50 {e2e['from_ingest_p50_ms']:.1f} ms,"
            f" p99 {e2e['from_ingest_p99_ms']:.1f} ms"
        )
    if "lanes" in report:
        slow, paced = report["lanes"]["slow"], report["lanes"]["paced"]
        print(
            f"no-op beside a 50 ms handler (concurrency 1) at {slow['offered_per_s']:.0f} msg/s: no-op"
            f" {slow['handled_per_s']:.0f} msg/s ({slow['handled_per_s'] / slow['offered_per_s']:.2f}x offered),"
            f" p50 {slow['p50_ms']:.1f} ms, p99 {slow['p99_ms']:.1f} ms; the slow one's lane"
            f" {slow['slow_lane']['waiting']:.0f} waiting, oldest {slow['slow_lane']['oldest_age_seconds']:.1f} s"
            "   (goals >= 0.95x, p99 <= 25 ms)"
        )
        print(
            f"no-op beside a handler paced at {paced['configured_per_s']:.0f}/s (one worker, a backlog):"
            f" paced {paced['paced_per_s']:.1f}/s ({paced['paced_error']:+.1%}), no-op {paced['noop_per_s']:.0f}/s"
            f" ({paced['noop_done']} of {paced['messages']} done)   (goal paced within +-5%)"
        )
    if "poller" in report:
        poller = report["poller"]
        print(
            f"poller drain: {poller['messages_per_s']:.0f} msg/s of {poller['throttle_bound_per_s']:.0f} bound"
            f" = {poller['fraction_of_bound']:.0%}, 429s {poller['throttled']}   (goal >= 80%)"
        )
    if "prices" in report:
        prices.print_prices(report["prices"])
    if "receiver_rss_mb" in report:
        rss = report["receiver_rss_mb"]
        print(
            f"receiver RSS: {rss['before']:.1f} MB -> {rss['after']:.1f} MB after {rss['soak_messages']:,} more"
            f" messages ({rss['growth']:+.1%})   (goal <= 120 MB, <= +10%)"
        )
    print(f"written: {output}")


if __name__ == "__main__":
    main()
