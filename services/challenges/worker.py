"""Worker entrypoint: `python -m services.challenges.worker` consumes the `challenges` queue."""

import sys

from services.challenges.bootstrap import periodic_tasks, process_dependencies
from services.challenges.settings import load_settings
from shared.process import worker_main


def main() -> int:
    """Run the worker."""
    return worker_main(load_settings=load_settings, dependencies=process_dependencies, tasks=periodic_tasks)


if __name__ == "__main__":
    sys.exit(main())
