"""The admin message look-up, read from the archive (infobip_inbound.contract.store.archive):

    /admin/messages[.json]?id=…&newer_than=1h&…   matching messages, newest first, a page at a time
    /admin/messages/{message_id}[.json]      one message: its fields and its journey as a timeline (404: not archived)

Server-rendered HTML in the status page's look, without any script; everything from a message is escaped (its
fields come from outside). Behind the admin credentials, like the status page. Endpoints are sync: Starlette
runs them in its thread pool, off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote, unquote, urlencode

import orjson
import redis
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import archive
from infobip_inbound.contract.store.archive import Event, Journey
from infobip_inbound.receiver.admin_auth import AdminAuth
from infobip_inbound.receiver.edge.errors import error_response
from infobip_inbound.receiver.message_query import Query, read, search_form
from infobip_inbound.receiver.status_page import STYLE

CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
_HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
_JSON_HEADERS = {"Cache-Control": "no-store"}
PAGE_STYLE = """
#results td{text-align:left}td.text{max-width:26em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
td.id{font-family:ui-monospace,monospace}table.fields td{text-align:left;vertical-align:top}
table.fields td:first-child{color:#66717d;white-space:nowrap}pre{margin:0;white-space:pre-wrap;word-break:break-all}
ol.timeline{list-style:none;padding:0;margin:0;border-left:3px solid #d5dbe1}
ol.timeline li{position:relative;margin:0 0 .7em;padding:.1em 0 0 1.1em;display:grid;
grid-template-columns:max-content 6.5em 1fr;gap:.8em}
ol.timeline li::before{content:"";position:absolute;left:-.55em;top:.45em;width:.7em;height:.7em;border-radius:50%;
background:#66717d}ol.timeline time{color:#66717d;font-variant-numeric:tabular-nums}
.kind{font-weight:600}.detail{display:block;color:#3c4650}
.timeline li.accepted::before{background:#1565c0}.timeline li.handled::before{background:#2e7d32}
.timeline li.retrying::before{background:#ef6c00}
.timeline li.dead::before,.timeline li.quarantined::before{background:#c62828}
.accepted .kind{color:#1565c0}.handled .kind,td.handled,span.handled{color:#2e7d32}
.retrying .kind,td.retrying,span.retrying{color:#ef6c00}
.dead .kind,td.dead,span.dead,.quarantined .kind,span.quarantined{color:#b3261e}
nav{margin-bottom:.6em}.problems{color:#b3261e}
"""


def when(at: float | None) -> str:
    """A time in UTC, to the millisecond (the archive's resolution)."""
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


_MESSAGE_PREFIX = "/admin/messages/"
_JSON_SUFFIX = ".json"


def page_url(message_id: str, suffix: str = "") -> str:
    """The page of a message (with ".json": its JSON). Every `/` and `.` of the id is escaped, so the id is one
    segment and never ends in a literal ".json": `message_of` reads it back from the raw path, whatever it is."""
    return f"{_MESSAGE_PREFIX}{quote(message_id, safe='').replace('.', '%2E')}{suffix}"


def message_of(scope: Mapping[str, Any]) -> tuple[str, bool]:
    """The message id a `page_url` names, and whether its JSON is asked for. Read from the raw path (the
    decoded one has lost which `/` and `.` were escaped); an unescaped id (typed by hand) reads as itself."""
    raw: bytes | None = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else quote(scope["path"], safe="/")
    named = path[len(_MESSAGE_PREFIX) :] if path.startswith(_MESSAGE_PREFIX) else path
    as_json = named.endswith(_JSON_SUFFIX)
    if as_json:
        named = named[: -len(_JSON_SUFFIX)]
    return unquote(named, errors="surrogateescape").encode("utf-8", "surrogateescape").decode(
        "utf-8", "replace"
    ), as_json


def _document(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{escape(title)}</title><style>{STYLE}{PAGE_STYLE}</style></head>
<body><nav><a href="/admin/status">status</a> · <a href="/admin/messages">message look-up</a></nav>
{body}</body></html>
"""


def _outcomes(journey: Journey) -> str:
    outcomes = journey.outcomes()
    parts = [f'<span class="{escape(e.kind)}">{escape(h)}: {escape(e.kind)}</span>' for h, e in outcomes.items()]
    if journey.quarantined:
        parts.insert(0, '<span class="quarantined">quarantined</span>')
    if not parts:
        return '<span class="muted">pending</span>'
    return "<br>".join(parts)


def _row(journey: Journey) -> str:
    text = journey.field("text")
    return (
        f'<tr data-message="{escape(journey.message_id)}"><td>{escape(when(journey.accepted_at))}</td>'
        f'<td class="id"><a href="{escape(page_url(journey.message_id))}">{escape(journey.message_id)}</a></td>'
        f"<td>{escape(str(journey.field('application_code') or '-'))}</td>"
        f"<td>{escape(str(journey.field('keyword') or '-'))}</td><td>{escape(str(journey.field('source') or '-'))}</td>"
        f'<td class="text">{escape(str(text)) if text is not None else "-"}</td><td>{_outcomes(journey)}</td></tr>'
    )


def render_search(
    query: Query, found: list[Journey], more: bool, figures: Mapping[str, Any], handlers: tuple[str, ...]
) -> str:
    held = f"The archive holds {figures['messages']} messages, the oldest accepted {when(figures['oldest'])}."
    parts = ["<h1>Message look-up</h1>", f'<p class="muted">{escape(held)}</p>', search_form(query.values, handlers)]
    if query.problems:
        items = "".join(f"<li>{escape(problem)}</li>" for problem in query.problems)
        parts.append(f'<ul class="problems" id="problems">{items}</ul>')
    elif not found:
        asked = "no archived message has this id" if query.message_id else "no archived message matches"
        parts.append(f'<p id="results" class="muted">{escape(asked)}</p>')
    else:
        shown = f"{len(found)} message{'s' if len(found) != 1 else ''}, newest first"
        rows = "".join(_row(journey) for journey in found)
        parts.append(
            f"<h2>{escape(shown)}</h2>"
            '<table id="results"><tr><th>accepted (UTC)</th><th>message id</th><th>application</th><th>keyword</th>'
            f"<th>source</th><th>text</th><th>outcome</th></tr>{rows}</table>"
        )
        if more:
            parts.append(f'<p><a id="more" href="/admin/messages?{escape(urlencode(query.more()))}">more</a></p>')
    return _document("infobip-inbound messages", "".join(parts))


def _value(value: Any) -> str:
    if value is None:
        return '<span class="muted">-</span>'
    if isinstance(value, dict | list):
        return f"<pre>{escape(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())}</pre>"
    return escape(str(value))


def _split(detail: str) -> tuple[str, str]:
    """`<id>: <error>` (a dead letter's or a quarantine entry's detail) as its two parts."""
    head, sep, rest = detail.partition(": ")
    return (head, rest) if sep else ("", detail)


def describe(event: Event) -> str:
    """One event of the journey in words (HTML, escaped)."""
    handler = escape(event.handler or "")
    detail = escape(event.detail)
    tried = f"try {event.tries}" if event.tries else ""
    if event.kind == "accepted":
        return f"accepted and queued on <b>{detail}</b>"
    if event.kind == "quarantined":
        entry, reason = _split(event.detail)
        return (
            f"a result with this id was quarantined as entry <code>{escape(entry)}</code>"
            f'<span class="detail">{escape(reason)}</span>'
        )
    if event.kind == archive.DUPLICATE:
        request = f" by request <code>{detail}</code>" if detail else ""
        return f"delivered again{request}: a duplicate, not queued"
    if event.kind == archive.HANDLED:
        return f"<b>{handler}</b> handled it ({tried})"
    if event.kind == archive.RETRYING:
        after, error = _split(event.detail)
        return f'<b>{handler}</b> failed {tried}; retrying {escape(after)}<span class="detail">{escape(error)}</span>'
    if event.kind == archive.DEAD:
        entry, error = _split(event.detail)
        return (
            f"<b>{handler}</b> failed {tried} for good; dead-lettered as <code>{escape(entry)}</code>"
            f'<span class="detail">{escape(error)}</span>'
        )
    if event.kind == archive.REPLAY:
        return f"queued again for <b>{handler}</b> by replay <code>{detail}</code>"
    if event.kind == archive.HELD:
        why = "paused" if event.detail == "paused" else "slower than the others on its queue"
        return f"<b>{handler}</b> held in its lane ({escape(why)}): it runs when its turn comes"
    if event.kind == archive.REDRIVEN:
        return f"taken from the dead-letter store for <b>{handler}</b> and queued again (dlq retry)"
    return f"<b>{handler}</b> {escape(event.kind)} {detail}"  # an outcome a later version records


def render_message(journey: Journey) -> str:
    facts = (
        ("message id", journey.message_id),
        ("accepted at", when(journey.accepted_at)),
        ("queue", journey.queue),
        ("request id", journey.request_id),
    )
    summary = "".join(f"<tr><td>{escape(name)}</td><td>{_value(value)}</td></tr>" for name, value in facts)
    fields = "".join(
        f'<tr data-field="{escape(name)}"><td>{escape(name)}</td><td>{_value(value)}</td></tr>'
        for name, value in (journey.response or {}).items()
    )
    if not fields:
        fields = '<tr><td colspan="2" class="muted">not accepted: only its quarantine is archived</td></tr>'
    events = "".join(
        f'<li class="{escape(event.kind)}"><time>{escape(when(event.at))}</time>'
        f'<span class="kind">{escape(event.kind)}</span> <span>{describe(event)}</span></li>'
        for event in journey.events
    )
    outcomes = "".join(
        f'<tr><td>{escape(handler)}</td><td class="{escape(event.kind)}">{escape(event.kind)}</td>'
        f"<td>{event.tries if event.tries else '-'}</td><td>{escape(when(event.at))}</td></tr>"
        for handler, event in journey.outcomes().items()
    )
    outcome_table = (
        f'<table id="outcomes"><tr><th>handler</th><th>last outcome</th><th>try</th><th>at</th></tr>{outcomes}</table>'
        if outcomes
        else '<p id="outcomes" class="muted">no handler has reported on it yet</p>'
    )
    body = (
        f"<h1>Message {escape(journey.message_id)}</h1>"
        f'<p><a href="{escape(page_url(journey.message_id, ".json"))}">as JSON</a></p>'
        f'<table class="fields" id="summary">{summary}</table>'
        f'<h2>Journey</h2><ol class="timeline" id="journey">{events}</ol>'
        f"<h2>Handlers</h2>{outcome_table}"
        f'<h2>Response</h2><table class="fields" id="response">{fields}</table>'
    )
    return _document(f"message {journey.message_id}", body)


def render_missing(message_id: str) -> str:
    body = (
        f'<h1>Not in the archive</h1><p id="missing">No archived message has the id <code>{escape(message_id)}'
        '</code>.</p><p class="muted">It was never accepted here, or it left the archive: older than its '
        "age bound, pushed out by its size bound, or accepted while archiving was off.</p>"
        f"{search_form({'id': message_id})}"
    )
    return _document("not in the archive", body)


class MessagesPage:
    def __init__(self, settings: Settings, connection: redis.Redis) -> None:
        self._connection = connection
        self._auth = AdminAuth(settings.admin_tokens)
        self._handlers = tuple(sorted(Router.from_settings(settings).handler_names))

    @property
    def enabled(self) -> bool:
        return self._auth.enabled

    def routes(self) -> list[Route]:
        # A message's page and its JSON: both routes take any path below (an id may hold `/`), and `message_of`
        # tells which is asked for on the raw path (an id may end in ".json").
        return [
            Route("/admin/messages.json", self.search_json, methods=["GET"]),
            Route("/admin/messages", self.search_page, methods=["GET"]),
            Route("/admin/messages/{message_id:path}.json", self.message, methods=["GET"]),
            Route("/admin/messages/{message_id:path}", self.message, methods=["GET"]),
        ]

    def _guarded(self, request: Request, read_it: Callable[[], Response]) -> Response:
        refused = self._auth.refusal(request)
        if refused is not None:
            return refused
        try:
            return read_it()
        except (redis.RedisError, OSError) as exc:
            return error_response(503, "unavailable", "Redis cannot be read now", redis=type(exc).__name__)

    def _search(self, query: Query) -> tuple[list[Journey], bool]:
        """Up to the query's limit of matches, newest first, and whether there are more."""
        if query.message_id is not None:
            # An id is looked up directly; the filters given beside it must hold too.
            journey = archive.load(self._connection, query.message_id)
            since = query.filters.since
            if journey is None or not query.filters.matches(journey):
                return [], False
            return ([], False) if since is not None and (journey.accepted_at or 0) < since else ([journey], False)
        found = list(archive.select(self._connection, query.filters, limit=query.limit + 1))
        return found[: query.limit], len(found) > query.limit

    def search_page(self, request: Request) -> Response:
        def answer() -> Response:
            query = read(request.query_params)
            found, more = ([], False) if query.problems else self._search(query)
            html = render_search(query, found, more, archive.figures(self._connection), self._handlers)
            return HTMLResponse(html, 400 if query.problems else 200, headers=_HEADERS)

        return self._guarded(request, answer)

    def search_json(self, request: Request) -> Response:
        def answer() -> Response:
            query = read(request.query_params)
            if query.problems:
                return error_response(400, "bad_request", "; ".join(query.problems), _JSON_HEADERS)
            found, more = self._search(query)
            body = {
                "messages": [journey.to_dict() for journey in found],
                "more": more,
                "limit": query.limit,
                "archive": archive.figures(self._connection),
            }
            return Response(orjson.dumps(body), media_type="application/json", headers=_JSON_HEADERS)

        return self._guarded(request, answer)

    def message(self, request: Request) -> Response:
        message_id, as_json = message_of(request.scope)
        return self._guarded(
            request, lambda: self._message_json(message_id) if as_json else self._message_page(message_id)
        )

    def _message_page(self, message_id: str) -> Response:
        journey = archive.load(self._connection, message_id)
        if journey is None:
            return HTMLResponse(render_missing(message_id), 404, headers=_HEADERS)
        return HTMLResponse(render_message(journey), headers=_HEADERS)

    def _message_json(self, message_id: str) -> Response:
        journey = archive.load(self._connection, message_id)
        if journey is None:
            return error_response(404, "not_found", "not in the archive", _JSON_HEADERS, message_id=message_id)
        return Response(archive.to_json(journey), media_type="application/json", headers=_JSON_HEADERS)
