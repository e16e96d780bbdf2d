"""The benchmark: baselines and infobip-inbound measured in one run, reported as ratios.

    make bench            # full run
    make bench-smoke      # a few seconds per case, to keep the script from rotting

Starts its own redis-server (AOF everysec, as in production) and uvicorn processes (1 worker, uvloop,
httptools), loads them with wrk (1 thread, 50 connections) from a second process, prints one table and
writes bench/results/latest.json.
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
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from infobip_inbound.process import die_with_parent
from infobip_inbound.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "post.lua"
TOKEN = "bench-token-4f7c2a9e"  # noqa: S105 - loopback-only benchmark credential


@dataclass
class Case:
    name: str
    batch: int
    requests_per_s: float
    messages_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


class Server:
    def __init__(self, args: list[str], env: dict[str, str], port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            args,
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{args} exited with {self.process.returncode}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
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
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wrk(url: str, path: str, batch: int, seconds: float, connections: int = 50) -> dict[str, int]:
    env = {**os.environ, "BENCH_PATH": path, "BENCH_BATCH": str(batch), "BENCH_PREFIX": uuid.uuid4().hex[:8]}
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


def measure(name: str, base: str, path: str, batch: int, seconds: float) -> Case:
    wrk(base, path, batch, min(2.0, seconds))  # warm-up: connections, imports, Lua script cache
    raw = wrk(base, path, batch, seconds)
    rps = raw["requests"] / (raw["duration_us"] / 1e6)
    errors = raw["errors_status"] + raw["errors_connect"] + raw["errors_timeout"]
    return Case(name, batch, rps, rps * batch, raw["p50_us"] / 1000, raw["p99_us"] / 1000, errors)


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    if not shutil.which("wrk"):
        sys.exit("the benchmark needs wrk (Debian/Ubuntu: apt-get install wrk)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="load per case")
    parser.add_argument("--batch", type=int, default=20, help="results per request in the batch variant")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    args = parser.parse_args()
    ensure_wrk()

    redis_server = RedisServer()
    redis_server.start()
    servers: list[Server] = []
    try:
        uvicorn_args = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
        base_port = free_port()
        servers.append(
            Server(
                [sys.executable, "-m", "uvicorn", "bench.baselines:app", "--port", str(base_port), *uvicorn_args],
                {"BENCH_REDIS_URL": redis_server.url},
                base_port,
            )
        )
        ours_port = free_port()
        ours = Server(
            [sys.executable, "-m", "infobip_inbound.cli", "serve", "--host", "127.0.0.1", "--port", str(ours_port)],
            {
                "INBOUND_REDIS_URL": redis_server.url,
                "INBOUND_FORWARD_TOKENS": TOKEN,
                "INBOUND_LOG_LEVEL": "WARNING",
            },
            ours_port,
        )
        servers.append(ours)
        base_url = f"http://127.0.0.1:{base_port}"
        ours_url = f"http://127.0.0.1:{ours_port}"
        forward = f"/infobip/forward/{TOKEN}"

        rss_before = ours.rss_mb()
        cases = [
            measure("bare Starlette 200", base_url, "/bare", 1, args.seconds),
            measure("one LPUSH per request", base_url, "/lpush", 1, args.seconds),
            measure("naive RQ enqueue", base_url, "/rq", 1, args.seconds),
            measure("infobip-inbound receiver", ours_url, forward, 1, args.seconds),
            measure("one LPUSH per request (batch)", base_url, "/lpush", args.batch, args.seconds),
            measure("infobip-inbound receiver (batch)", ours_url, forward, args.batch, args.seconds),
        ]
        rss_after = ours.rss_mb()
    finally:
        for server in servers:
            server.stop()
        redis_server.cleanup()

    by_name = {case.name: case for case in cases}
    ours_case = by_name["infobip-inbound receiver"]
    lpush_case = by_name["one LPUSH per request"]
    rq_case = by_name["naive RQ enqueue"]
    ratios = {
        "ingest_vs_lpush": ours_case.requests_per_s / lpush_case.requests_per_s,
        "ingest_vs_naive_rq": ours_case.requests_per_s / rq_case.requests_per_s,
        "p99_vs_lpush_p99": ours_case.p99_ms / lpush_case.p99_ms,
        "ingest_vs_bare": ours_case.requests_per_s / by_name["bare Starlette 200"].requests_per_s,
    }
    report = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "settings": {"seconds": args.seconds, "batch": args.batch, "wrk": "1 thread, 50 connections"},
        "cases": [asdict(case) for case in cases],
        "ratios": ratios,
        "receiver_rss_mb": {"before": rss_before, "after": rss_after},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")

    print(f"{'case':34} {'batch':>5} {'req/s':>9} {'msg/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for case in cases:
        print(
            f"{case.name:34} {case.batch:5d} {case.requests_per_s:9.0f} {case.messages_per_s:9.0f} "
            f"{case.p50_ms:8.2f} {case.p99_ms:8.2f} {case.errors:6d}"
        )
    print()
    for name, value in ratios.items():
        print(f"{name:24} {value:6.2f}x")
    print(f"receiver RSS MB: {rss_before:.1f} -> {rss_after:.1f}")
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
