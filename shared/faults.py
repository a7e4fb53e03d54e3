"""Crash points: let tests kill a real process at an exact line to prove nothing is lost or doubled."""

from __future__ import annotations

import os

CRASH_VARIABLE = "CONNECTIVE_CRASH_AT"


def crash_point(name: str) -> None:
    """Exit the process at once, as SIGKILL would, when CONNECTIVE_CRASH_AT names this point."""
    # Read on every call so a test can arm a point in a process it starts; unset, this is one dict lookup.
    if os.environ.get(CRASH_VARIABLE) == name:
        os._exit(137)
