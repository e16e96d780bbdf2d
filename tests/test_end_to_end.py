"""Forward → receiver (uvicorn) → Redis → worker process → jsonl handler, over real HTTP and real processes."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from tests.conftest import TOKEN
from tests.support import ReceiverProcess, Role, envelope, handled_ids, result, wait_until

MESSAGES = 2000


def test_2000_messages_concurrently_with_duplicates_each_handled_once(
    start_receiver: Callable[[dict[str, str]], ReceiverProcess],
    start_worker: Callable[..., Role],
    base_env: dict[str, str],
    redis_url: str,
) -> None:
    rng = random.Random(20261124)
    ids = [f"e2e-{i:05d}-ü🍕" for i in range(MESSAGES)]
    envelopes: list[list[str]] = []
    position = 0
    while position < MESSAGES:
        size = rng.randint(1, 50)
        envelopes.append(ids[position : position + size])
        position += size
    # Deliberate duplicates: Infobip's retries (whole envelopes again) and single messages again.
    envelopes += rng.sample(envelopes, 10)
    envelopes += [[rng.choice(ids)] for _ in range(100)]
    rng.shuffle(envelopes)

    receiver = start_receiver(base_env)
    worker = start_worker(base_env)

    async def send_all() -> Counter[int]:
        statuses: Counter[int] = Counter()
        limit = asyncio.Semaphore(32)
        async with httpx.AsyncClient(base_url=receiver.base_url, timeout=30) as client:

            async def send(batch: list[str]) -> None:
                body = orjson.dumps(envelope(*(result(i) for i in batch)))
                async with limit:
                    answer = await client.post(
                        f"/infobip/forward/{TOKEN}",
                        content=body,
                        headers={"Content-Type": "application/json"},
                    )
                statuses[answer.status_code] += 1

            await asyncio.gather(*(send(batch) for batch in envelopes))
        return statuses

    statuses = asyncio.run(send_all())
    assert statuses == Counter({200: len(envelopes)})

    jsonl = Path(base_env["INBOUND_JSONL__PATH"])
    wait_until(lambda: len(handled_ids(jsonl)) >= MESSAGES, timeout=120)
    worker.stop()
    handled = Counter(handled_ids(jsonl))
    assert set(handled) == set(ids)
    assert max(handled.values()) == 1, [i for i, n in handled.items() if n > 1][:5]

    # A stock RQ tool understands the queue the receiver writes.
    info = subprocess.run(
        [sys.executable, "-m", "rq.cli", "info", "--url", redis_url, "--only-queues", "infobip-inbound"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert info.returncode == 0, info.stderr
    assert "infobip-inbound" in info.stdout
