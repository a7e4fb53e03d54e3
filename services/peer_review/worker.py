"""Worker entrypoint: `python -m services.peer_review.worker` consumes the `peer_review` queue."""

import sys

from services.peer_review.bootstrap import periodic_tasks, process_dependencies
from services.peer_review.settings import load_settings
from shared.process import worker_main


def main() -> int:
    """Run the worker."""
    return worker_main(load_settings=load_settings, dependencies=process_dependencies, tasks=periodic_tasks)


if __name__ == "__main__":
    sys.exit(main())
