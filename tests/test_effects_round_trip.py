"""Policy effects fitted from an export hold the values that made it: simulate, export, load, calibrate.

The demo preset over one year (about 600 deals, 8 reps) with every policy an export can show: first meetings
in three formats, recorded calls, bugs met in evaluation, free trials and losses to named competitors. Each
seed is written as a Salesforce export (opportunities, history, events, tasks, call recordings), loaded back
and calibrated (the stage fit by simulation is skipped: it fits the stages, not the policies). Every fitted
policy setting's 95% interval must hold the true value: 90% of them over all settings and seeds, and
at least 16 of 20 seeds for each setting (see the test for why not 18 of 20 each).
"""

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import effects
from sim.crm.synth import write_export
from sim.experiments.policy_fit import PolicyFit

SEEDS = range(20)
DAYS = 365


@pytest.fixture(scope="module")
def rounds(tmp_path_factory):
    truth = sim.Scenario.preset("demo").replace(days=DAYS)
    out = []
    for seed in SEEDS:
        folder = tmp_path_factory.mktemp(f"export{seed}")
        write_export(sim.simulate(truth, seed=seed).tables, "salesforce", folder, seed=seed, quota=truth.reps.quota)
        tables = sim.crm.load(folder, crm="salesforce").tables
        out.append((tables, sim.calibrate(tables, refine=False, seed=seed)))
    return truth, out


def test_every_fitted_policy_setting_holds_the_truth(rounds):
    truth, runs = rounds
    # the export cannot show testing hours: the fit keeps 0, so its bug chance is the residual one the buyers met
    implied = {"policies.bugs.bug_chance": truth.policies.bugs.chance}
    frames = []
    for tables, fitted in runs:
        got = fitted.calibration.against(fitted, truth, implied)
        frames.append(got[got.index.str.startswith("policies.")])
    both = pd.concat(frames)
    coverage = both.groupby(level=0)["inside"].mean()
    expected = {"policies.listening.rep_talk_share", "policies.listening.questions",
                "policies.first_meeting.formats.video.show_rate", "policies.first_meeting.formats.our_office.show_rate",
                "policies.first_meeting.formats.lunch_at_their_office.show_rate", "policies.first_meeting.mix.video",
                "policies.first_meeting.mix.our_office", "policies.first_meeting.mix.lunch_at_their_office",
                "policies.bugs.bug_chance", "policies.bugs.fatal_share", "policies.trials.engagement"}
    assert expected <= set(coverage.index)
    assert both.groupby(level=0).size().min() == len(SEEDS)
    # 95% intervals: across all settings and seeds at least 90% hold the truth, and no setting misses more than
    # 4 of 20 (a setting held by 17 of 20 is what chance gives one setting in 13; 15 of 20 happens once in
    # 400 for an honest interval, so it flags a biased one)
    assert both["inside"].mean() >= 0.9, coverage
    low = coverage[coverage < 0.8]
    assert low.empty, f"intervals missing the truth too often:\n{low}"


def test_competitor_shares_hold_the_truth(rounds):
    truth, runs = rounds
    rivals = truth.policies.nurture.competitors
    total = sum(c.share for c in rivals)
    for c in rivals:
        hits = [next(e for e in fitted.calibration.effects["nurture"] if e.key == f"nurture.competitor_share.{c.name}")
                .covers(c.share / total) for _, fitted in runs]
        assert np.mean(hits) >= 0.9, c.name


def test_fitted_settings_are_marked_fitted_with_rows_and_the_rest_say_where_they_come_from(rounds):
    _, runs = rounds
    table = runs[0][1].calibration.table()
    policies = table[table.index.str.startswith("policies.")]
    assert set(policies["provenance"]) == {"fitted", "literature", "assumed"}
    fitted = policies[policies["provenance"] == "fitted"]
    for key in ("listening", "first_meeting", "bugs", "trials"):
        assert fitted.index.str.startswith(f"policies.{key}.").any(), key
    show = table.loc["policies.first_meeting.formats.video.show_rate"]
    assert show["n"] > 100 and show["ci_low"] < show["value"] < show["ci_high"] and "activities" in show["source"]
    assert table.loc["policies.listening.discovery_rate", "provenance"] == "assumed"
    assert table.loc["policies.listening.discovery_rate", "range_high"] == pytest.approx(2.8)
    assert table.loc["policies.listening.rep_talk_share", "provenance"] == "fitted"
    yaml = runs[0][1].to_yaml()
    assert "discovery_rate: 1.4  # assumed" in yaml
    assert "investment_effect: 0.9  # literature: Arkes & Blumer" in yaml


def test_without_activity_columns_no_policy_is_switched_on():
    truth = sim.Scenario.preset("demo").replace(days=200)
    tables = sim.simulate(truth, seed=0).tables
    bare = sim.Tables(opportunities=tables.opportunities, stage_history=tables.stage_history)
    assert "nurture" in effects.measure(bare) and set(effects.measure(bare)) == {"nurture"}
    fit = PolicyFit(bare)
    data = fit.fit({"policies": {}, "lead_sources": []})
    assert set(data["policies"]) == {"nurture"}
    no_rivals = sim.Tables(opportunities=tables.opportunities.drop(columns="competitor"))
    assert effects.measure(no_rivals) == {}
