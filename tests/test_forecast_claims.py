"""The claims of principle 05, checked in the simulator with replications and 95% CIs on fixed seeds.

Two years per run (the first half-year is warm-up), the baseline team, a calm market (volatility 0)
and a volatile one (0.5: lead rate and win chances move month to month, budgets get cut mid-deal).
"""

import numpy as np
import pandas as pd
import pytest

import sim
from sim.experiments.forecast_discipline import forecast_measure
from sim.core.stats import mean_ci, paired_diff_ci

N = 16
MARKETS = {"calm": 0.0, "volatile": 0.5}
RULES = {
    "weekly evidence": ("weekly", "evidence_gated"),
    "quarterly stage": ("quarterly", "stage_weighted"),
    "weekly judgement": ("weekly", "rep_judgement"),
}


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    base = sim.Scenario.preset("baseline").replace(days=730)
    scenarios = {
        f"{market} {rule}": base.replace({"market.volatility": vol,
                                          "policies.forecast": {"cadence": cadence, "inclusion": inclusion}})
        for market, vol in MARKETS.items() for rule, (cadence, inclusion) in RULES.items()
    }
    return sim.replicate_each(scenarios, n=N, seed=2026, measure=forecast_measure, progress=False)


def column(runs: pd.DataFrame, scenario: str, metric: str) -> np.ndarray:
    return runs[runs["scenario"] == scenario].sort_values("replication")[metric].to_numpy()


def gap(runs, market: str, metric: str = "mape_4w") -> np.ndarray:
    """Per replication: weekly evidence-gated minus quarterly stage-weighted (negative = weekly better)."""
    return column(runs, f"{market} weekly evidence", metric) - column(runs, f"{market} quarterly stage", metric)


def test_volatile_market_weekly_evidence_gated_beats_quarterly_stage_weighted_four_weeks_out(runs):
    for metric in ("abs_error_4w", "mape_4w"):
        mean, lo, hi = mean_ci(gap(runs, "volatile", metric))
        assert hi < 0, f"{metric}: weekly evidence-gated minus quarterly stage-weighted = {mean:.3g} [{lo:.3g}, {hi:.3g}]"


def test_the_gap_is_smaller_in_a_calm_market(runs):
    calm, volatile = gap(runs, "calm"), gap(runs, "volatile")
    mean, lo, hi = mean_ci(np.abs(calm) - np.abs(volatile))
    assert hi < 0, f"|calm gap| - |volatile gap| in MAPE points = {mean:.3f} [{lo:.3f}, {hi:.3f}]"


@pytest.mark.parametrize("market", MARKETS)
def test_rep_judgement_forecasts_are_biased_upwards(runs, market):
    mean, lo, hi = mean_ci(column(runs, f"{market} weekly judgement", "bias_4w"))
    assert lo > 0, f"{market}: signed % bias of rep judgement 4 weeks out = {mean:.3f} [{lo:.3f}, {hi:.3f}]"


def test_weekly_reviews_cost_selling_time_and_bookings():
    """All else equal, on a team whose time is the constraint (6 reps for the baseline's lead flow)."""
    busy = sim.Scenario.preset("baseline").replace(reps={"count": 6})
    runs = sim.replicate_each({c: busy.replace({"policies.forecast": {"cadence": c}}) for c in ("weekly", "quarterly")},
                              n=20, seed=2026, progress=False)
    hours = column(runs, "weekly", "forecast_review_hours") - column(runs, "quarterly", "forecast_review_hours")
    assert hours.min() > 6 * 2.0 * 47   # 6 reps x 2 h x (53 - 4) more reviews, less the last ones still queued
    mean, lo, hi = paired_diff_ci(column(runs, "weekly", "bookings"), column(runs, "quarterly", "bookings"))
    assert hi < 0, f"bookings weekly - quarterly = {mean:,.0f} [{lo:,.0f}, {hi:,.0f}]"
