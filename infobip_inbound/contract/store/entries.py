"""Inbox entries: how one queued response is stored in an inbox (and batch) list.

An entry is the UserResponse JSON, after a header line when there is anything to carry with it: the id of the
request that brought it, then (when tracing is on, infobip_inbound.runtime.tracing) a space and the W3C trace
context of the span that queued it, `traceparent` and, if any, a space and `tracestate`. A request id holds no
space or newline (the receiver takes only plain tokens), compact JSON holds no raw newline, and an entry with
no header starts with `{`. Entries written before trace contexts were carried (`request id` newline JSON, or
JSON alone) read as before; a reader that predates them takes the trace context as part of the request id.
"""

from __future__ import annotations


def encode_entry(response_json: bytes, request_id: str | None, trace: str | None = None) -> bytes:
    """An inbox entry: the UserResponse JSON, after the request id (if any), the trace context (if any) and a
    newline."""
    if trace:
        return b"%s %s\n%s" % ((request_id or "").encode(), trace.encode(), response_json)
    return request_id.encode() + b"\n" + response_json if request_id else response_json


def decode_entry(entry: bytes) -> tuple[str | None, bytes]:
    """(request id or None, UserResponse JSON) of an inbox entry."""
    if entry.startswith(b"{"):
        return None, entry
    header, _, response_json = entry.partition(b"\n")
    return header.partition(b" ")[0].decode() or None, response_json


def decode_traced_entry(entry: bytes) -> tuple[str | None, str | None, bytes]:
    """(request id or None, trace context or None, UserResponse JSON) of an inbox entry."""
    if entry.startswith(b"{"):
        return None, None, entry
    header, _, response_json = entry.partition(b"\n")
    request_id, _, trace = header.partition(b" ")
    return request_id.decode() or None, trace.decode() or None, response_json
