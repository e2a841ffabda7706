"""Backtest: calibrated on what was known at a cutoff and simulated forward from the pipeline open then, the
simulator predicts the months after it within its bands; without the open pipeline it cannot."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import sim
import sim.crm
from sim.analysis import fit

ROOT = Path(__file__).resolve().parents[1]
MAVEN = next((p / "data/maven-crm/sales_pipeline.csv" for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared")
              if (p / "data/maven-crm/sales_pipeline.csv").exists()), None)


@pytest.fixture(scope="module")
def generated():
    """A generated export with known truth: the baseline team over 15 months."""
    return sim.simulate(sim.Scenario.preset("baseline").replace(days=455), seed=8).tables


@pytest.fixture(scope="module")
def forward(generated):
    return sim.backtest(generated, "2026-10-01", n=20, seed=2, executor="serial", progress=False)


def test_backtest_on_a_generated_export_falls_inside_its_bands(generated, forward):
    bt = forward
    assert list(bt.months.index) == ["2026-10", "2026-11", "2026-12", "2027-01", "2027-02", "2027-03"]
    # a right simulator puts each month inside its 95% band 95% of the time: 3 or fewer of 6 would happen
    # less than 1 time in 100 (binomial); the totals over the six months are inside too
    assert bt.months["inside"].sum() >= 4
    # the first months close mostly deals already open at the cutoff: inside only if they were carried over
    assert bt.months.loc[["2026-10", "2026-11"], "inside"].all(), bt.months
    assert bt.totals.loc[["deals won", "bookings", "win rate"], "inside"].all(), bt.totals
    known = fit.as_of(generated, pd.Timestamp("2026-10-01"))
    assert bt.open_deals == (known.opportunities["outcome"] == "open").sum() > 50
    assert (bt.runs["resumed"] == bt.open_deals).all()          # every open deal was put back in its stage
    assert (bt.runs["total/deals won"] > 0).all()
    assert bt.scenario.calibration.window.end == pd.Timestamp("2026-10-01")   # learned from before the cutoff only
    fig = bt.figure()
    assert fig.axes[0].get_title().startswith("Backtest from 2026-10-01")


def test_without_the_open_pipeline_the_first_months_are_missed(generated, forward):
    """Ablation: starting from an empty pipeline, the first months' bookings are far below what happened,
    since the deals that close then were already open at the cutoff."""
    empty = sim.backtest(generated, "2026-10-01", n=20, seed=2, carry_pipeline=False, calibrated=forward.scenario,
                         executor="serial", progress=False)
    first = ["2026-10", "2026-11"]
    assert (empty.months.loc[first, "band_high"] < empty.months.loc[first, "actual"]).all()
    assert forward.months.loc[first, "inside"].all()
    assert empty.share_inside < forward.share_inside
    assert empty.totals.loc["bookings", "simulated"] < forward.totals.loc["bookings", "simulated"]


def test_a_cutoff_outside_the_export_is_refused_with_the_dates_that_work(generated):
    with pytest.raises(ValueError, match="choose a date from 2026-04-01"):
        sim.backtest(generated, "2026-02-01", n=2)


@pytest.mark.skipif(MAVEN is None, reason="the public maven-crm data set is not available here")
def test_backtest_on_the_maven_export_resumes_its_open_pipeline():
    data = sim.crm.load(MAVEN, mapping=ROOT / "examples/maven-crm.yaml")
    bt = sim.backtest(data.tables, "2017-07-01", n=6, seed=1, executor="serial", progress=False)
    assert list(bt.months.index) == ["2017-07", "2017-08", "2017-09", "2017-10", "2017-11", "2017-12"]
    assert bt.scenario.stage_names == [fit.ONE_STAGE]
    assert any("no stage history" in n for n in bt.scenario.calibration.notes)
    opp = data.tables.opportunities
    created = opp["created_at"] < pd.Timestamp("2017-07-01")
    still_open = created & ~(opp["closed_at"] < pd.Timestamp("2017-07-01"))
    assert bt.open_deals == still_open.sum()
    assert (bt.runs["resumed"] == bt.open_deals).all()
    assert 0.0 <= bt.share_inside <= 1.0 and len(bt.summary()) == 4
