"""Request body reading with the size limit enforced while streaming, not after buffering it all."""

from __future__ import annotations

from starlette.types import Receive


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit


class ClientGone(Exception):
    """The client disconnected before sending the whole body."""


async def read_limited(receive: Receive, limit: int, declared_length: bytes | None) -> bytes:
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# The Content-Types named in the metric of forwards read whatever their type (anything else counts as "other"),
# so a caller cannot grow its label set.
NAMED_TYPES = frozenset(
    {
        "text/plain",
        "text/json",
        "application/x-json",
        "application/octet-stream",
        "application/x-www-form-urlencoded",
        "application/javascript",
        "text/javascript",
    }
)
MISSING, OTHER = "missing", "other"
TYPE_LABELS = (MISSING, OTHER, *sorted(NAMED_TYPES))


def unusual_type(content_type: bytes | None) -> str | None:
    """None for a JSON Content-Type (the usual one, any charset); else the label the request is counted
    under: its media type when named above, "missing" or "other". The body is read as JSON either way:
    Infobip does not document the forward's headers, and a refusal would be retried until it gives up."""
    if not content_type:
        return MISSING
    media_type = content_type.split(b";", 1)[0].strip().lower()
    if media_type == b"application/json" or (media_type.startswith(b"application/") and media_type.endswith(b"+json")):
        return None
    label = media_type.decode("latin-1")
    return label if label in NAMED_TYPES else OTHER
