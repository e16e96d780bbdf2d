"""What the CLI prints for people: message-derived text with its control characters made visible.

A messageId, keyword or bulkId is whatever a device or Infobip sent. Printed as is, `ESC]0;…BEL` retitles the
operator's terminal, `ESC[2J` clears it and `\\r\\n` draws a row of its own in a table. Every human-readable
line and table cell goes through `safe` (or `say`, which prints one line); `--json` output is printed exactly
(JSON escapes C0 itself).
"""

from __future__ import annotations

import re

import click

# C0 (tab, CR and LF included), DEL and C1: each is a terminal command or moves the cursor.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\u{ord(char):04x}"


def safe(text: object) -> str:
    """`text` on one line with every control character written as its escape (`\\n`, `\\u001b`): valid
    inside a JSON string too, and unchanged when applied again."""
    return _CONTROL.sub(_escaped, str(text))


def say(line: object = "", *, err: bool = False) -> None:
    """Print one human-readable line, made safe."""
    click.echo(safe(line), err=err)


def table(headers: list[str], rows: list[list[str]], indent: str = "") -> list[str]:
    """Aligned columns; cells made safe before they are measured."""
    cells = [[safe(cell) for cell in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += [indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return [line.rstrip() for line in lines]
