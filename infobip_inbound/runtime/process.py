"""Child-process hygiene: children of `dev` and of the tests die with their parent, even on SIGKILL."""

from __future__ import annotations

import ctypes
import gc
import signal
import subprocess
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: ask Linux to SIGTERM this child when its parent dies (a no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def stop(process: subprocess.Popen[bytes], kill: bool = False, timeout: float = 15.0) -> int:
    """SIGTERM (or SIGKILL) a child and reap it; SIGKILL if it has not exited within `timeout`."""
    if process.poll() is None:
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def settle_heap() -> None:
    """For a serving process (receiver, worker), once set up: what is alive now lives as long as the process,
    so keep it out of every future collection, and collect the young generation less often. The hot paths make
    much short-lived garbage and few cycles; default thresholds put collection pauses in their p99."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
