"""Handlers of the archive tests, referenced as `tests.archive_handlers:<name>`."""

from __future__ import annotations

import os
from pathlib import Path

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.workers.handler_api import PermanentFailure


def picky(response: UserResponse) -> None:
    """Fails the first try of `retry-*` messages (a mark file per message in TEST_MARKS_DIR records it) and
    every try of `dead-*` ones, for good."""
    if response.message_id.startswith("dead-"):
        raise PermanentFailure(f"picky never takes {response.message_id}")
    if response.message_id.startswith("retry-"):
        mark = Path(os.environ["TEST_MARKS_DIR"]) / response.message_id
        if not mark.exists():
            mark.touch()
            raise RuntimeError(f"picky is not ready for {response.message_id}")


def late(response: UserResponse) -> None:
    """The handler added after the messages arrived: one line per call in TEST_LATE_LOG."""
    with open(os.environ["TEST_LATE_LOG"], "a") as log:
        log.write(response.message_id + "\n")
