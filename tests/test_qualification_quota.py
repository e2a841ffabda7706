"""Quotas and attainment: the per-rep-per-period table, on hand-made exports and on simulated runs."""

from __future__ import annotations

import pandas as pd
import pytest

import sim
from sim.core import quota, schema

T = pd.Timestamp


def export(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["opportunity_id", "owner", "outcome", "amount", "created_at", "closed_at"])
    return schema.conform(df, "opportunities")


def test_attainment_per_owner_and_quarter_from_an_export():
    opp = export([
        ("1", "Ana", "won", 100.0, T("2026-01-05"), T("2026-02-01")),
        ("2", "Ana", "won", 50.0, T("2026-02-05"), T("2026-05-01")),
        ("3", "Ana", "lost", 999.0, T("2026-01-05"), T("2026-03-01")),
        ("4", "Ben", "won", 400.0, T("2026-01-10"), T("2026-06-30")),
        ("5", "Ben", "open", 80.0, T("2026-03-10"), None),
    ])
    table = quota.attainment(opp, quota_per_year=800, start=T("2026-01-01"), end=T("2026-07-01"))
    schema.validate(table, "attainment")
    got = table.set_index(["owner", "period"])
    assert list(got.index) == [("Ana", "2026-Q1"), ("Ana", "2026-Q2"), ("Ben", "2026-Q1"), ("Ben", "2026-Q2")]
    assert (got["quota"] == 200).all()
    assert got["bookings"].tolist() == [100, 50, 0, 400]
    assert got.loc[("Ben", "2026-Q2"), "attainment"] == 2.0
    assert quota.annual_attainment(table) == pytest.approx(550 / 800)


def test_quota_is_prorated_for_reps_who_join_or_leave_mid_period():
    opp = export([("1", "Cy", "won", 10.0, T("2026-02-01"), T("2026-03-01"))])
    tenure = pd.DataFrame({"owner": ["Cy"], "joined": [T("2026-02-15")], "left": [T("2026-05-16")]})
    table = quota.attainment(opp, 365.0, "month", tenure, start=T("2026-01-01"), end=T("2026-07-01"))
    got = table.set_index("period")["quota"]
    assert list(got.index) == ["2026-02", "2026-03", "2026-04", "2026-05"]   # no quota before joining or after leaving
    assert got["2026-02"] == pytest.approx(365 / 12 * 14 / 28, abs=0.01)
    assert got["2026-03"] == pytest.approx(365 / 12, abs=0.01)
    assert got["2026-05"] == pytest.approx(365 / 12 * 15 / 31, abs=0.01)


def test_attainment_names_missing_columns_and_bad_quota():
    opp = export([("1", "Ana", "won", 1.0, T("2026-01-05"), T("2026-02-01"))])
    with pytest.raises(schema.MissingColumns, match="owner"):
        quota.attainment(opp.drop(columns="owner"), 100)
    with pytest.raises(ValueError, match="quota_per_year: 0 is not allowed"):
        quota.attainment(opp, 0)
    with pytest.raises(ValueError, match="period: 'week' is not allowed"):
        quota.attainment(opp, 100, "week")


def test_a_simulated_run_carries_an_attainment_table_that_adds_up():
    scenario = sim.Scenario.preset("sweet-spot").replace(days=200)
    res = sim.simulate(scenario, seed=2).tables.validate()
    opp, att = res.opportunities, res.attainment
    assert set(att["owner"]) == set(opp["owner"])
    assert att["bookings"].sum() == pytest.approx(opp.loc[opp["outcome"] == "won", "amount"].sum(), abs=0.05)
    # 200 days from 1 January: Q1, Q2 full, Q3 cut at 20 July
    q3 = att[att["period"] == "2026-Q3"]["quota"]
    assert q3.iloc[0] == pytest.approx(1_200_000 / 4 * 19 / 92, abs=0.01)


def test_no_quota_means_an_empty_attainment_table():
    res = sim.simulate(sim.Scenario.preset("baseline").replace(days=60), seed=1)
    assert res.tables.attainment.empty and list(res.tables.attainment.columns) == schema.TABLES["attainment"].columns
    assert "attainment" not in res.metrics
