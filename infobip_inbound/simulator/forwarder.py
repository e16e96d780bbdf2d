"""HTTP_FORWARD delivery: POST each message to an action's forwardUrl, retrying on the configured schedule
until a 2xx answer or the schedule runs out (Infobip expects a 2xx and retries otherwise)."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import httpx
import orjson

from infobip_inbound.simulator.state import World

log = logging.getLogger("infobip_inbound.simulator.forwarder")


class Forwarder:
    def __init__(self, world: World, rng: random.Random) -> None:
        self.world = world
        self._rng = rng
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(world.options.forward_concurrency)

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.world.options.forward_timeout_seconds)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def deliver(self, result: dict[str, Any], action: dict[str, Any]) -> None:
        message = dict(result)
        if action.get("callbackData") is not None:
            message["callbackData"] = action["callbackData"]
        body = orjson.dumps({"results": [message], "messageCount": 1, "pendingMessageCount": 0})
        task = asyncio.get_running_loop().create_task(self._deliver(str(action["forwardUrl"]), body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, body: bytes) -> None:
        counters = self.world.counters
        delays = self.world.options.forward_retry_delays
        for attempt in range(len(delays) + 1):
            if await self._post(url, body):
                counters.forwarded += 1
                if self._rng.random() < self.world.faults.duplicate_rate:
                    counters.forward_duplicates += 1
                    await self._post(url, body)
                return
            if attempt < len(delays):
                await asyncio.sleep(delays[attempt])
        counters.forward_abandoned += 1

    async def _post(self, url: str, body: bytes) -> bool:
        assert self._client is not None
        counters = self.world.counters
        async with self._slots:
            counters.forward_attempts += 1
            try:
                response = await self._client.post(url, content=body, headers={"Content-Type": "application/json"})
            except httpx.HTTPError as exc:
                counters.forward_failures += 1
                log.info("forward failed: %s", type(exc).__name__)
                return False
        if response.is_success:
            return True
        counters.forward_failures += 1
        log.info("forward answered %s", response.status_code)
        return False
