"""Limits on what validated (INBOUND_MAX_RESULTS, INBOUND_MAX_JSON_DEPTH), each refused under its own reason."""

from __future__ import annotations

from typing import Any

import orjson

from infobip_inbound.infobip import exact_json
from infobip_inbound.infobip.envelope import InvalidEnvelope, ReadEnvelope
from infobip_inbound.receiver.edge.errors import Answer, refusal

# The JSON parser's own nesting limit (far above INBOUND_MAX_JSON_DEPTH's range) fails the parse with this.
_PARSER_DEPTH_ERROR = "recursion limit exceeded"


class EnvelopeLimits:
    def __init__(self, max_results: int, max_depth: int) -> None:
        self._max_results = max_results
        self._max_depth = max_depth
        self._too_many = refusal("too_many_results", f"at most {max_results} results per request")
        self.too_deep = refusal("too_deep", f"JSON nests deeper than {max_depth} levels")

    def check(self, read: ReadEnvelope) -> Answer | None:
        """Number of results, nesting of the free-form parts (payloads, extras; and of the results that
        could not be read, which are kept as sent). The envelope and a result are two levels; free-form
        values start at the third."""
        envelope = read.envelope
        if read.result_count > self._max_results:
            return self._too_many
        inner = self._max_depth - 2
        for unreadable in read.unreadable:
            try:
                kept = orjson.loads(unreadable.raw)
            except orjson.JSONDecodeError:  # a number no double holds, or nests past the parser's own limit
                try:
                    kept = exact_json.careful(unreadable.raw)
                except ValueError:
                    return self.too_deep
            if nests_deeper(kept, self._max_depth - 1):
                return self.too_deep
        for result in envelope.results:
            if (result.custom_payload and nests_deeper(result.custom_payload, inner)) or (
                result.__pydantic_extra__ and nests_deeper(result.__pydantic_extra__, inner + 1)
            ):
                return self.too_deep
        if envelope.__pydantic_extra__ and nests_deeper(envelope.__pydantic_extra__, self._max_depth):
            return self.too_deep
        return None


def too_deep_to_parse(exc: InvalidEnvelope) -> bool:
    """Whether the body failed to parse for nesting past the parser's own limit (so: too deep, not malformed)."""
    return len(exc.errors) == 1 and exc.errors[0].field == "body" and _PARSER_DEPTH_ERROR in exc.errors[0].message


def nests_deeper(value: Any, limit: int) -> bool:
    """Whether `value` nests deeper than `limit` containers. Iterative: no recursion on hostile input."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item  # type: ignore[assignment]
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
