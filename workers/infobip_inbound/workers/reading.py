"""Reading a batch's entries as this release hands them to handlers, whichever release queued them.

A rolling upgrade runs two releases side by side: an entry written by a newer receiver is read as this
version (infobip_inbound.contract.model.read_response), warned about once per process and version, and counted
(`infobip_inbound_newer_responses_read_total`). An entry no release-tolerant reading can make into a
UserResponse fails alone, not its batch: it is dead-lettered at once with the handler name empty (a
`dlq retry` runs it through the routes, once a release that reads it is deployed).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass

import orjson

from infobip_inbound.contract.model import SCHEMA_VERSION, UnreadableResponse, UserResponse, read_response
from infobip_inbound.contract.store import dead_letter
from infobip_inbound.contract.store.entries import decode_traced_entry
from infobip_inbound.contract.store.handled import pair_id
from infobip_inbound.runtime.metrics import NEWER_RESPONSES, UNREADABLE_RESPONSES
from infobip_inbound.workers.failed_pairs import FailedPair

log = logging.getLogger("infobip_inbound.worker")

ROUTED = dead_letter.ROUTED

_warned: set[int] = set()
_warned_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Entry:
    raw: bytes
    request_id: str | None
    trace: str | None
    response: UserResponse


def read_entries(raws: list[bytes]) -> tuple[list[Entry], list[FailedPair]]:
    """(the entries handed to handlers, those that cannot be read: dead-lettered as permanent failures)."""
    entries: list[Entry] = []
    unreadable: list[FailedPair] = []
    for raw in raws:
        request_id, trace, document = decode_traced_entry(raw)
        try:
            read = read_response(document)
        except UnreadableResponse as exc:
            unreadable.append(_unreadable(raw, document, exc))
            continue
        if read.newer:
            _newer(read.written_version, read.unknown)
        entries.append(Entry(raw, request_id, trace, read.response))
    return entries, unreadable


def _newer(version: int, unknown: tuple[str, ...]) -> None:
    NEWER_RESPONSES.labels(str(version)).inc()
    with _warned_lock:
        first = version not in _warned
        _warned.add(version)
    if first:
        log.warning(
            "responses queued by a newer release are read as this release's version: finish the upgrade of the workers",
            extra={"schema_version": version, "read_as": SCHEMA_VERSION, "unknown_fields": list(unknown)},
        )


def _unreadable(raw: bytes, document: bytes | str, exc: UnreadableResponse) -> FailedPair:
    UNREADABLE_RESPONSES.inc()
    try:
        data = orjson.loads(document)
    except orjson.JSONDecodeError:
        data = None
    fields = data if isinstance(data, dict) else {}
    message_id = fields.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        message_id = "unreadable-" + hashlib.blake2b(raw, digest_size=8).hexdigest()
    application_code = fields.get("application_code")
    log.warning("a queued response cannot be read; dead-lettered", extra={"message_id": message_id, "error": str(exc)})
    return FailedPair(
        pair_id(message_id, ROUTED),
        message_id,
        application_code if isinstance(application_code, str) else "",
        ROUTED,
        raw,
        f"UnreadableResponse: {exc}",
        "",
        permanent=True,
    )
