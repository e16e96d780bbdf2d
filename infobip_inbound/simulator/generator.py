"""Realistic mobile user responses, as Infobip would report them (the `results` items of the envelope)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

# (keyword, texts after it): keywords the way campaigns use them, texts in several scripts and with emoji.
_KEYWORDS: list[tuple[str | None, list[str]]] = [
    ("YES", ["", "please", "count me in 👍", "sí, claro"]),
    ("NO", ["", "thanks", "not now 🙅", "nein danke"]),
    ("STOP", ["", "stop sending these"]),
    ("HELP", ["", "how do I change my PIN?", "помогите пожалуйста"]),
    ("VOTE", ["A", "B", "C 🗳️"]),
    (None, ["Hello!", "When does the store open?", "ありがとう", "مرحبا", "Great app 😀🎉", "👍", "ok"]),
]
_PAYLOADS: list[dict[str, Any] | None] = [
    None,
    {"screen": "checkout", "cartValue": 42.5},
    {"orderId": "ORD-1001", "rating": 5},
    {"campaign": {"id": 7, "variant": "B"}, "tags": ["vip", "beta"]},
    {"button": "accept", "emoji": "✅"},
]


def infobip_timestamp(when: datetime) -> str:
    """`yyyy-MM-dd'T'HH:mm:ss.SSSZ`: milliseconds and an offset without a colon."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


class Generator:
    def __init__(self, application_codes: list[str], seed: int | None = None) -> None:
        if not application_codes:
            raise ValueError("at least one application code is needed")
        self.application_codes = application_codes
        self._rng = random.Random(seed)  # noqa: S311 - test data, not cryptography
        self._next_id = 1561984815238926404 + self._rng.randrange(10**9)
        self._devices = [str(uuid.UUID(int=self._rng.getrandbits(128))).upper() for _ in range(50)]

    def message_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def result(self, **overrides: Any) -> dict[str, Any]:
        """One response; `overrides` (Infobip field names) replace generated values, None removes a field."""
        rng = self._rng
        app = overrides.get("applicationCode") or rng.choice(self.application_codes)
        keyword, texts = rng.choice(_KEYWORDS)
        clean = rng.choice(texts)
        text = f"{keyword} {clean}".strip() if keyword else clean
        result: dict[str, Any] = {
            "messageId": self.message_id(),
            "from": rng.choice(self._devices),
            "to": app,
            "applicationCode": app,
            "receivedAt": infobip_timestamp(datetime.now(UTC)),
            "text": text,
            "cleanText": clean,
        }
        if keyword:
            result["keyword"] = keyword
        payload = rng.choice(_PAYLOADS)
        if payload is not None:
            result["customPayload"] = payload
        if rng.random() < 0.6:
            result["pairedMessageId"] = str(self._next_id - rng.randrange(1, 10**6))
        if rng.random() < 0.5:
            result["subscriberId"] = f"sub-{rng.randrange(10**6)}"
        if rng.random() < 0.3:
            result["bulkId"] = f"bulk-{rng.randrange(10**4)}"
        for name, value in overrides.items():
            if value is None:
                result.pop(name, None)
            else:
                result[name] = value
        return result

    def odd(self, index: int, **overrides: Any) -> dict[str, Any]:
        """A response in one of the shapes Infobip's SDKs may really send (by `index`, cycling): a null body,
        no cleanText, customPayload as a JSON string, an offset like `+02`, no applicationCode (only `to`),
        or no messageId at all (that one cannot be read, and is quarantined by the receiver)."""
        result = self.result(**overrides)
        match index % len(ODD_SHAPES):
            case 0:
                result["text"] = None
                result["cleanText"] = None
            case 1:
                result.pop("cleanText")
            case 2:
                result["customPayload"] = '{"campaign": "spring", "step": 2}'
            case 3:
                result["receivedAt"] = result["receivedAt"].replace("+0000", "+00")
            case 4:
                result.pop("applicationCode")
            case _:
                result.pop("messageId")
        return result


# What Generator.odd makes, in order.
ODD_SHAPES = (
    "null text",
    "no cleanText",
    "customPayload as string",
    "offset +00",
    "no applicationCode",
    "no messageId",
)
