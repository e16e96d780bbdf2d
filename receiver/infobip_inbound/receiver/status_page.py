"""The receiver's read-only status page: /admin/status (HTML) and /admin/status.json.

The figures of `infobip-inbound status`, with bar charts of the last hour and of each recent campaign's
keywords in inline SVG, and the message look-up's form (its results: infobip_inbound.receiver.messages_page); a few
lines of inline script show times in the viewer's time zone and refresh the page (not while a look-up is typed).
No external resources (a strict Content-Security-Policy forbids them). Behind the admin credentials
(infobip_inbound.receiver.admin_auth); not served when none are configured. Endpoints are sync: Starlette runs
them in its thread pool, off the event loop.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Any

import orjson
import redis
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from infobip_inbound.contract.settings import Settings
from infobip_inbound.receiver.admin_auth import AdminAuth
from infobip_inbound.receiver.edge.errors import error_response
from infobip_inbound.receiver.message_query import search_form
from infobip_inbound.runtime.status import snapshot

SCRIPT = """
document.querySelectorAll("time[data-ts]").forEach(function (el) {
  var ts = Number(el.getAttribute("data-ts"));
  if (ts > 0) { el.textContent = new Date(ts * 1000).toLocaleString(); }
});
document.body.setAttribute("data-rendered", "yes");
setInterval(function () {
  var form = document.getElementById("lookup");
  var typing = form && (form.contains(document.activeElement) ||
    Array.prototype.some.call(form.elements, function (el) { return el.value; }));
  if (!typing) { location.reload(); }
}, 15000);
"""
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    f"script-src 'sha256-{_SCRIPT_HASH}'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2329;background:#fafbfc}
h1{font-size:1.3em;margin:0 0 .2em}h2{font-size:1.05em;margin:1.4em 0 .4em}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #d5dbe1;padding:.25em .7em;text-align:right}
th{background:#eef1f4}td:first-child,th:first-child{text-align:left}
.cards{display:flex;flex-wrap:wrap;gap:.8em}
.card{background:#fff;border:1px solid #d5dbe1;padding:.6em 1em;min-width:9em}
.card b{display:block;font-size:1.6em}.bad{color:#b3261e}.muted{color:#66717d}
.charts{display:flex;flex-wrap:wrap;gap:1.2em}figure{margin:0;background:#fff;border:1px solid #d5dbe1;padding:.5em}
figcaption{font-weight:600;margin-bottom:.3em}.legend span{margin-right:1em}
.lookup{display:flex;flex-wrap:wrap;gap:.4em .9em;align-items:center;background:#fff;border:1px solid #d5dbe1;
padding:.6em 1em}.lookup input,.lookup select{font:inherit}
"""
SERIES_COLORS = {"accepted": "#2e7d32", "duplicates": "#9e9e9e", "handled": "#1565c0", "failed": "#c62828"}


def bar_chart(rows: list[dict[str, Any]], series: list[str], title: str, width: int = 480, height: int = 140) -> str:
    """Stacked bars, one per minute, as inline SVG."""
    peak = max([sum(row.get(s, 0) for s in series) for row in rows] + [1])
    slot = width / max(len(rows), 1)
    bars = []
    for index, row in enumerate(rows):
        y = float(height)
        for name in series:
            value = row.get(name, 0)
            if not value:
                continue
            h = value / peak * (height - 4)
            y -= h
            bars.append(
                f'<rect x="{index * slot:.1f}" y="{y:.1f}" width="{max(slot - 1, 1):.1f}" height="{h:.1f}" '
                f'fill="{SERIES_COLORS[name]}"><title>{escape(name)}: {value}</title></rect>'
            )
    legend = "".join(
        f'<span><svg width="10" height="10"><rect width="10" height="10" fill="{SERIES_COLORS[s]}"/></svg> '
        f"{escape(s)} ({sum(row.get(s, 0) for row in rows)})</span>"
        for s in series
    )
    return (
        f"<figure><figcaption>{escape(title)}</figcaption>"
        f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height + 16}" '
        f'viewBox="0 0 {width} {height + 16}"><line x1="0" y1="{height}" x2="{width}" y2="{height}" '
        f'stroke="#b0b8c0"/>{"".join(bars)}<text x="0" y="{height + 13}" font-size="10" fill="#66717d">'
        f'-60 min</text><text x="{width}" y="{height + 13}" font-size="10" fill="#66717d" text-anchor="end">now'
        f'</text><text x="2" y="10" font-size="10" fill="#66717d">max {peak}/min</text>'
        f'</svg><div class="legend">{legend}</div></figure>'
    )


