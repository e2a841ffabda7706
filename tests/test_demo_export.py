"""The demo export (`playbook synth --scenario demo`, what `make demo` reports on) carries what every principle's
export half reads: written by synth, loaded back, and each analysis run on it (the analyses, not the notebooks)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import evaluation, incentives, meetings, orbits, second_place, trials
from sim.core.schema import MissingColumns
from sim.crm import load, synth

SEED = 7


@pytest.fixture(scope="module")
def demo():
    scenario = sim.Scenario.preset("demo")
    return scenario, sim.simulate(scenario, seed=SEED)


@pytest.fixture(scope="module")
def salesforce(demo, tmp_path_factory):
    """The demo export as `make demo` writes it: Salesforce, 12 rows broken on purpose, the reps' quota."""
    scenario, run = demo
    folder = tmp_path_factory.mktemp("salesforce")
    synth.write_export(run.tables, "salesforce", folder, seed=SEED, broken=12, quota=scenario.reps.quota)
    return folder, load(folder, crm="salesforce")


@pytest.fixture(scope="module")
def hubspot(demo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hubspot")
    synth.write_export(demo[1].tables, "hubspot", folder, seed=SEED)
    return load(folder, crm="hubspot")


def test_the_demo_preset_runs_every_policy_an_export_shows_over_two_years(demo):
    scenario, run = demo
    assert scenario.days == 730 and scenario.reps.quota > 0
    assert {"listening", "first_meeting", "bugs", "trials", "nurture"} <= set(scenario.policies.model_dump(exclude_none=True))
    kinds = set(run.tables.activities["kind"])
    assert {"meeting", "video", "lunch", "bug", "trial", "support"} <= kinds
    m = run.metrics
    assert m["winback_deals"] > 0 and m["bug_losses"] > 0 and m["trials"] > 0 and m["first_meetings_held"] > 0


def test_another_policys_loss_reason_stands_when_nurture_names_losses(demo):
    """Nurture gives every other loss a reason and perhaps a competitor; a bug's or a no-show's loss keeps its own."""
    _, run = demo
    opp = run.tables.opportunities
    lost = opp[opp["outcome"] == "lost"]
    assert lost["loss_reason"].notna().all()
    bug = lost[lost["loss_reason"] == "bug in evaluation"]
    assert len(bug) == run.metrics["bug_losses"] > 0 and bug["competitor"].isna().all()
    assert (lost["loss_reason"] == "no first meeting").sum() > 0
    assert set(lost.loc[lost["competitor"].notna(), "loss_reason"]) == {"competitor"}


def test_every_file_accounts_for_its_rows_and_only_broken_deals_lose_rows(salesforce):
    folder, res = salesforce
    files = res.summary()["files"]
    assert {"opportunities.csv", "opportunity_history.csv", "Event.csv", "Task.csv", "call_recordings.csv"} <= set(files)
    for name, f in files.items():
        assert f["rows_read"] == f["rows_loaded"] + f["rows_rejected"], name
        assert f["rows_rejected"] == int((res.rejected["file"] == name).sum()), name
    damages = json.loads((folder / "broken_rows.json").read_text())
    assert len(damages) == 12 + 2
    for d in damages:
        table = res.rejected if d["expect"] == "rejected" else res.repaired
        assert len(table[(table["file"] == d["file"]) & (table["row"] == d["row"])]) >= 1, d
    # rows of the other files are rejected only as rows of a deal that did not load
    others = res.rejected[res.rejected["file"] != "opportunities.csv"]
    assert len(others) and set(others["reason"]) == {"opportunity not among the loaded opportunities"}
    assert res.repaired["file"].eq("opportunities.csv").all()


def test_activities_come_back_as_the_simulator_wrote_them(demo, tmp_path):
    """Without damage, every simulated activity is loaded with its kind, and bugs with their result."""
    _, run = demo
    synth.write_export(run.tables, "salesforce", tmp_path, seed=SEED)
    res = load(tmp_path, crm="salesforce")
    assert res.rejected.empty and res.repaired.empty
    acts, truth = res.tables.activities, run.tables.activities
    recorded = truth.loc[truth["customer_talk_share"].notna(), "kind"].value_counts()   # also a call-recording row
    expected = truth["kind"].value_counts().add(recorded, fill_value=0).astype(int)
    pd.testing.assert_series_equal(acts["kind"].value_counts().sort_index(), expected.sort_index(), check_names=False)
    pd.testing.assert_series_equal(acts.loc[acts["kind"] == "bug", "outcome"].value_counts(),
                                   truth.loc[truth["kind"] == "bug", "outcome"].value_counts())
    minutes = acts.loc[acts["kind"] == "trial", "duration_minutes"].sort_values().to_numpy()
    np.testing.assert_allclose(minutes, truth.loc[truth["kind"] == "trial", "duration_minutes"].sort_values(), atol=0.5)


def test_meetings_03_and_08(salesforce):
    tables = salesforce[1].tables
    talk = meetings.win_rate_by_rep_talk(tables)
    assert talk["deals"].sum() > 500
    assert meetings.win_rate_by_questions(tables)["deals"].sum() > 500
    assert meetings.silent_attendees(tables).attrs["silent_meeting_share"] > 0
    assert meetings.win_rate_by_first_meeting_attendees(tables)["deals"].sum() > 500
    formats = meetings.first_meeting_formats(tables)
    assert set(formats.index) == {"lunch", "meeting", "video"}
    assert ((formats["show_rate"] > 0.5) & (formats["show_rate"] < 1)).all()


def test_bugs_06(salesforce):
    tables = salesforce[1].tables
    reasons = evaluation.loss_reasons(tables.opportunities)
    assert reasons.loc["Bug in evaluation", "bug"] and reasons["lost"].sum() == (tables.opportunities["outcome"] == "lost").sum()
    stage = evaluation.bug_stage(tables)
    labels = synth.stage_labels(sim.Scenario.preset("demo").stage_names, "salesforce")
    assert stage == labels["Evaluation of Options"]             # found from the history, whatever the CRM calls it
    by_stage = evaluation.stage_of_loss(tables.opportunities)
    assert by_stage["lost_to_bugs"].idxmax() == stage and by_stage["lost_to_bugs"].sum() > 0
    assert {"lost", "stalled"} <= set(evaluation.bug_outcomes(tables.activities).index)
    impact = evaluation.bug_impact(tables, stage)
    assert impact["deals"].min() > 50 and impact.loc["met a bug", "win_rate"] < impact.loc["no bug", "win_rate"]


def test_trials_10_read_conversion_from_the_deal(demo, salesforce):
    tables = salesforce[1].tables
    assert trials.trials(tables.activities)["converted"].isna().all()     # the tasks hold no result of their own...
    rows = trials.trials(tables.activities, opportunities=tables.opportunities)   # ...the deal has it
    assert rows.attrs["from_deal"] == rows["converted"].notna().sum() > 300
    simulated = trials.trials(demo[1].tables.activities)         # the simulator writes the same rule into its rows
    assert rows["converted"].sum() <= simulated["converted"].sum() and \
        simulated["converted"].sum() - rows["converted"].sum() <= 12      # at most the broken rows' deals differ
    assert len(trials.conversion(rows, "engagement_hours")) == 4
    supported = trials.with_support(rows, tables.activities)
    assert supported["support_hours"].nunique() > 1


def test_second_place_09(salesforce):
    opp = salesforce[1].tables.opportunities
    rivals = second_place.losses_by_competitor(opp)
    assert {"Rival A", "Rival B", "Rival C"} <= set(rivals.index)
    back = second_place.win_backs(opp)
    assert back["summary"].loc[0, "won_back"] >= 1 and back["by_competitor"] is not None
    assert opp["closed_at"].max() - opp["created_at"].min() > pd.Timedelta(days=600)   # two years


def test_incentives_07_use_the_exports_quota_column(demo, salesforce):
    scenario = demo[0]
    opp = salesforce[1].tables.opportunities
    assert incentives.quota_spec(opp) == "quota" and incentives.quota_spec(opp, 5.0) == 5.0
    att = incentives.owner_attainment(opp, incentives.quota_spec(opp), "quarter")
    full = att[(att["period_end"] - att["period_start"]).dt.days >= 90]
    np.testing.assert_allclose(full["quota"], scenario.reps.quota / 4, rtol=0.02)
    assert incentives.quota_spec(opp.drop(columns="quota")) is None


def test_orbits_02_export_half(salesforce):
    ref = orbits.referral_performance(salesforce[1].tables.opportunities)
    assert ref.loc["referral", "closed"] > 0 and ref["win_rate"].notna().all()
    assert salesforce[1].tables.orbit_history.empty      # a CRM export has no orbits: the notebook shows a simulated run


def test_hubspot_and_pipedrive(demo, hubspot, tmp_path):
    tables = hubspot.tables
    assert hubspot.rejected.empty and {"hubspot meetings", "hubspot tasks", "call recording"} <= \
        {f.kind.removeprefix("activities (").rstrip(")") for f in hubspot.files}
    assert len(meetings.first_meeting_formats(tables)) == 3
    assert {"lost", "stalled"} <= set(evaluation.bug_outcomes(tables.activities).index)
    assert trials.trials(tables.activities, opportunities=tables.opportunities)["converted"].notna().sum() > 300
    assert len(second_place.losses_by_competitor(tables.opportunities)) == 4
    assert evaluation.loss_reasons(tables.opportunities)["bug"].any()
    with pytest.raises(MissingColumns):                  # HubSpot gives no stage history here: no bug impact
        evaluation.bug_impact(tables)
    synth.write_export(demo[1].tables, "pipedrive", tmp_path, seed=SEED)
    opp = load(tmp_path, crm="pipedrive").tables.opportunities
    assert len(second_place.losses_by_competitor(opp)) == 4 and evaluation.loss_reasons(opp)["bug"].any()


def test_trial_outcome_from_the_deal_only_where_the_row_says_nothing():
    acts = pd.DataFrame({"opportunity_id": ["a", "b", "c", "d"], "kind": ["trial", "Trial", "pilot", "meeting"],
                         "outcome": [None, "not converted", "held", None], "duration_minutes": [60, 120, 30, 45]})
    deals = pd.DataFrame({"opportunity_id": ["a", "b", "c", "d"], "outcome": ["won", "won", "open", "lost"]})
    rows = trials.trials(acts, opportunities=deals)
    assert rows["converted"].tolist()[:2] == [1.0, 0.0] and np.isnan(rows["converted"].iloc[2])
    assert rows.attrs["from_deal"] == 1
    assert len(trials.trials(acts.drop(columns="outcome"), opportunities=deals)) == 3
    with pytest.raises(MissingColumns, match="outcome"):
        trials.trials(acts.drop(columns="outcome"))


def test_bug_stage_falls_back_without_bug_rows(demo):
    tables = demo[1].tables
    assert evaluation.bug_stage(tables) == "Evaluation of Options"
    none = sim.Tables(opportunities=tables.opportunities, stage_history=tables.stage_history,
                      activities=tables.activities[tables.activities["kind"] != "bug"])
    assert evaluation.bug_stage(none, default="Demo") == "Demo"
    with pytest.raises(MissingColumns, match="kind 'bug'"):
        evaluation.bug_stage(none)


def test_the_report_without_an_export_uses_the_demo_preset(tmp_path):
    from sim.cli import _demo_export

    folder = _demo_export(tmp_path / "demo-export", 0)
    assert {"opportunities.csv", "opportunity_history.csv", "Event.csv", "Task.csv", "call_recordings.csv",
            "broken_rows.json"} <= {p.name for p in folder.iterdir()}
    header = (folder / "opportunities.csv").read_text().splitlines()[0]
    assert all(col in header for col in ("Loss Reason", "Main Competitor(s)", "Owner Annual Quota"))
