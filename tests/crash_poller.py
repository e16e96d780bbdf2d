"""A poller process that SIGKILLs itself at a chosen point of a drain, for the crash tests.

CRASH_AT=after_store     right after the raw answer is stored (before normalization)
CRASH_AT=after_enqueue   after the responses are queued, before the raw batch is removed
CRASH_AT=random          a random phase (before pull, after store, after enqueue) of a random pull
CRASH_SEED picks the random point; CRASH_PULLS_MAX bounds the pull number (default 5).
CRASH_COMMAND=pull-once  runs `infobip-inbound pull once` instead of the poller service.
"""

from __future__ import annotations

import os
import random
import signal
from typing import Any

from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store.keys import PULL_RAW_KEY
from infobip_inbound.receiver import poller, pull_store
from infobip_inbound.runtime.logs import configure_logging
from infobip_inbound.runtime.redis_client import sync_client

PHASES = ["before_pull", "after_store", "after_enqueue"]


def main() -> None:
    rng = random.Random(int(os.environ.get("CRASH_SEED", "0")))
    phase = os.environ["CRASH_AT"]
    pull_number = 1
    if phase == "random":
        phase = rng.choice(PHASES)
        pull_number = rng.randint(1, int(os.environ.get("CRASH_PULLS_MAX", "5")))
    print(f"crash point: {phase} of pull {pull_number}", flush=True)
    seen = {"pulls": 0}

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    original_pull = poller.InfobipClient.pull_reports
    original_process = pull_store.PullStore.process
    original_hdel = pull_store.redis.Redis.hdel

    def pull_reports(self: Any, limit: int = 100) -> Any:
        seen["pulls"] += 1
        if phase == "before_pull" and seen["pulls"] == pull_number:
            die()
        return original_pull(self, limit)

    def process(self: Any, batch_id: str, raw: bytes, *rest: Any) -> Any:
        if phase == "after_store" and seen["pulls"] == pull_number:
            die()
        return original_process(self, batch_id, raw, *rest)

    def hdel(self: Any, name: str, *keys: Any) -> Any:
        if phase == "after_enqueue" and name == PULL_RAW_KEY and seen["pulls"] == pull_number:
            die()
        return original_hdel(self, name, *keys)

    poller.InfobipClient.pull_reports = pull_reports  # type: ignore[method-assign]
    pull_store.PullStore.process = process  # type: ignore[method-assign]
    pull_store.redis.Redis.hdel = hdel  # type: ignore[method-assign]

    if os.environ.get("CRASH_COMMAND") == "pull-once":
        from infobip_inbound.shell.cli import main as cli

        cli(["pull", "once", "--json"])
        return
    settings = load_settings()
    configure_logging(settings)
    poller.run_poller(settings, sync_client(settings))


if __name__ == "__main__":
    main()
