"""Validation: the scenario that made an export passes against it; a deliberately wrong one fails, on the
figures it gets wrong."""

from __future__ import annotations

import pytest

import sim


@pytest.fixture(scope="module")
def made():
    base = sim.Scenario.preset("baseline")
    return base, sim.simulate(base, seed=21).tables


def test_the_scenario_that_made_the_export_passes(made):
    base, tables = made
    check = sim.validate(base, tables, n=20, seed=3, executor="serial", progress=False)
    assert check.passed, check.summary()
    assert list(check.measures.index) == ["win rate", "cycle time", "time per stage", "deal size", "bookings per month"]
    assert check.measures.loc["bookings per month", "figures"] == 12
    assert set(check.markov.index) == {"win probability", "expected cycle days"}
    fig = check.figure()
    assert len(fig.axes) == 6 and all(ax.get_title() for ax in fig.axes)
    assert check.figure("bookings per month").axes[0].get_ylabel().endswith("[USD]")


def test_a_wrong_scenario_fails_on_what_it_gets_wrong(made):
    base, tables = made
    wrong = base.replace({"stages.1.loss_chance": 0.6, "stages.1.median_days": 50.0})
    check = sim.validate(wrong, tables, n=20, seed=3, executor="serial", progress=False)
    assert not check.passed
    failed = set(check.measures.index[~check.measures["passed"]])
    assert {"win rate", "cycle time"} <= failed
    assert "deal size" not in failed                        # sizes were not touched
    assert check.figures.loc["win_rate", "export"] > check.figures.loc["win_rate", "band_high"]
    stage = check.figures.loc["stage/Evaluation of Options"]
    assert stage["export"] < stage["band_low"]              # the stage made twice as slow is flagged on its own
    markov = check.markov.loc["expected cycle days"]         # the chain's days to a win, against the runs'
    assert not markov["agree"] and markov["simulated"] > markov["closed_form"]
    gap = f"{markov['simulated'] - markov['closed_form']:,.1f}"
    assert f"DISAGREE: the simulation's is {gap} higher than the export's stage chain gives" in "\n".join(check.summary())


def test_validate_refuses_a_scenario_with_other_stages(made):
    _, tables = made
    other = sim.Scenario.preset("baseline").replace(stages=[{"name": "Talk", "median_days": 20.0}])
    with pytest.raises(ValueError, match="not stages of the scenario"):
        sim.validate(other, tables, n=2)
