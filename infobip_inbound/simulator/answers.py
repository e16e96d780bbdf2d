"""How the simulator answers: JSON bodies, and Infobip's error body (one owner for its shape)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def infobip_error(
    status: int, message_id: str, text: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    exception: dict[str, Any] = {"messageId": message_id, "text": text, **extra}
    return json_response(status, {"requestError": {"serviceException": exception}}, headers)
