"""Worker entrypoint: `python -m services.leaderboards.worker` consumes the `leaderboards` queue."""

import sys

from services.leaderboards.bootstrap import periodic_tasks, process_dependencies
from services.leaderboards.settings import load_settings
from shared.process import worker_main


def main() -> int:
    """Run the worker."""
    return worker_main(load_settings=load_settings, dependencies=process_dependencies, tasks=periodic_tasks)


if __name__ == "__main__":
    sys.exit(main())
