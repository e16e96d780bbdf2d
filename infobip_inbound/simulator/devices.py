"""Simulated devices: the installations (registration ids) that pushes are delivered to, and that answer.

A push delivered to a registration id reaches that device. A share of the devices (`respond_share`) that
receive a push respond to it, once, after `respond_delay_seconds`: a user response carrying the push's
`pairedMessageId`, `bulkId` and `initialMessageId`, which Infobip then forwards or keeps for pull like any
other. Responding opens the push, so it counts as seen in the bulk's statistics. A device responds once:
what it receives after that (the replies) is counted per registration id, never answered, so a loop with an
auto-reply ends.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infobip_inbound.simulator.generator import Generator
from infobip_inbound.simulator.state import World


@dataclass
class Device:
    registration_id: str
    application_code: str
    received: int = 0  # pushes delivered
    responded_to: str | None = None  # messageId of the push it responded to
    replies: int = 0  # pushes delivered after it responded
    response: dict[str, Any] | None = None  # the user response it made, as Infobip sends it

    def as_dict(self) -> dict[str, Any]:
        return {
            "registration_id": self.registration_id,
            "application_code": self.application_code,
            "received": self.received,
            "responded_to": self.responded_to,
            "replies": self.replies,
            "response": self.response,
        }


@dataclass
class Devices:
    world: Callable[[], World]
    generator: Generator
    respond: Callable[[dict[str, Any]], None]  # hands a response to Infobip's side (forward / inbox)
    rng: random.Random
    known: dict[str, Device] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def delivered(self, application_code: str, registration_id: str, report: dict[str, Any]) -> None:
        """A push reached the device: count it, and maybe have its user respond."""
        device = self.known.get(registration_id)
        if device is None:
            device = self.known[registration_id] = Device(registration_id, application_code)
        device.received += 1
        counters = self.world().counters
        if device.responded_to is not None:
            device.replies += 1
            counters.replies_received += 1
            return
        options = self.world().options
        if options.respond_share <= 0 or self.rng.random() >= options.respond_share:
            return
        device.responded_to = str(report["messageId"])
        counters.responding_devices += 1
        result = self.generator.result(
            **{
                "from": registration_id,
                "applicationCode": application_code,
                "to": application_code,
                "pairedMessageId": report["messageId"],
                "bulkId": report["bulkId"],
                "initialMessageId": report["messageId"],
            }
        )
        device.response = result
        task = asyncio.get_running_loop().create_task(self._respond(report, result, options.respond_delay_seconds))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _respond(self, report: dict[str, Any], result: dict[str, Any], delay: float) -> None:
        await asyncio.sleep(delay)
        report["seen"] = True
        self.world().counters.device_responses += 1
        self.respond(result)

    @property
    def responding(self) -> int:
        """Responses scheduled and not yet made."""
        return len(self._tasks)

    def replies_by_device(self) -> dict[str, int]:
        return {d.registration_id: d.replies for d in self.known.values() if d.responded_to is not None}

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
