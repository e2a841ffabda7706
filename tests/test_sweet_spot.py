"""Finding the sweet spot in a pipeline: by fit band and segment, and bookings per rep hour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.core import schema
from sim.analysis import sweet_spot as ss
from sim.core.stats import wilson_ci
from sim.core.tables import Tables

T = pd.Timestamp


@pytest.fixture()
def export() -> Tables:
    opp = pd.DataFrame({
        "opportunity_id": ["a", "b", "c", "d", "e"],
        "outcome": ["won", "lost", "won", "lost", "open"],
        "amount": [100.0, 50.0, 300.0, 10.0, 40.0],
        "created_at": [T("2026-01-01")] * 5,
        "closed_at": [T("2026-01-11"), T("2026-01-05"), T("2026-01-31"), T("2026-02-01"), None],
        "segment": ["SMB", "SMB", "Enterprise", "Enterprise", None],
        "fit_score": [0.2, 0.25, 0.8, 0.9, 0.5],
    })
    hist = pd.DataFrame({
        "opportunity_id": ["a", "a", "b", "c", "c", "d", "e"],
        "stage": ["Qualify", "Close", "Qualify", "Qualify", "Close", "Qualify", "Qualify"],
        "entered_at": [T("2026-01-01")] * 7,
    })
    return Tables(opportunities=schema.conform(opp, "opportunities"), stage_history=schema.conform(hist, "stage_history"))


def test_win_rate_size_and_cycle_by_segment(export):
    table = ss.by_group(export.opportunities, "segment")
    assert list(table.index) == ["(none)", "Enterprise", "SMB"]
    smb = table.loc["SMB"]
    assert (smb["deals"], smb["closed"], smb["won"], smb["win_rate"]) == (2, 2, 1, 0.5)
    assert smb["median_deal_size"] == 100 and smb["median_cycle_days"] == 10 and smb["bookings"] == 100
    assert np.isnan(table.loc["(none)", "win_rate"])                  # nothing closed: no rate, not zero
    assert 0 < smb["win_rate_low"] < 0.5 < smb["win_rate_high"] < 1


def test_fit_bands_and_missing_fit_score(export):
    table = ss.by_group(export.opportunities, "fit_band")
    assert table["deals"].sum() == 5 and table.loc["0.75-1.00", "won"] == 1
    with pytest.raises(schema.MissingColumns, match="fit_score"):
        ss.by_group(export.opportunities.drop(columns="fit_score"), "fit_band")


def test_bookings_per_rep_hour_counts_time_spent_on_lost_deals(export):
    table = ss.bookings_per_rep_hour(export, {"Qualify": 2.0, "Close": 8.0}, by="segment")
    assert table.loc["SMB", "rep_hours"] == 2 + 8 + 2
    assert table.loc["SMB", "bookings_per_rep_hour"] == pytest.approx(100 / 12)
    assert table.loc["Enterprise", "bookings_per_rep_hour"] == pytest.approx(300 / 12)
    assert table["share_of_hours"].sum() == pytest.approx(1.0)
    assert ss.sweet_spot(table) == "Enterprise"


def test_wilson_interval_behaves_at_the_edges():
    lo, hi = wilson_ci(np.array([0, 10]), np.array([10, 10]))
    assert lo[0] == pytest.approx(0, abs=1e-12) and 0.2 < hi[0] < 0.35
    assert 0.65 < lo[1] < 0.8 and hi[1] == pytest.approx(1, abs=1e-12)


def test_the_sweet_spot_shows_in_simulated_data():
    res = sim.simulate(sim.Scenario.preset("baseline"), seed=12)
    bands = ss.by_group(res.tables.opportunities, "fit_band")
    # good fit wins more and faster in the simulator's market; the analysis must see it from the tables alone
    assert bands["win_rate"].iloc[-1] > bands["win_rate"].iloc[0] + 0.2
    assert bands["median_cycle_days"].iloc[-1] < bands["median_cycle_days"].iloc[0]
    hours = {s.name: s.rep_hours for s in res.scenario.stages}
    per_hour = ss.bookings_per_rep_hour(res.tables, hours, by="segment")
    assert ss.sweet_spot(per_hour) == "Enterprise" and per_hour["rep_hours"].sum() > 0
