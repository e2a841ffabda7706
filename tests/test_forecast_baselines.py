"""The forecasting methods teams use today, on a small hand-made export whose answers are worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from sim.analysis import fit
from sim.analysis import forecast_baselines as fb
from sim.analysis.snapshots import pipeline_at
from sim.core import schema
from sim.core.tables import Tables

T = pd.Timestamp
CUT = T("2026-04-01")        # everything before April 1st is known (as of March 31st)


def export(categories=None, history_extra=None) -> Tables:
    """Stages Qualify -> Propose, every stay 10 days. Closed before April: d1 won 100 (Jan 21), d2 lost in Qualify,
    d3 lost in Propose, d4 won 200 (Mar 2). Open on April 1st: d5 (Qualify since Mar 25, 300), d6 (Propose since
    Mar 28, 60), d7 (Qualify since Mar 30, 90). Later: d5 won 300 on Apr 10 (invisible at the cutoff)."""
    opp = pd.DataFrame([
        ("d1", "A", "2026-01-01", "2026-01-21", "won", 100.0, 100.0),
        ("d2", "A", "2026-01-05", "2026-01-15", "lost", 50.0, 50.0),
        ("d3", "B", "2026-02-01", "2026-02-21", "lost", 70.0, 70.0),
        ("d4", "B", "2026-02-10", "2026-03-02", "won", 200.0, 200.0),
        ("d5", "A", "2026-03-15", "2026-04-10", "won", 300.0, 300.0),
        ("d6", "B", "2026-03-18", None, "open", 60.0, 60.0),
        ("d7", "A", "2026-03-30", None, "open", 90.0, 90.0),
    ], columns=["opportunity_id", "owner", "created_at", "closed_at", "outcome", "amount", "first_estimate"])
    for c in ("created_at", "closed_at"):
        opp[c] = pd.to_datetime(opp[c])
    if categories:
        opp["forecast_category"] = opp["opportunity_id"].map(categories)
    hist = pd.DataFrame([
        ("d1", "Qualify", "2026-01-01", "2026-01-11"), ("d1", "Propose", "2026-01-11", "2026-01-21"),
        ("d2", "Qualify", "2026-01-05", "2026-01-15"),
        ("d3", "Qualify", "2026-02-01", "2026-02-11"), ("d3", "Propose", "2026-02-11", "2026-02-21"),
        ("d4", "Qualify", "2026-02-10", "2026-02-20"), ("d4", "Propose", "2026-02-20", "2026-03-02"),
        ("d5", "Qualify", "2026-03-15", "2026-03-25"), ("d5", "Qualify", "2026-03-25", "2026-04-10"),
        ("d6", "Qualify", "2026-03-18", "2026-03-28"), ("d6", "Propose", "2026-03-28", None),
        ("d7", "Qualify", "2026-03-30", None),
    ], columns=["opportunity_id", "stage", "entered_at", "exited_at"])
    for c in ("entered_at", "exited_at"):
        hist[c] = pd.to_datetime(hist[c])
    for column, values in (history_extra or {}).items():
        hist[column] = values
    return Tables(opportunities=schema.conform(opp, "opportunities"), stage_history=schema.conform(hist, "stage_history"))


def known(tables=None):
    return fit.as_of(tables or export(), CUT)


def test_periods_and_horizons():
    assert fb.period_of(CUT, "quarter").label == "2026-Q2"          # as of Mar 31: the next quarter
    assert fb.period_of(T("2026-03-16"), "quarter") == fb.Period(T("2026-01-01"), T("2026-04-01"), "2026-Q1")
    assert fb.period_of(CUT, "month").label == "2026-04"
    p = fb.period_of(CUT, "30-days")
    assert (p.start, p.end, p.days) == (CUT, T("2026-05-01"), 30)
    assert fb.period_of(CUT, "quarter", start=T("2026-05-01")).label == "2026-05-01 to 2026-07-31"
    for bad in ("week", "0-days", "-3d", ""):
        with pytest.raises(ValueError, match="horizon: .* quarter, month or a number of days"):
            fb.parse_horizon(bad)


def test_pipeline_at_uses_the_stage_then_and_dates_what_the_history_dates():
    live = pipeline_at(known(), CUT - pd.Timedelta(seconds=1)).set_index("opportunity_id")
    # d5 was still open at the cutoff (won later): it is in the pipeline, at its first estimate
    assert set(live.index) == {"d5", "d6", "d7"}
    assert live.loc["d6", "stage"] == "Propose" and live.loc["d6", "days_in_stage"] == pytest.approx(4, abs=1e-3)
    assert live.loc["d5", "amount"] == 300.0
    assert any("amount" in a for a in live.attrs["assumed"]) and live.attrs["dated"] == []
    # a history that carries the amount at each change: the amount of the row in force on the date
    amounts = [None] * 7 + [250.0, 275.0, None, None, None]
    dated = pipeline_at(export(history_extra={"amount": amounts}), T("2026-03-20")).set_index("opportunity_id")
    assert dated.loc["d5", "amount"] == 250.0 and "amount" in dated.attrs["dated"]
    later = pipeline_at(export(history_extra={"amount": amounts}), T("2026-03-31")).set_index("opportunity_id")
    assert later.loc["d5", "amount"] == 275.0


def test_stage_weighted_by_hand():
    # win rates from the deals closed before the cutoff: Qualify 2 of 4, Propose 2 of 3; every stay 10 days, so
    # d5 (Qualify 7 days) closes in ~13 days, d6 (Propose 4 days) in ~6, d7 (Qualify 2 days) in ~18: all in April
    p = fb.period_of(CUT, "30-days")
    est = fb.stage_weighted(known(), CUT, p)
    assert est.parts["pipeline"] == pytest.approx(300 * 0.5 + 60 * 2 / 3 + 90 * 0.5)
    assert est.parts["deals"] == 3
    # new deals: created and won inside the same 30 days, over the last windows: Mar 0, Feb 0, Jan 100 (d1)
    assert est.parts["new deals"] == pytest.approx(100 / 3)
    assert est.parts["closed"] == 0.0
    assert est.p10 <= est.parts["pipeline"] <= est.p90 and est.p10 < est.p50 < est.p90
    # a 5-day period: d6, the first due (in ~6 days), is not due yet, nor the others
    short = fb.stage_weighted(known(), CUT, fb.period_of(CUT, "5-days"))
    assert short.parts["deals"] == 0 and short.parts["pipeline"] == 0.0


def test_run_rate_by_hand():
    est = fb.run_rate(known(), CUT, fb.period_of(CUT, "30-days"))
    # bookings in the 30 days before: Mar 2 - Apr 1: 200 (d4); Jan 31 - Mar 2: 0; Jan 1 - Jan 31: 100 (d1)
    assert est.parts["run rate"] == pytest.approx(100.0) and est.parts["windows"] == 3
    assert est.p50 == pytest.approx(100.0, rel=0.05)
    mid = fb.run_rate(known(), CUT, fb.Period(T("2026-03-01"), T("2026-05-01"), "x"))
    assert mid.parts["closed"] == 200.0     # what closed in the period before the cutoff is counted as closed
    empty = fb.run_rate(known(), CUT, fb.period_of(CUT, "quarter"))     # no 91-day window inside the data
    assert not empty.available and "no full window" in empty.note


def test_categories_by_hand():
    cats = {"d5": "Commit", "d6": "Best Case", "d7": "Pipeline"}
    p = fb.period_of(CUT, "30-days")
    est = fb.categories(known(export(cats)), CUT, p, today=True)
    assert (est.p10, est.p50, est.p90) == (300.0, 300.0, 360.0)
    # at a past cutoff the category then is not known unless the history dates it
    assert not fb.categories(known(export(cats)), CUT, p).available
    hist_cats = [None] * 7 + ["Best Case", "Best Case", "Pipeline", "Commit", "Pipeline"]
    dated = fb.categories(known(export(cats, {"forecast_category": hist_cats})), CUT, p)
    assert (dated.parts["commit"], dated.parts["best case"]) == (60.0, 300.0)
    assert not fb.categories(known(), CUT, p).available


def test_logistic_recovers_known_coefficients():
    rng = np.random.default_rng(4)
    x = np.column_stack([np.ones(20000), rng.normal(size=20000), rng.normal(2, 1, size=20000)])
    beta = np.array([-1.0, 0.8, 0.5])
    y = (rng.random(20000) < 1 / (1 + np.exp(-x @ beta))).astype(float)
    got = fb.fit_logistic(x, y, ridge=0.0)
    assert got == pytest.approx(beta, abs=0.1)


def test_deal_model_needs_enough_history():
    est = fb.deal_model(known(), CUT, fb.period_of(CUT, "30-days"))
    assert not est.available and "too few" in est.note


def test_scores_by_hand():
    rows = pd.DataFrame([
        {"method": "a", "actual": 100.0, "p10": 90.0, "p50": 110.0, "p90": 120.0},
        {"method": "a", "actual": 200.0, "p10": 150.0, "p50": 160.0, "p90": 190.0},
        {"method": "b", "actual": 100.0, "p10": 99.0, "p50": 100.0, "p90": 101.0},
        {"method": "b", "actual": 200.0, "p10": 200.0, "p50": 200.0, "p90": 200.0},
        {"method": "c", "actual": 100.0, "p10": math.nan, "p50": math.nan, "p90": math.nan},
    ])
    s = fb.score(rows)
    assert s.loc["a", "mape"] == pytest.approx((0.1 + 0.2) / 2) and s.loc["a", "bias"] == pytest.approx((0.1 - 0.2) / 2)
    assert s.loc["a", "coverage80"] == 0.5
    # pinball at 100: q.1 -> 1, q.5 -> 5, q.9 -> 2; at 200: q.1 -> 5, q.5 -> 20, q.9 -> 9; over mean actual 150
    assert s.loc["a", "pinball"] == pytest.approx(((1 + 5 + 2) / 3 + (5 + 20 + 9) / 3) / 2 / 150)
    assert list(s.index[:2]) == ["b", "a"] and s.loc["b", "rank"] == 1 and pd.isna(s.loc["c", "rank"])