KEYWORD_COLOR = "#1565c0"


def keyword_chart(campaign: dict[str, Any], width: int = 220, bar: int = 14, shown: int = 5) -> str:
    """Horizontal bars of a campaign's most frequent keywords, as inline SVG."""
    keywords = list(campaign["keywords"].items())[:shown]
    if campaign["other_keywords"]:
        keywords.append(("(other)", campaign["other_keywords"]))
    peak = max([count for _, count in keywords] + [1])
    label = 70
    rows = []
    for index, (keyword, count) in enumerate(keywords):
        y = index * (bar + 4)
        w = count / peak * (width - label - 30)
        rows.append(
            f'<text x="{label - 4}" y="{y + bar - 3}" font-size="10" text-anchor="end" fill="#1d2329">'
            f"{escape((keyword or '(none)')[:12])}</text>"
            f'<rect x="{label}" y="{y}" width="{max(w, 1):.1f}" height="{bar}" fill="{KEYWORD_COLOR}">'
            f"<title>{escape(keyword or '(none)')}: {count}</title></rect>"
            f'<text x="{label + w + 3:.1f}" y="{y + bar - 3}" font-size="10" fill="#66717d">{count}</text>'
        )
    height = max(len(keywords), 1) * (bar + 4)
    return (
        f'<svg role="img" aria-label="keywords of bulk {escape(campaign["id"])}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{"".join(rows)}</svg>'
    )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def campaigns_section(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return '<p id="campaigns" class="muted">no responses to a bulk counted yet</p>'
    cells = []
    for campaign in rows:
        rates = campaign["statistics"]
        median = campaign["median_delay_seconds"]
        cells.append(
            f'<tr data-bulk="{escape(campaign["id"])}"><td>{escape(campaign["id"])}</td>'
            f"<td>{campaign['responses']}</td><td>{_share(rates['per_delivered'])}</td>"
            f"<td>{_share(rates['per_seen'])}</td><td>{'-' if median is None else f'{median:.0f} s'}</td>"
            f"<td>{escape(campaign['last_response_at'] or '-')}</td><td>{keyword_chart(campaign)}</td></tr>"
        )
    return (
        '<table id="campaigns"><tr><th>bulk</th><th>responses</th><th>÷ delivered</th><th>÷ seen</th>'
        f"<th>median delay</th><th>last response (UTC)</th><th>keywords</th></tr>{''.join(cells)}</table>"
        '<p class="muted">Rates appear once <code>infobip-inbound campaigns</code> has fetched the bulk\'s '
        "statistics (cached); this page never calls Infobip.</p>"
    )


def _waited(handler: dict[str, Any]) -> str:
    """How long the oldest pair in a handler's lanes has waited."""
    return f"{handler['backlog_oldest_age_seconds']:.0f} s" if handler["backlog"] else "-"


def _oldest(queue: dict[str, Any]) -> str:
    return f"{queue['oldest_job_age_seconds']:.0f} s" if queue["depth"] else "-"


def _time(at: float | None) -> str:
    return f'<time data-ts="{at or 0}">{"never" if not at else escape(str(round(at)))}</time>'


def _flag(bad: bool) -> str:
    return ' class="bad"' if bad else ""


def render(figures: dict[str, Any]) -> str:
    minute = figures["last_minute"]
    dedup = figures["dedup"]
    poller = figures["poller"]
    hit_rate = "-" if dedup["hit_rate"] is None else f"{dedup['hit_rate'] * 100:.1f}%"
    backlog = sum(q["depth"] for q in figures["queues"])
    dead = sum(h["dead_letters"] for h in figures["handlers"].values())
    cards = [
        ("accepted / min", minute["accepted"], False),
        ("duplicates / min", minute["duplicates"], False),
        ("handled / min", minute["handled"], False),
        ("failed / min", minute["failed"], minute["failed"] > 0),
        ("waiting jobs", backlog, False),
        ("dead letters", dead, dead > 0),
        ("quarantined", figures["quarantine"]["size"], figures["quarantine"]["size"] > 0),
        ("workers alive", figures["workers"]["alive"], figures["workers"]["alive"] == 0),
        ("dedup hit rate", hit_rate, False),
    ]
    card_html = "".join(
        f'<div class="card" data-figure="{escape(label)}"><span class="muted">{escape(label)}</span>'
        f'<b class="{"bad" if bad else ""}">{escape(str(value))}</b></div>'
        for label, value, bad in cards
    )
    queue_rows = "".join(
        f"<tr><td>{escape(q['queue'])}</td><td>{q['depth']}</td><td>{_oldest(q)}</td>"
        f"<td>{q['started']}</td><td>{q['scheduled']}</td><td>{q['deferred']}</td><td>{q['failed']}</td></tr>"
        for q in figures["queues"]
    )
    handler_rows = "".join(
        f"<tr><td>{escape(name)}</td><td{_flag(h['state'] != 'running')}>{escape(h['state'])}"
        f"{' (no live worker runs it)' if h['unheeded'] else ''}</td><td{_flag(not h['workers'])}>{h['workers']}</td>"
        f"<td>{h['handled_last_minute']}</td><td>{h['failed_last_minute']}</td><td>{h['dead_letters']}</td>"
        f"<td{_flag(h['backlog'] > 0)}>{h['backlog']}</td>"
        f"<td>{_waited(h)}</td></tr>"
        for name, h in figures["handlers"].items()
    )
    worker_rows = "".join(
        f"<tr><td>{escape(w['name'])}</td><td>{escape(w['state'])}</td><td>{escape(', '.join(w['queues']))}</td>"
        f"<td>{w['heartbeat_age_seconds'] if w['heartbeat_age_seconds'] is not None else '-'} s</td></tr>"
        for w in figures["worker_list"]
    )
    if poller["leader"]:
        lease = (
            f"<b>{escape(poller['leader'])}</b> holds the lease (fencing token {poller['fencing_token']}, "
            f"{poller['lease_ttl_seconds']} s left)"
        )
    else:
        lease = '<b class="bad">no poller holds the lease</b>'
    hour = figures["last_hour"]
    charts = bar_chart(hour, ["accepted", "duplicates"], "Received per minute") + bar_chart(
        hour, ["handled", "failed"], "Handled per minute"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>infobip-inbound status</title><style>{STYLE}</style></head>
<body><h1>infobip-inbound status</h1><div class="muted">as of {_time(figures["at"])}, refreshes every 15 s
(not while a look-up is being typed)</div>
<h2>Message look-up</h2>{search_form({}, tuple(figures["handlers"]))}
<h2>Last minute</h2><div class="cards">{card_html}</div>
<h2>Last hour</h2><div class="charts">{charts}</div>
<h2>Queues</h2><table id="queues"><tr><th>queue</th><th>waiting</th><th>oldest</th><th>running</th>
<th>scheduled</th><th>deferred</th><th>failed</th></tr>{queue_rows}</table>
<h2>Handlers</h2><table id="handlers"><tr><th>handler</th><th>state</th><th>worker processes</th>
<th>handled / min</th><th>failed / min</th>
<th>dead letters</th><th>backlog</th><th>oldest waiting</th></tr>{handler_rows}</table>
<h2>Workers</h2><table id="workers"><tr><th>worker</th><th>state</th><th>queues</th><th>heartbeat</th></tr>
{worker_rows}</table>
<h2>Poller</h2><p id="poller">{lease}; last drain {_time(poller["last_drain_at"])}</p>
<h2>Campaigns</h2>{campaigns_section(figures.get("campaigns", []))}
<script>{SCRIPT}</script></body></html>
"""


class StatusPage:
    def __init__(self, settings: Settings, connection: redis.Redis) -> None:
        self._settings = settings
        self._connection = connection
        self._auth = AdminAuth(settings.admin_tokens)

    @property
    def enabled(self) -> bool:
        return self._auth.enabled

    def routes(self) -> list[Route]:
        return [
            Route("/admin/status", self.page, methods=["GET"]),
            Route("/admin/status.json", self.json, methods=["GET"]),
        ]

    def _figures(self) -> dict[str, Any] | Response:
        try:
            return snapshot(self._connection, self._settings)
        except (redis.RedisError, OSError) as exc:
            return error_response(503, "unavailable", "Redis cannot be read now", redis=type(exc).__name__)

    def page(self, request: Request) -> Response:
        figures = self._auth.refusal(request) or self._figures()
        if isinstance(figures, Response):
            return figures
        return HTMLResponse(render(figures), headers=_HEADERS)

    def json(self, request: Request) -> Response:
        figures = self._auth.refusal(request) or self._figures()
        if isinstance(figures, Response):
            return figures
        return Response(orjson.dumps(figures), media_type="application/json", headers={"Cache-Control": "no-store"})
