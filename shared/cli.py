"""Developer commands: `python -m shared.cli token --user alice --role teacher --cohorts c1`."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta

from shared.auth import mint_token
from shared.contracts.auth import ROLES


def _split(values: list[str]) -> list[str]:
    return [item for value in values for item in value.split(",") if item]


def main(argv: list[str] | None = None) -> int:
    """Run a developer command."""
    parser = argparse.ArgumentParser(prog="python -m shared.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a development token signed with JWT_SECRET")
    token.add_argument("--user", required=True, help="the user id (sub claim)")
    token.add_argument("--role", action="append", default=[], help="role(s): learner, teacher, admin, service")
    token.add_argument("--cohorts", action="append", default=[], help="cohort ids, comma separated")
    token.add_argument("--hours", type=float, default=12.0, help="lifetime in hours")
    arguments = parser.parse_args(argv)

    secret = os.environ.get("JWT_SECRET", "").strip()
    if not secret:
        print("JWT_SECRET is not set: tokens are signed with the services' development secret", file=sys.stderr)
        return 2
    roles = _split(arguments.role) or ["learner"]
    unknown = sorted(set(roles) - ROLES)
    if unknown:
        print(f"unknown role(s): {', '.join(unknown)}; choose from {', '.join(sorted(ROLES))}", file=sys.stderr)
        return 2
    print(
        mint_token(
            secret,
            arguments.user,
            roles,
            cohorts=_split(arguments.cohorts),
            lifetime=timedelta(hours=arguments.hours),
            issuer=os.environ.get("JWT_ISSUER") or None,
            audience=os.environ.get("JWT_AUDIENCE") or None,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
