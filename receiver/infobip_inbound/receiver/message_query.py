"""The admin message look-up's query: the query string of /admin/messages read into archive filters, and the
search form that writes it (on the status page and above the results). No I/O."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape

from infobip_inbound.contract import durations
from infobip_inbound.contract.store.archive import SELECTABLE, Filters

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000  # one page reads at most this many records' matches; narrower filters find older ones
SOURCES = ("forward", "pull")
# The query parameters, in the form's order; `limit` is set by the "more" link only.
FIELDS = ("id", "newer_than", "application", "keyword", "bulk_id", "source", "outcome", "outcome_of")
# The names the CLI's options have (`--newer-than`, `--outcome-of`); the page's earlier names still work.
ALIASES = {"newer": "newer_than", "handler": "outcome_of"}


@dataclass(frozen=True, slots=True)
class Query:
    values: dict[str, str]  # what was asked, blanks left out: the form is filled in again from it
    message_id: str | None = None
    filters: Filters = field(default_factory=Filters)
    limit: int = DEFAULT_LIMIT
    problems: list[str] = field(default_factory=list)

    @property
    def asked(self) -> bool:
        return bool(self.values)

    def more(self) -> dict[str, str]:
        """The query string of the same search with a larger page (the "more" link)."""
        return {**self.values, "limit": str(min(self.limit * 2, MAX_LIMIT))}


def read(params: Mapping[str, str], now: float | None = None) -> Query:
    """The query string read; what cannot be used is named in `problems` (and the page answers 400)."""
    given = dict(params)
    for old, new in ALIASES.items():  # a current name wins over its earlier one
        if old in given and new not in given:
            given[new] = given[old]
    values = {name: given[name].strip() for name in FIELDS if given.get(name, "").strip()}
    problems: list[str] = []
    since = None
    if "newer_than" in values:
        window = durations.seconds(values["newer_than"])
        if window is None:
            problems.append(f"newer than: {values['newer_than']!r} is not a duration such as 15m, 1h or 2d")
        else:
            since = (time.time() if now is None else now) - window
    if values.get("source", SOURCES[0]) not in SOURCES:
        problems.append(f"source: {values['source']!r} is not one of {', '.join(SOURCES)}")
    if values.get("outcome", SELECTABLE[0]) not in SELECTABLE:
        problems.append(f"outcome: {values['outcome']!r} is not one of {', '.join(SELECTABLE)}")
    if "outcome_of" in values and "outcome" not in values:
        problems.append("outcome of: says which handler an outcome is about; choose an outcome too")
    limit = DEFAULT_LIMIT
    if params.get("limit"):
        raw = params["limit"]
        if raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT:
            limit = int(raw)
            if limit != DEFAULT_LIMIT:
                values["limit"] = raw
        else:
            problems.append(f"limit: {raw!r} is not a whole number from 1 to {MAX_LIMIT}")
    filters = Filters(
        since=since,
        application=values.get("application"),
        keyword=values.get("keyword"),
        bulk_id=values.get("bulk_id"),
        source=values.get("source"),
        outcome=values.get("outcome"),
        handler=values.get("outcome_of"),
    )
    return Query(values, values.get("id"), filters, limit, problems)


def _text(name: str, label: str, values: Mapping[str, str], hint: str, size: int = 12, extra: str = "") -> str:
    return (
        f'<label>{escape(label)} <input type="text" name="{name}" size="{size}" placeholder="{escape(hint)}"{extra} '
        f'value="{escape(values.get(name, ""))}"></label>'
    )


def _choice(name: str, label: str, values: Mapping[str, str], options: tuple[str, ...]) -> str:
    chosen = values.get(name, "")
    items = "".join(
        f'<option value="{escape(option)}"{" selected" if option == chosen else ""}>{escape(option or "any")}</option>'
        for option in ("", *options)
    )
    return f'<label>{escape(label)} <select name="{name}">{items}</select></label>'


def search_form(values: Mapping[str, str], handlers: tuple[str, ...] = ()) -> str:
    """The look-up form: a message id, or filters (every one given must hold). GET, so a search is a link."""
    return (
        '<form id="lookup" class="lookup" method="get" action="/admin/messages">'
        f"{_text('id', 'message id', values, 'exact id', 28)}"
        f"{_text('newer_than', 'newer than', values, '1h', 5)}"
        f"{_text('application', 'application', values, 'code')}"
        f"{_text('keyword', 'keyword', values, 'any case', 8)}"
        f"{_text('bulk_id', 'bulk id', values, 'id')}"
        f"{_choice('source', 'source', values, SOURCES)}"
        f"{_choice('outcome', 'outcome', values, SELECTABLE)}"
        f"{_handler_field(values, handlers)}"
        '<button type="submit">look up</button></form>'
    )


def _handler_field(values: Mapping[str, str], handlers: tuple[str, ...]) -> str:
    # A text box with the configured handlers suggested: a handler no longer configured can still be asked for.
    options = "".join(f'<option value="{escape(name)}">' for name in handlers)
    box = _text("outcome_of", "outcome of", values, "handler", 14, ' list="handlers"')
    return f'{box}<datalist id="handlers">{options}</datalist>'
