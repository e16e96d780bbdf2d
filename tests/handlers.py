"""Handlers used by the tests, referenced as `tests.handlers:<name>`."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from infobip_inbound.contract.model import UserResponse

calls: list[tuple[str, str]] = []
failing: set[str] = set()


def record(response: UserResponse) -> None:
    calls.append(("record", response.message_id))


def flaky(response: UserResponse) -> None:
    """Fails for the message ids in `failing`."""
    calls.append(("flaky", response.message_id))
    if response.message_id in failing:
        raise RuntimeError(f"flaky refuses {response.message_id}")


async def async_record(response: UserResponse) -> None:
    calls.append(("async_record", response.message_id))


def fail_until_file(response: UserResponse) -> None:
    """Fails until the file named by TEST_RELEASE_FILE exists; appends each success to TEST_FLAKY_LOG."""
    if not Path(os.environ["TEST_RELEASE_FILE"]).exists():
        raise RuntimeError("not yet")
    with open(os.environ["TEST_FLAKY_LOG"], "a") as log:
        log.write(response.message_id + "\n")


def crash_once(response: UserResponse) -> None:
    """SIGKILLs its own worker process on TEST_CRASH_ON (once: TEST_CRASH_MARK records it); logs each call."""
    mark = Path(os.environ["TEST_CRASH_MARK"])
    if response.message_id == os.environ["TEST_CRASH_ON"] and not mark.exists():
        mark.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    with open(os.environ["TEST_CALL_LOG"], "a") as log:
        log.write(f"crash_once {response.message_id}\n")


def always_fails(response: UserResponse) -> None:
    raise ValueError(f"cannot take {response.message_id}")


def always_fail(response: UserResponse) -> None:
    raise RuntimeError(f"always_fail refuses {response.message_id}")


def wait_for_file(response: UserResponse) -> None:
    """Holds the job (bounded) until the file named by TEST_RELEASE_FILE exists: a job in the started state."""
    import time

    release = Path(os.environ["TEST_RELEASE_FILE"])
    for _ in range(1200):
        if release.exists():
            return
        time.sleep(0.05)


def hold_then_record(response: UserResponse) -> None:
    """Appends the message id to TEST_CALL_LOG, first waiting (bounded) while the file named by TEST_HOLD_FILE
    exists: workers held behind the traffic."""
    import time

    hold = Path(os.environ["TEST_HOLD_FILE"])
    for _ in range(1200):
        if not hold.exists():
            break
        time.sleep(0.05)
    with open(os.environ["TEST_CALL_LOG"], "a") as log:
        log.write(response.message_id + "\n")


def log_then_wait(response: UserResponse) -> None:
    """Appends the message id to TEST_CALL_LOG as the call starts, then waits (bounded) for the file named by
    TEST_RELEASE_FILE: a call in flight that the test can see."""
    import time

    with open(os.environ["TEST_CALL_LOG"], "a") as log:
        log.write(response.message_id + "\n")
    release = Path(os.environ["TEST_RELEASE_FILE"])
    for _ in range(1200):
        if release.exists():
            return
        time.sleep(0.05)
