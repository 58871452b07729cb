"""End-to-end fixtures: after every test against the real fleet, whatever it did, check the
fleet-wide invariants on what actually happened — I2 (no lead received the same reply twice
unless two different turns sent it) and I3 (turns of one conversation never overlapped).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.helpers import assert_no_duplicate_delivery, assert_turns_never_overlap


@pytest.fixture(autouse=True)
def fleet_invariants(e2e, settings, evolution) -> Iterator[None]:
    yield
    assert_no_duplicate_delivery(settings, evolution)
    assert_turns_never_overlap(settings)
