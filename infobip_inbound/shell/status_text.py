"""`infobip-inbound status` as one screen of plain text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from infobip_inbound.shell.terminal import safe, table


def _when(at: float | None) -> str:
    if not at:
        return "never"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return table(headers, rows, indent="  ")


def render(snapshot: dict[str, Any]) -> str:
    lines = [f"infobip-inbound status at {_when(snapshot['at'])}", ""]
    lines.append("Queues")
    lines += _table(
        ["queue", "waiting", "oldest", "running", "scheduled", "failed"],
        [
            [
                q["queue"],
                str(q["depth"]),
                _age(q["oldest_job_age_seconds"]) if q["depth"] else "-",
                str(q["started"]),
                str(q["scheduled"]),
                str(q["failed"]),
            ]
            for q in snapshot["queues"]
        ],
    )
    minute = snapshot["last_minute"]
    lines += [
        "",
        f"Last minute: {minute['accepted']} accepted, {minute['duplicates']} duplicates, "
        f"{minute['handled']} handled, {minute['failed']} failed",
    ]
    dedup = snapshot["dedup"]
    rate = "-" if dedup["hit_rate"] is None else f"{dedup['hit_rate'] * 100:.1f}%"
    lines.append(f"Dedup: {dedup['accepted']} accepted, {dedup['duplicates']} duplicates in all, hit rate {rate}")
    held = snapshot["quarantine"]
    if held["size"]:
        oldest = _age(snapshot["at"] - held["oldest_at"]) if held["oldest_at"] else "-"
        lines.append(
            f"Quarantine: {held['size']} results set aside, the oldest {oldest} ago"
            f" (`infobip-inbound quarantine list`); {held['evicted_total']} evicted at the bound"
        )
    else:
        lines.append(f"Quarantine: empty ({held['evicted_total']} evicted at the bound)")
    kept = snapshot.get("archive") or {}
    if kept.get("messages"):
        oldest = _age(snapshot["at"] - kept["oldest"]) if kept["oldest"] else "-"
        lines.append(
            f"Archive: {kept['messages']} messages, the oldest accepted {oldest} ago (`infobip-inbound messages list`)"
        )
    recent = snapshot.get("campaigns") or []
    if recent:
        shown = ", ".join(f"{c['id']} {c['responses']}" for c in recent[:3])
        lines.append(f"Campaigns: responses to recent bulks: {shown} (`infobip-inbound campaigns list`)")
    lines += ["", "Handlers"]
    lines += _table(
        ["handler", "state", "workers", "handled/min", "failed/min", "dead letters", "backlog", "oldest"],
        [
            [
                name,
                h["state"],
                str(h["workers"]),
                str(h["handled_last_minute"]),
                str(h["failed_last_minute"]),
                str(h["dead_letters"]),
                str(h["backlog"]),
                _age(h["backlog_oldest_age_seconds"]) if h["backlog"] else "-",
            ]
            for name, h in snapshot["handlers"].items()
        ],
    )
    for name, h in snapshot["handlers"].items():
        if h["unheeded"]:
            lines.append(
                f"note: {name} is paused, but no live worker runs it (`infobip-inbound handlers resume {name}`)"
            )
    workers = snapshot["workers"]
    lines += ["", f"Workers: {workers['alive']} alive, {workers['busy']} busy"]
    for group in snapshot["worker_groups"]:
        runs = "; ".join(f"{queue}: {', '.join(names) or '-'}" for queue, names in sorted(group["handlers"].items()))
        lines.append(f"  {group['processes']} process(es) of release {group['release']} run {runs}")
    poller = snapshot["poller"]
    if poller["leader"]:
        lines.append(
            f"Poller: {poller['leader']} holds the lease (token {poller['fencing_token']}, "
            f"{poller['lease_ttl_seconds']}s left); last drain {_when(poller['last_drain_at'])}"
        )
    else:
        lines.append(f"Poller: no lease held; last drain {_when(poller['last_drain_at'])}")
    for status in poller["pollers"]:
        for name, account in status.get("accounts", {}).items():
            problem = account.get("stopped") or account.get("last_error") or "ok"
            lines.append(
                f"  {status.get('owner')} account {name}: pending {account.get('pending')}, "
                f"pulled {account.get('pulled')}, {problem}"
            )
    # Campaign ids are bulk ids as sent and a poller's last error quotes an answer: made safe for a terminal.
    return "\n".join(safe(line) for line in lines) + "\n"
