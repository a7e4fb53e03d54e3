"""Unit-test fixtures: the challenges service's storage in memory, at a fixed moment."""

from __future__ import annotations

import pytest

from tests.builders import NOW
from tests.fakes.challenges import FakeWorld


@pytest.fixture
def world() -> FakeWorld:
    """Return empty in-memory repositories of the challenges service, their clock at `NOW`."""
    return FakeWorld(NOW)
