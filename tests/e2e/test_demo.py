"""`make demo` against a running stack: it seeds a class, prints the boards, and doubles nothing when run again."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from devstack.demo import learners
from devstack.processes import REPO_ROOT
from tests.e2e.conftest import Stack, get_json
from tests.factories import token

pytestmark = pytest.mark.e2e

LEARNERS = 8  # the demo's default is 30; a smaller class keeps the suite quick and plays every step


def demo(stack: Stack) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "devstack.demo", "--learners", str(LEARNERS)],
        env={**stack.env, **{f"{name.upper()}_URL": url for name, url in stack.urls.items()}},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return done.stdout


def totals(stack: Stack) -> dict[str, tuple[int, int]]:
    """Return every demo learner's balance and entry count."""
    found: dict[str, tuple[int, int]] = {}
    for learner in learners(LEARNERS):
        body: dict[str, Any] = get_json(
            stack.url("leaderboards", f"/users/{learner.user_id}/points"), token(learner.user_id)
        )
        found[learner.user_id] = (body["total"], body["count"])
    return found


def test_the_demo_seeds_a_class_and_a_second_run_doubles_nothing(stack: Stack) -> None:
    shown = demo(stack)
    first = totals(stack)
    assert sum(total for total, _ in first.values()) > 0, shown
    assert "Everyone (" in shown and "demo-learner-01:" in shown and "resource.shared" in shown, shown
    stack.wait_for_empty_queue("leaderboards")
    again = demo(stack)
    stack.wait_for_empty_queue("leaderboards")
    assert totals(stack) == first
    assert again == shown
