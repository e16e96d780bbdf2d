"""Durations as people type them (`90`, `90s`, `15m`, `2h`, `7d`, `1w`): one reading for the CLI and the pages."""

from __future__ import annotations

import re

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)


def seconds(text: str) -> float | None:
    """The duration in seconds; None when `text` is not one."""
    found = _DURATION.match(text)
    return None if found is None else float(found.group(1)) * _UNITS[found.group(2).lower()]
