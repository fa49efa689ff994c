"""Fixtures for the gateway tests; the test double itself lives in gateway_doubles.py."""

from __future__ import annotations

import pytest
from gateway_doubles import ScriptedUpstream


@pytest.fixture
def upstream():
    double = ScriptedUpstream()
    yield double
    double.close()
