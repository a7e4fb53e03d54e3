"""The `connective` command: development tokens and operators' tools of the services.

connective token --user alice --role teacher --cohorts 7b
connective leaderboards rebuild
connective leaderboards replay --rules new-rules.toml [--apply]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from services.leaderboards import cli as leaderboards_cli
from shared import cli as shared_cli


def main(argv: Sequence[str] | None = None) -> int:
    """Run a `connective` command."""
    arguments = list(argv if argv is not None else sys.argv[1:])
    if arguments[:1] == ["token"]:
        return shared_cli.main(arguments)
    parser = argparse.ArgumentParser(
        prog="connective", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("token", help="print a development token signed with JWT_SECRET (see --help of it)")
    leaderboards_cli.add_commands(commands)
    parsed = parser.parse_args(arguments)
    return int(parsed.run(parsed))


if __name__ == "__main__":
    sys.exit(main())
