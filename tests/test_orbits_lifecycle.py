"""Account-lifecycle exports (principle 02's export half): accounts, subscriptions, churn events and tickets
become `orbit_history` and `tickets` by a stated rule; bad rows are listed, never dropped silently."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sim.analysis import orbits
from sim.crm import ExportError
from sim.crm.lifecycle import ORBITS, public_data, read_lifecycle

RAVENSTACK = public_data("ravenstack")


def write_export(folder: Path, subscriptions: str | None = None, churn: str | None = None, tickets: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts.csv").write_text(
        "account_id,account_name,industry,country,signup_date,referral_source,plan_tier,seats,is_trial,churn_flag\n"
        "A1,One,FinTech,US,2024-01-01,partner,Pro,5,TRUE,FALSE\n"
        "A2,Two,EdTech,UK,2024-01-05,ads,Basic,3,FALSE,TRUE\n")
    (folder / "subscriptions.csv").write_text(subscriptions or (
        "subscription_id,account_id,start_date,end_date,plan_tier,seats,mrr_amount,arr_amount,is_trial,upgrade_flag,"
        "downgrade_flag,churn_flag,billing_frequency,auto_renew_flag\n"
        "S1,A1,2024-01-02,,Pro,5,0,0,TRUE,FALSE,FALSE,FALSE,monthly,TRUE\n"
        "S2,A1,2024-02-01,,Pro,5,100,1200,FALSE,FALSE,FALSE,FALSE,monthly,TRUE\n"
        "S3,A1,2024-04-01,,Enterprise,9,500,6000,FALSE,TRUE,FALSE,FALSE,monthly,TRUE\n"
        "S4,A2,2024-01-10,,Basic,3,30,360,FALSE,FALSE,FALSE,FALSE,monthly,TRUE\n"
        "S5,A2,2024-06-01,,Basic,3,30,360,FALSE,FALSE,FALSE,FALSE,monthly,TRUE\n"))
    (folder / "churn_events.csv").write_text(churn or (
        "churn_event_id,account_id,churn_date,reason_code,refund_amount_usd,preceding_upgrade_flag,"
        "preceding_downgrade_flag,is_reactivation,feedback_text\n"
        "C1,A2,2024-03-01,competitor,0,FALSE,FALSE,FALSE,switched to competitor\n"))
    (folder / "support_tickets.csv").write_text(tickets or (
        "ticket_id,account_id,submitted_at,closed_at,resolution_time_hours,priority,first_response_time_minutes,"
        "satisfaction_score,escalation_flag\n"
        "T1,A2,2024-02-01,2024-02-02 3:00,27,high,600,,FALSE\n"
        "T2,A1,2024-02-03,2024-02-03,5,low,20,5,FALSE\n"))
    return folder


def test_the_lifecycle_rule_builds_the_stays(tmp_path):
    res = read_lifecycle(write_export(tmp_path / "ok"))
    assert res.rejected.empty
    h = res.tables.orbit_history
    a1 = h[h["account_id"] == "A1"]
    assert a1["orbit"].tolist() == ["Trial", "Customer", "Expanded"]
    assert a1["entered_at"].tolist() == list(pd.to_datetime(["2024-01-02", "2024-02-01", "2024-04-01"]))
    a2 = h[h["account_id"] == "A2"]
    assert a2["orbit"].tolist() == ["Customer", "Churned", "Reactivated"]
    assert a2["stimulus"].tolist()[1] == "churn: competitor"
    t = res.tables.tickets.set_index("ticket_id")
    assert t.loc["T1", "closed_at"] == pd.Timestamp("2024-02-02 03:00") and t.loc["T1", "first_response_minutes"] == 600
    assert pd.isna(t.loc["T1", "satisfaction"]) and t.loc["T2", "satisfaction"] == 5
    assert res.tables.accounts.set_index("account_id")["orbit"].to_dict() == {"A1": "Expanded", "A2": "Reactivated"}
    reactivated = orbits.time_between(h, "Churned", "Reactivated")
    assert reactivated["reached"] == 1 and reactivated["median_days"] == 92


def test_bad_rows_are_listed_with_file_row_and_column(tmp_path):
    subs = ("subscription_id,account_id,start_date,end_date,plan_tier,seats,mrr_amount,arr_amount,is_trial,upgrade_flag,"
            "downgrade_flag,churn_flag,billing_frequency,auto_renew_flag\n"
            "S1,A1,2024-01-02,,Pro,5,0,0,TRUE,FALSE,FALSE,FALSE,monthly,TRUE\n"
            "S2,A1,not a date,,Pro,5,100,1200,FALSE,FALSE,FALSE,FALSE,monthly,TRUE\n"
            "S3,A1,2024-04-01,,Pro,5,100,1200,maybe,FALSE,FALSE,FALSE,monthly,TRUE\n")
    res = read_lifecycle(write_export(tmp_path / "bad", subscriptions=subs))
    rows = res.rejected.set_index("row")
    assert rows.loc[3, "file"] == "subscriptions.csv" and rows.loc[3, "column"] == "start_date"
    assert rows.loc[3, "reason"] == "not a date" and rows.loc[4, "column"] == "is_trial"
    assert res.tables.orbit_history.query("account_id == 'A1'")["orbit"].tolist() == ["Trial"]   # the rest was unreadable


def test_a_missing_file_or_column_is_named(tmp_path):
    folder = write_export(tmp_path / "gone")
    (folder / "churn_events.csv").unlink()
    with pytest.raises(ExportError, match="churn_events.csv: file not found"):
        read_lifecycle(folder)
    folder = write_export(tmp_path / "nocol", churn="churn_event_id,account_id,when\nC1,A2,2024-03-01\n")
    with pytest.raises(ExportError, match="churn_events.csv: column\\(s\\) churn_date, reason_code not found"):
        read_lifecycle(folder)
    with pytest.raises(ExportError, match="not a folder"):
        read_lifecycle(tmp_path / "nowhere")


@pytest.mark.skipif(RAVENSTACK is None, reason="the public RavenStack data set is not available here")
def test_ravenstack_reads_whole():
    res = read_lifecycle(RAVENSTACK)
    assert res.counts["accounts"] == 500 and res.counts["subscriptions"] == 5000 and res.counts["tickets"] == 2000
    assert res.rejected.empty
    h = res.tables.orbit_history
    assert set(h["orbit"]) == set(ORBITS) and h["account_id"].nunique() >= 490
    occ = orbits.occupancy(h, "quarter", order=ORBITS)
    assert list(occ.index[:2]) == ["2023-Q1", "2023-Q2"] and occ.iloc[-1].sum() <= 500
    slow = orbits.churn_after_support(res.tables.tickets, h, "Churned")
    assert slow["tickets"].sum() <= 2000 and set(slow.index) == {"slow", "fast"}
