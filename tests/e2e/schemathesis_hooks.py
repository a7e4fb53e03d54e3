"""schemathesis hooks for the Connective services (loaded through tests/e2e/schemathesis.toml).

Who calls depends on the operation: a teacher of cohorts 7b and c1 (the documents' examples name 7b)
creates and manages challenges and allocations; a learner of those cohorts submits, shares, reviews
and reads boards; a service token makes awards and classroom-screen tokens. The tokens come from the
environment (test_schemathesis.py mints them).

Each request the fuzzer sends with a well-formed `Idempotency-Key` gets a key of its own. The fuzzer draws
keys from a small space, so two different requests would often share one, and the services rightly refuse
a key reused with a different request (422); that rule is tested on its own (tests/integration). Malformed
keys are left as generated, so the 400 they get is still checked.
"""

from __future__ import annotations

import itertools
import os
import re
from typing import Any

import schemathesis

LEARNER_PATHS = re.compile(r"^/(submissions|resources|assignments|reviews|users|leaderboards|rules)")
SERVICE_PATHS = re.compile(r"^/(awards|leaderboards/\{board\}/view-tokens)")
LEARNER_WRITES = {("POST", "/challenges/{challenge_id}/submissions")}
KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_sequence = itertools.count(1)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    """Give a well-formed Idempotency-Key a value no other request of the run carries."""
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and KEY.match(key):
        headers["Idempotency-Key"] = f"fuzz-{next(_sequence)}"
        case.headers = headers


def caller(method: str, path: str) -> str:
    """Return which token an operation is called with: teacher, learner or service."""
    if SERVICE_PATHS.match(path):
        return "service"
    if (method, path) in LEARNER_WRITES or (LEARNER_PATHS.match(path) and method in ("GET", "POST", "PUT")):
        return "learner"
    return "teacher"


@schemathesis.auth()
class ConnectiveTokens:
    """Bearer tokens per operation (the fuzzer still checks that leaving the token out answers 401)."""

    def get(self, case: Any, context: Any) -> str:
        """Return the token of the caller this operation is fuzzed as."""
        name = caller(case.operation.method.upper(), case.operation.path)
        return os.environ[f"CONNECTIVE_{name.upper()}_TOKEN"]

    def set(self, case: Any, data: str, context: Any) -> None:
        """Put the token in the Authorization header."""
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
