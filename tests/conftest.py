"""Shared test fixtures: small, fast scenarios built from the presets."""

from __future__ import annotations

import pytest

import sim


@pytest.fixture(scope="session")
def baseline() -> sim.Scenario:
    return sim.Scenario.preset("baseline")


@pytest.fixture(scope="session")
def short_baseline(baseline) -> sim.Scenario:
    """Four months of the baseline: the same dynamics, a quarter of the run time."""
    return baseline.replace(days=120, name="short")
