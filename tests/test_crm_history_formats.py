"""The history formats CRMs really export (issue 27): HubSpot's wide "Date entered/exited" columns in both naming
generations and with pipelines sharing a stage label, Salesforce's Opportunity Field History, Pipedrive's last
stage change. Each loads with its stage history, and rows read = rows loaded + rows rejected."""

from __future__ import annotations

import json

from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.crm import load
from sim.crm.synth import export_ids, export_labels, write_export

HAND_MADE = Path(__file__).parent / "fixtures" / "history" / "hubspot_two_pipelines.csv"


@pytest.fixture(scope="module")
def run():
    return sim.simulate(sim.Scenario.preset("baseline"), seed=4).tables


def accounted(res):
    s = res.summary()
    assert s["rows_read"] == s["rows_loaded"] + s["rows_rejected"]
    assert s["rows_rejected"] == len(res.rejected)
    return s


def simulated_stays(run, crm: str, latest_only: bool) -> set[tuple]:
    """The run's stays as the export names them: (export id, stage label, entered to the minute)."""
    ids = dict(zip(run.opportunities["opportunity_id"], export_ids(run.opportunities, crm)))
    labels = export_labels(run, crm)
    h = run.stage_history.sort_values("entered_at", kind="stable")
    if latest_only:      # HubSpot keeps one date per stage
        h = h.drop_duplicates(["opportunity_id", "stage"], keep="last")
    return {(ids[o], labels[s], t.floor("min")) for o, s, t in zip(h["opportunity_id"], h["stage"], h["entered_at"])}


def loaded_stays(res) -> set[tuple]:
    h = res.tables.stage_history
    return {(o, s, t.floor("min")) for o, s, t in zip(h["opportunity_id"], h["stage"], h["entered_at"])}


@pytest.mark.parametrize("layout", ["wide", "hs_v2"])
def test_hubspot_wide_columns_in_both_namings_give_the_simulated_stage_history(tmp_path, run, layout):
    write_export(run, "hubspot", tmp_path, seed=4, broken=5, history=layout)
    header = pd.read_csv(tmp_path / "deals.csv", nrows=0, encoding="utf-8-sig").columns
    assert any(h.startswith('Date entered "' if layout == "wide" else "hs_v2_date_entered_") for h in header)
    res = load(tmp_path, crm="hubspot")
    accounted(res)
    kept = set(res.tables.opportunities["opportunity_id"])
    want = {s for s in simulated_stays(run, "hubspot", latest_only=True) if s[0] in kept}
    assert loaded_stays(res) == want and len(want) > 500
    hist = res.tables.stage_history
    last = hist.sort_values("entered_at").groupby("opportunity_id").tail(1).set_index("opportunity_id")
    opp = res.tables.opportunities.set_index("opportunity_id")
    closed = opp[opp["outcome"] != "open"].index.intersection(last.index)
    assert (last.loc[closed, "exited_at"] == opp.loc[closed, "closed_at"]).all()   # the last stay ends at the close
    assert any(f"({'label' if layout == 'wide' else 'hs_v2'} names)" in n for n in res.summary()["notes"])


