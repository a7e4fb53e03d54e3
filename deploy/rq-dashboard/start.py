"""Start rq-dashboard only when its HTTP basic-auth credentials are set (the `ops` compose profile).

rq-dashboard switches basic auth off when RQ_DASHBOARD_USERNAME is empty, and lets an empty password
in when RQ_DASHBOARD_PASSWORD is empty: a missing .env entry would open the queues to anyone who
reaches the port. This refuses to start instead, naming what is missing, and otherwise becomes
`rq-dashboard` with the arguments it was given. rq-dashboard reads both variables itself, so the
credentials never appear on a command line.
"""

from __future__ import annotations

import os
import sys

REQUIRED = ("RQ_DASHBOARD_USERNAME", "RQ_DASHBOARD_PASSWORD")
# sysexits.h: a configuration error.
EX_CONFIG = 78


def missing_credentials(environ: dict[str, str]) -> list[str]:
    """Return the credential variables that are unset, empty or blank."""
    return [name for name in REQUIRED if not environ.get(name, "").strip()]


def main(arguments: list[str]) -> int:
    """Check the credentials, then replace this process with rq-dashboard."""
    missing = missing_credentials(dict(os.environ))
    if missing:
        print(
            f"rq-dashboard: refusing to start without {' and '.join(missing)} (its basic auth would be "
            "off or take an empty password): set both in .env, see .env.example",
            file=sys.stderr,
        )
        return EX_CONFIG
    os.execvp("rq-dashboard", ["rq-dashboard", *arguments])  # noqa: S606, S607 - the image's own program


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
