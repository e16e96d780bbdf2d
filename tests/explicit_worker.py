"""A worker started with explicit settings, as an application embedding the workers would start one.

    python -m tests.explicit_worker JSONL_PATH PROCESSES HANDLER...

The settings are the environment's, with `jsonl.path` and `default_handlers` given here instead.
"""

from __future__ import annotations

import sys

from infobip_inbound.contract.settings import load_settings
from infobip_inbound.runtime.logs import configure_logging
from infobip_inbound.workers.worker import run_worker


def main() -> None:
    jsonl_path, processes, handlers = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    settings = load_settings(jsonl={"path": jsonl_path}, default_handlers=handlers)
    configure_logging(settings)
    run_worker(settings, processes=processes)


if __name__ == "__main__":
    main()
