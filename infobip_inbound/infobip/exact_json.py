"""JSON read exactly where a plain read would change what was sent: a duplicate key (a plain parser keeps the
last silently), a number no double holds (`1e999`, `NaN`, `Infinity`: inf, nan or an error), a float where an
identity is expected.

The plain read stays the hot path: `plain` is a cheap check (orjson's parse and a count of colons) that a
body holds none of these; only a body that fails it is read by `careful`, which keeps every number's source
text (`jiter`'s lossless floats) and refuses a duplicate key.
"""

from __future__ import annotations

import math
import re
from typing import Any

import jiter
import orjson

LosslessFloat = jiter.LosslessFloat

# A colon written as a unicode escape (\u003a) is a plain one once re-serialized: it would throw the count of
# colons off, so such a body is read carefully.
_ESCAPED_COLON = b"\\u003"
_DUPLICATE = re.compile(r'duplicate key "(.*)" at line', re.DOTALL)


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key[:100]!r}")
        self.key = key[:100]


def plain(body: bytes) -> bool:
    """Whether a plain read of `body` is exact: it parses without a non-finite number, no result's `messageId`
    is a float, and it has as many colons as its parse re-serialized (a duplicate key is parsed away). A body
    that is not JSON at all is plain too: the plain read refuses it with its own error."""
    try:
        tree = orjson.loads(body)  # refuses NaN, Infinity and numbers past a double's range
    except orjson.JSONDecodeError:
        return jiter_refuses(body)
    if isinstance(tree, dict):
        results = tree.get("results")
        if isinstance(results, list):
            for result in results:
                # A float id, or an integer past 64 bits (orjson reads it as a float): only the careful read
                # tells which.
                if isinstance(result, dict) and type(result.get("messageId")) is float:
                    return False
    if _ESCAPED_COLON in body:
        return False
    # A colon follows each key, and the others are inside strings, which the re-serialized parse writes with the
    # same colons (numbers, literals and white space hold none). Fewer in the parse: a key, with its value, was
    # there twice.
    try:
        again = orjson.dumps(tree)
    except orjson.JSONEncodeError:  # nests past the encoder's limit: deeper than the plain read takes too
        return True
    return body.count(b":") == again.count(b":")


def jiter_refuses(body: bytes) -> bool:
    """Whether the careful reader refuses `body` as well (not JSON at all), rather than reading a value orjson
    does not (a non-finite number)."""
    try:
        jiter.from_json(body, float_mode="lossless-float")
    except ValueError:
        return True
    return False


def careful(body: bytes) -> Any:
    """`body` parsed with each float as a LosslessFloat (its source text kept); DuplicateKey for a key twice in
    one object. ValueError if it is not JSON."""
    try:
        return jiter.from_json(body, catch_duplicate_keys=True, float_mode="lossless-float")
    except ValueError as exc:
        found = _DUPLICATE.search(str(exc))
        if found is not None:
            raise DuplicateKey(found.group(1)) from None
        raise


def settled(value: Any) -> tuple[Any, bool]:
    """`value` with each LosslessFloat made a float, or its source text when no float holds it (non-finite,
    out of range); and whether any was kept as text."""
    if isinstance(value, LosslessFloat):
        number = float(value)
        if math.isfinite(number):
            return number, False
        return bytes(value).decode(), True
    if isinstance(value, dict):
        kept_text = False
        out: dict[str, Any] = {}
        for key, item in value.items():
            out[key], text = settled(item)
            kept_text |= text
        return out, kept_text
    if isinstance(value, list):
        kept_text = False
        items = []
        for item in value:
            settled_item, text = settled(item)
            items.append(settled_item)
            kept_text |= text
        return items, kept_text
    return value, False


def as_sent(value: Any) -> bytes:
    """JSON of a carefully read value as it was sent: each LosslessFloat written as its source text."""
    if isinstance(value, LosslessFloat):
        return bytes(value)
    if isinstance(value, dict):
        return b"{" + b",".join(orjson.dumps(key) + b":" + as_sent(item) for key, item in value.items()) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(as_sent(item) for item in value) + b"]"
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer past 64 bits: Python writes it exactly
        return str(value).encode()
