"""Where the processes of one role share their Prometheus samples (prometheus-client multiprocess mode).

A role may run several processes: the receiver under `serve --workers N` (uvicorn), the worker under
`worker --processes N` (RQ's pool forks). Whichever process answers a scrape must report the sum over all
of them, so every role runs prometheus-client in multiprocess mode: each process writes its samples to
files in PROMETHEUS_MULTIPROC_DIR, and /metrics reads them all. The directory must be chosen before
prometheus_client is imported, so the role's command calls `prepare()` first; this module imports nothing
that would import it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare() -> Path:
    """Give this process tree an empty samples directory: PROMETHEUS_MULTIPROC_DIR (emptied), else a new one.

    Samples of a previous run are removed: a restarted role starts its counters from zero, as Prometheus
    expects of a restarted target.
    """
    configured = os.environ.get(ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        return path
    path = Path(tempfile.mkdtemp(prefix="infobip-inbound-metrics-"))
    os.environ[ENV] = str(path)
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:  # forked children inherit atexit handlers; only the creator removes it
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
    return path
