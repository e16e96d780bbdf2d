"""Inbox entries: how one queued response is stored in an inbox (and batch) list."""

from __future__ import annotations


def encode_entry(response_json: bytes, request_id: str | None) -> bytes:
    """An inbox entry: the UserResponse JSON, after the id of the request that brought it (if any) and a
    newline. Compact JSON holds no raw newline, and an entry without a request id starts with `{`."""
    return request_id.encode() + b"\n" + response_json if request_id else response_json


def decode_entry(entry: bytes) -> tuple[str | None, bytes]:
    """(request id or None, UserResponse JSON) of an inbox entry."""
    if entry.startswith(b"{"):
        return None, entry
    request_id, _, response_json = entry.partition(b"\n")
    return request_id.decode(), response_json
