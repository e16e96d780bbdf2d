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
import sys
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
_PREFIX = "infobip-inbound-metrics-"


def prepare() -> Path:
    """Give this process tree an empty samples directory: PROMETHEUS_MULTIPROC_DIR (emptied), else a new one.

    Samples of a previous run are removed: a restarted role starts its counters from zero, as Prometheus
    expects of a restarted target.
    """
    if "prometheus_client.values" in sys.modules:
        raise RuntimeError("prometheus_client was imported before the metrics directory was chosen")
    configured = os.environ.get(ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        return path
    _remove_orphans()
    owner = os.getpid()
    path = Path(tempfile.gettempdir()) / f"{_PREFIX}{owner}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700)
    os.environ[ENV] = str(path)

    def remove() -> None:
        if os.getpid() == owner:  # forked children inherit atexit handlers; only the creator removes it
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
    return path


def _remove_orphans() -> None:
    """Directories of earlier runs whose process is gone (killed before its exit handler ran)."""
    for path in Path(tempfile.gettempdir()).glob(_PREFIX + "*"):
        pid = path.name.removeprefix(_PREFIX)
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # someone else's live process
