"""One run scored under several inclusion rules (`ForecastPolicy.also_score`, `replicate_forecasts`): a rule changes
the call written, never a deal, so the calls a run writes for another rule are the very ones a run with that rule
writes, and notebook 05's grid gives the same numbers from two runs per market and seed instead of five."""

import functools

import pandas as pd
import pytest

import sim
from sim.experiments import forecast_discipline as fd
from sim.experiments.replicate import RUNS

BASE = sim.Scenario.preset("baseline").replace(days=300)


def forecasting(inclusion: str, **more) -> sim.Scenario:
    return BASE.replace({"policies.forecast": {"cadence": "monthly", "inclusion": inclusion, **more}})


@pytest.mark.parametrize("rule", ["evidence_gated", "rep_judgement"])
def test_the_calls_written_for_another_rule_are_those_a_run_with_that_rule_writes(rule):
    shared = sim.simulate(forecasting("stage_weighted", also_score=[rule]), seed=4).tables
    alone = sim.simulate(forecasting(rule), seed=4).tables
    calls = shared.forecast_calls
    written = calls[calls["rule"] == rule].drop(columns="rule").reset_index(drop=True)
    assert len(written) > 0 and set(calls["rule"]) == {rule}
    pd.testing.assert_frame_equal(written, alone.forecasts, check_exact=True, check_dtype=False)
    # and the run's own call and its deals are untouched by scoring another rule
    plain = sim.simulate(forecasting("stage_weighted"), seed=4).tables
    pd.testing.assert_frame_equal(shared.forecasts, plain.forecasts, check_exact=True)
    pd.testing.assert_frame_equal(shared.opportunities, plain.opportunities, check_exact=True)


def test_a_grid_of_habits_gives_replicate_eachs_rows_exactly_with_fewer_runs():
    habits = dict(fd.HABITS)
    scenarios = fd.forecast_scenarios(BASE, habits, {"calm": 0.0, "volatile": 0.5})
    scenarios = dict(sorted(scenarios.items(), key=lambda kv: kv[0][::-1]))   # a group's members apart: order kept
    scenarios["volatile · judgement, plain dates"] = forecasting("rep_judgement", optimism=0.0).replace(
        {"market.volatility": 0.5})                                      # another optimism: a run of its own
    measure = functools.partial(fd.forecast_measure, horizons=(0, 4))
    was, RUNS.on = RUNS.on, True           # the process's run cache counts the runs made
    try:
        RUNS.clear()
        got = fd.replicate_forecasts(scenarios, 2, seed=9, measure=measure, executor="serial", progress=False)
        runs_shared = RUNS.made
        RUNS.clear()
        want = sim.replicate_each(scenarios, 2, seed=9, measure=measure, executor="serial", progress=False)
        runs_each = RUNS.made
    finally:
        RUNS.on = was
        RUNS.clear()
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert (runs_shared, runs_each) == (2 * 5, 2 * 11)       # 2 markets x 2 cadences, + 1; against 11 scenarios


def test_scoring_the_calls_own_rule_again_is_refused_with_the_field_named():
    with pytest.raises(sim.ScenarioError, match="also_score"):
        forecasting("evidence_gated", also_score=["evidence_gated"])


def test_replicate_forecasts_runs_a_fixed_number_of_replications():
    with pytest.raises(ValueError, match="n: 'auto'"):
        fd.replicate_forecasts({"a": forecasting("stage_weighted")}, "auto")