def test_the_older_hubspot_naming_is_left_out_when_a_newer_one_is_there(tmp_path, run):
    write_export(run, "hubspot", tmp_path, seed=4, history="hs_v2")
    frame = pd.read_csv(tmp_path / "deals.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    for col in [c for c in frame.columns if c.startswith("hs_v2_date_")]:
        frame[col.replace("hs_v2_date_", "hs_date_")] = "2020-01-01 00:00"     # a stale older generation
    frame.to_csv(tmp_path / "deals.csv", index=False)
    res = load(tmp_path, crm="hubspot")
    assert res.tables.stage_history["entered_at"].min() >= pd.Timestamp("2026-01-01")
    assert any("older naming left out" in n for n in res.summary()["notes"])


def test_two_pipelines_sharing_a_stage_label_are_told_apart():
    res = load(HAND_MADE, crm="hubspot")
    s = accounted(res)
    assert (s["rows_read"], s["rows_loaded"]) == (7, 6)
    assert res.rejected["reason"].tolist() == ["no opportunity id"]
    assert res.repaired["value"].tolist() == ["last Tuesday"]
    stays = res.tables.stage_history.set_index(["opportunity_id", "stage"])
    assert set(stays.index) == {
        ("101", "Qualified To Buy (Sales Pipeline)"), ("101", "Contract Sent"),
        ("102", "Qualified To Buy (Sales Pipeline)"), ("102", "Contract Sent"),
        ("103", "Qualified To Buy (Renewals)"),
        ("104", "Qualified To Buy (Renewals)"), ("104", "Renewal Review"),
        ("105", "Qualified To Buy (Renewals)"), ("105", "Renewal Review")}
    assert stays.loc[("102", "Contract Sent"), "exited_at"] == pd.Timestamp("2026-02-15 16:00")
    assert pd.isna(stays.loc[("103", "Qualified To Buy (Renewals)"), "exited_at"])            # still there
    assert stays.loc[("101", "Qualified To Buy (Sales Pipeline)"), "exited_at"] == pd.Timestamp("2026-01-20 10:00")
    stage = res.tables.opportunities.set_index("opportunity_id")["stage"]
    assert stage["103"] == "Qualified To Buy (Renewals)" and stage["107"] == "Qualified To Buy (Sales Pipeline)"
    assert stage["101"] == "Contract Sent"


def test_one_pipeline_chosen_rejects_the_others_deals_with_that_reason(capsys):
    res = load(HAND_MADE, crm="hubspot", pipeline="renewals")
    s = accounted(res)
    assert (s["rows_read"], s["rows_loaded"], s["rows_rejected"]) == (7, 3, 4)
    assert sorted(res.tables.opportunities["opportunity_id"]) == ["103", "104", "105"]
    assert (res.rejected["reason"] == "in another pipeline (--pipeline renewals)").sum() == 3
    assert set(res.tables.stage_history["stage"]) == {"Qualified To Buy", "Renewal Review"}
    assert main(["check", str(HAND_MADE), "--crm", "hubspot", "--pipeline", "Upsell"]) == 2
    assert "its pipelines are Renewals, Sales Pipeline" in capsys.readouterr().err


def test_salesforce_field_history_gives_the_stage_history_and_the_amount_edits(tmp_path, run):
    write_export(run, "salesforce", tmp_path, seed=4, broken=5, history="field")
    assert (tmp_path / "opportunity_field_history.csv").exists() and not (tmp_path / "opportunity_history.csv").exists()
    res = load(tmp_path)
    s = accounted(res)
    assert s["files"]["opportunity_field_history.csv"]["kind"] == "field history"
    kept = set(res.tables.opportunities["opportunity_id"])
    want = {x for x in simulated_stays(run, "salesforce", latest_only=False) if x[0] in kept}
    assert loaded_stays(res) == want
    edits = res.tables.field_edits
    assert {"stage", "amount", "created"} <= set(edits["field"])
    won = res.tables.opportunities.query("outcome == 'won'").set_index("opportunity_id")
    amount = edits[edits["field"] == "amount"].set_index("opportunity_id")
    assert len(amount) and amount.index.isin(won.index).all()
    assert (amount["new_value"].astype(float) == won.loc[amount.index, "amount"].round(2)).all()
    first = res.tables.opportunities.set_index("opportunity_id")["first_estimate"]
    assert (first[amount.index] == amount["old_value"].astype(float)).all()   # the first estimate, from the edit


def test_a_hand_made_field_history_with_close_date_slips_and_bad_rows(tmp_path):
    (tmp_path / "opportunities.csv").write_text(
        "Opportunity ID,Stage,Amount,Created Date,Close Date\n"
        "A1,Negotiation/Review,$5000.00,1/5/2026,3/31/2026\n"
        "A2,Closed Won,$9000.00,1/8/2026,2/20/2026\n")
    (tmp_path / "field_history.csv").write_text(
        "Opportunity ID,Field / Event,Old Value,New Value,Edited By,Edit Date\n"
        "A1,Created.,,,Ann,1/5/2026 9:00 AM\n"
        "A1,Stage,Qualification,Needs Analysis,Ann,1/12/2026 10:00 AM\n"
        "A1,Close Date,2/28/2026,3/31/2026,Ann,2/1/2026 11:00 AM\n"
        "A1,Stage,Needs Analysis,Negotiation/Review,Ann,2/3/2026 3:00 PM\n"
        "A1,Forecast Category,Pipeline,Commit,Ann,2/3/2026 3:01 PM\n"
        "A2,Stage,Qualification,Closed Won,Bob,2/20/2026 4:00 PM\n"
        "A2,Amount,8000,9000,Bob,2/20/2026 4:00 PM\n"
        "ZZ,Stage,Qualification,Needs Analysis,Bob,2/1/2026 9:00 AM\n"
        ",Stage,Qualification,Needs Analysis,Bob,2/1/2026 9:00 AM\n"
        "A1,Amount,5000,5500,Ann,someday\n")
    res = load(tmp_path, crm="salesforce")
    s = accounted(res)
    assert s["files"]["field_history.csv"]["rows_read"] == 10 and s["files"]["field_history.csv"]["rows_loaded"] == 7
    assert sorted(res.rejected["reason"]) == ["no opportunity id", "no readable edit date",
                                             "opportunity not among the loaded opportunities"]
    h = res.tables.stage_history.set_index(["opportunity_id", "stage"])
    assert h.loc[("A1", "Qualification"), "exited_at"] == pd.Timestamp("2026-01-12 10:00")
    assert h.loc[("A1", "Needs Analysis"), "exited_at"] == pd.Timestamp("2026-02-03 15:00")
    assert pd.isna(h.loc[("A1", "Negotiation/Review"), "exited_at"])
    assert h.loc[("A2", "Qualification"), "exited_at"] == pd.Timestamp("2026-02-20 16:00")   # won then
    edits = res.tables.field_edits.set_index("field")
    assert edits.loc["close_date", ["old_value", "new_value"]].tolist() == ["2/28/2026", "3/31/2026"]
    assert edits.loc["forecast_category", "new_value"] == "Commit"
    assert res.tables.opportunities.set_index("opportunity_id")["first_estimate"].to_dict() == {"A1": 5000.0, "A2": 8000.0}


def test_pipedrive_last_stage_change_is_kept_as_when_the_current_stage_began(tmp_path, run):
    write_export(run, "pipedrive", tmp_path, seed=4)
    res = load(tmp_path, crm="pipedrive")
    accounted(res)
    opp = res.tables.opportunities.set_index("opportunity_id")
    ids = dict(zip(run.opportunities["opportunity_id"], export_ids(run.opportunities, "pipedrive")))
    last = run.stage_history.groupby("opportunity_id")["entered_at"].max().rename(index=ids)
    assert (opp["stage_entered_at"] == last.reindex(opp.index).dt.floor("s")).all()
    assert res.tables.stage_history.empty
    assert any("stage_entered_at" in n for n in res.summary()["notes"])


def test_synth_refuses_a_history_layout_of_another_crm(tmp_path, capsys):
    assert main(["synth", "--crm", "pipedrive", "--history", "wide", "--out", str(tmp_path)]) == 2
    assert "--history wide is a hubspot layout" in capsys.readouterr().err


def test_the_report_runs_on_the_history_formats(tmp_path, run, light_forecast):
    """The report (a fixture notebook that loads the export the way the principle notebooks do) on a HubSpot
    export with two pipelines and on a Salesforce export whose history is the field history."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    (nbs / "01-runs.ipynb").write_bytes((Path(__file__).parent / "fixtures" / "report_notebooks" / "01-runs.ipynb").read_bytes())
    write_export(run, "salesforce", tmp_path / "sf", seed=4, history="field")
    out = tmp_path / "r-salesforce"
    assert main(["report", str(tmp_path / "sf"), "--crm", "salesforce", "-o", str(out), "--notebooks", str(nbs),
                 "--no-progress", "--no-store"]) == 0
    assert "won the most deals" in (out / "index.html").read_text()
    out = tmp_path / "r-one-pipeline"          # two pipelines; the notebooks see the deals of the one asked for only
    assert main(["report", str(HAND_MADE), "--crm", "hubspot", "--pipeline", "Sales Pipeline", "-o", str(out),
                 "--notebooks", str(nbs), "--no-progress", "--no-store"]) == 0
    (card,) = json.loads((out / "report.json").read_text())["cards"]
    assert card["headline"] == "Bob won the most deals: 1 of 1 won deals (3 opportunities)"
    # one pipeline of three deals has no lost deal: the card says so instead of headlining the count (the gate)
    assert card["gated"].startswith("Not measured on this export: No deal is marked lost")
    assert "No deal is marked lost" in (out / "index.html").read_text()
