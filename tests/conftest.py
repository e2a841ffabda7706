"""Shared test fixtures: small, fast scenarios built from the presets."""

from __future__ import annotations

import os

import pytest

import shapes
import sim
from sim.crm import load


@pytest.fixture(scope="session")
def baseline() -> sim.Scenario:
    return sim.Scenario.preset("baseline")


@pytest.fixture(scope="session")
def short_baseline(baseline) -> sim.Scenario:
    """Four months of the baseline: the same dynamics, a quarter of the run time."""
    return baseline.replace(days=120, name="short")


@pytest.fixture(autouse=True, scope="session")
def _store_of_exports_outside_the_repository(tmp_path_factory):
    """`playbook report` and `ingest` keep exports in runs/history.duckdb by default: in tests, a temporary one."""
    os.environ["PLAYBOOK_STORE"] = str(tmp_path_factory.mktemp("store") / "history.duckdb")


@pytest.fixture(scope="session")
def funnel(tmp_path_factory):
    """The tables of a lead funnel whose unconverted leads stay open, with mostly-zero BRL amounts (tests/shapes.py)."""
    csv, mapping = shapes.lead_funnel(tmp_path_factory.mktemp("funnel"))
    return load(csv, mapping=mapping).tables


@pytest.fixture(scope="session")
def orders(tmp_path_factory):
    """The tables of order lines created and closed the same day, with no owner (tests/shapes.py)."""
    csv, mapping = shapes.order_lines(tmp_path_factory.mktemp("orders"))
    return load(csv, mapping=mapping).tables


# The Forecast card of `playbook report` on an export (sim.report.forecast_section) forecasts and backtests the
# export's pipeline: 6 cutoffs of 40 simulated runs each, about two thirds of a report on a small export. Tests of
# what a report does with its notebooks, folders, store and pages use a light one (the same code on fewer cutoffs
# and runs, which the forecast notebook is then given too); tests/test_pipeline_forecast.py tests the card itself.
LIGHT_FORECAST = {"cutoffs": 2, "draws": 3, "runs": 1}


def _light_forecast(mp: pytest.MonkeyPatch) -> None:
    from sim.report import build

    mp.setattr(build, "FORECAST_SETTINGS", LIGHT_FORECAST)     # the Forecast card's, and the forecast notebook's


@pytest.fixture
def light_forecast():
    """This test's reports on an export carry a Forecast card made of LIGHT_FORECAST's cutoffs and runs."""
    with pytest.MonkeyPatch.context() as mp:
        _light_forecast(mp)
        yield


@pytest.fixture(scope="module")
def light_forecast_module():
    """light_forecast for a module-scoped fixture (a report built once and read by several tests)."""
    with pytest.MonkeyPatch.context() as mp:
        _light_forecast(mp)
        yield
