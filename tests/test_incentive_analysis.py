"""Analyses of incentive tables and of an export's attainment per owner: small tables written for the test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.analysis import incentives as inc
from sim.core.schema import MissingColumns


def deals(rows) -> pd.DataFrame:
    """Opportunities from (owner, closed_at, amount, outcome) tuples."""
    df = pd.DataFrame(rows, columns=["owner", "closed_at", "amount", "outcome"])
    df["closed_at"] = pd.to_datetime(df["closed_at"])
    df["created_at"] = df["closed_at"] - pd.Timedelta(days=30)
    return df


@pytest.fixture
def export() -> pd.DataFrame:
    """Three owners over four quarters of 2025; Ann books 100 a quarter, Bob 50, Cy 0 then 300 in Q4."""
    rows = []
    for q, month in enumerate((2, 5, 8, 11)):
        rows += [("Ann", f"2025-{month:02d}-10", 100.0, "won"), ("Bob", f"2025-{month:02d}-12", 50.0, "won"),
                 ("Cy", f"2025-{month:02d}-14", 300.0 if q == 3 else 0.0, "won" if q == 3 else "lost")]
    rows[0] = ("Ann", "2025-01-01", 100.0, "won")          # the span starts on the first won close: 1 January
    rows.append(("Ann", "2025-12-31", 0.0, "lost"))      # ...and ends on the last close
    return deals(rows)


# ---- the export half ---------------------------------------------------------------------------------------
def test_attainment_per_owner_from_a_number_a_mapping_or_a_column(export):
    by_number = inc.owner_attainment(export, 400.0, "quarter")
    assert set(by_number["period"]) == {"2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"}
    assert np.allclose(by_number["quota"], 100.0)
    ann = by_number[by_number["owner"] == "Ann"]["attainment"]
    assert np.allclose(ann, 1.0)
    by_mapping = inc.owner_attainment(export, {"Ann": 400.0, "Bob": 200.0, "Cy": 800.0}, "quarter")
    bob = by_mapping[by_mapping["owner"] == "Bob"]
    assert np.allclose(bob["attainment"], 1.0)
    with_column = export.assign(quota=export["owner"].map({"Ann": 400.0, "Bob": 200.0, "Cy": 800.0}))
    pd.testing.assert_frame_equal(inc.owner_attainment(with_column, "quota", "quarter"), by_mapping)
    # no quota given: the average owner's pace (total won / owners / years)
    average = inc.owner_attainment(export, None, "quarter")
    assert np.allclose(average["quota"], (400 + 200 + 300) / 3 / (365 / 365.25) / 4, rtol=1e-3)


def test_bad_quotas_are_named(export):
    with pytest.raises(ValueError, match="no quota for owner\\(s\\) 'Cy'"):
        inc.owner_attainment(export, {"Ann": 1.0, "Bob": 1.0})
    with pytest.raises(ValueError, match="quota for owner 'Bob' is -2"):
        inc.owner_attainment(export, {"Ann": 1.0, "Bob": -2, "Cy": 1.0})
    with pytest.raises(ValueError, match="quota column 'target' is not in the data"):
        inc.owner_attainment(export, "target")
    varying = export.assign(target=np.arange(len(export), dtype=float) + 1)
    with pytest.raises(ValueError, match="owner 'Ann' has several quotas"):
        inc.owner_attainment(varying, "target")
    with pytest.raises(ValueError, match="quota: 0 is not allowed"):
        inc.owner_attainment(export, 0)
    with pytest.raises(MissingColumns):
        inc.owner_attainment(export.drop(columns="owner"), 1.0)
    with pytest.raises(ValueError, match="no won deal"):
        inc.owner_attainment(export.assign(outcome="lost"), 1.0)


def test_chance_anyone_clears_a_bar_is_the_share_of_periods_with_a_bootstrap_interval(export):
    att = inc.owner_attainment(export, 400.0, "quarter")    # best per quarter: 1.0, 1.0, 1.0, 3.0 (Cy in Q4)
    curve = inc.clear_chances(att, [0.5, 1.0, 2.0, 3.5], n_boot=400, seed=1)
    assert list(curve["chance"]) == [1.0, 1.0, 0.25, 0.0]
    two = curve.iloc[2]
    assert 0.0 <= two["ci_low"] < 0.25 < two["ci_high"] <= 1.0
    assert curve.iloc[0][["ci_low", "ci_high"]].tolist() == [1.0, 1.0] and curve.iloc[3]["ci_high"] == 0.0
    # the top by bookings (the Porsche rule): Ann in Q1-Q3 (far over her small quota), Cy in Q4 (far under his)
    top = inc.clear_chances(inc.owner_attainment(export, {"Ann": 100.0, "Bob": 400.0, "Cy": 4000.0}), [1.5], who="top")
    anyone = inc.clear_chances(inc.owner_attainment(export, {"Ann": 100.0, "Bob": 400.0, "Cy": 4000.0}), [1.5])
    assert top["chance"].iloc[0] == 0.75 and anyone["chance"].iloc[0] == 1.0   # Ann clears it, but Cy tops Q4
    # a year made of four quarters: Cy's 300 over a year is 0.75 of 400; Ann's is 1.0 whatever is drawn
    yearly = inc.chance_anyone_clears(att, 1.0, periods_per_award=4, n_boot=50, draws=100, seed=2)
    assert yearly["chance"] == 1.0 and yearly["periods"] == 4
    assert inc.chance_anyone_clears(att, 1.01, periods_per_award=4, n_boot=50, draws=400, seed=2)["chance"] < 0.5


def test_clear_chances_fall_as_the_bar_rises_and_refuse_bad_input(export):
    att = inc.owner_attainment(export, 400.0, "month")
    curve = inc.clear_chances(att, np.linspace(0.5, 6, 12), n_boot=100, seed=3)
    assert (np.diff(curve["chance"]) <= 0).all() and (curve["ci_low"] <= curve["chance"]).all()
    with pytest.raises(ValueError, match="who: 'best'"):
        inc.clear_chances(att, [1.0], who="best")
    with pytest.raises(ValueError, match="periods_per_award: 0"):
        inc.clear_chances(att, [1.0], periods_per_award=0)
    with pytest.raises(ValueError, match="needs at least 2"):
        inc.clear_chances(att[att["period"] == "2025-03"], [1.0])


def test_attainment_spread_and_figure(export):
    att = inc.owner_attainment(export, 400.0, "quarter")
    spread = inc.attainment_spread(att)
    assert list(spread.index) == ["Ann", "Cy", "Bob"] and spread.loc["Cy", "highest"] == 3.0
    curve = inc.clear_chances(att, [1.0, 2.0, 3.0], n_boot=50)
    fig = inc.attainment_figure(att, curve, 2.0, "quarter")
    left, right = fig.axes
    assert left.get_title() and right.get_title() and "%" in left.get_ylabel() and "%" in right.get_xlabel()


# ---- the programme's tables ----------------------------------------------------------------------------------
@pytest.fixture
def awards() -> pd.DataFrame:
    return pd.DataFrame({
        "period": ["2026", "2026", "2027", "2026-Q1", "2026-Q1"],
        "rule": ["Porsche", "Trophy", "Trophy", "Segment", "Segment"],
        "category": [None, None, None, "SMB", "Enterprise"],
        "winner": [None, "Rep 01", "Rep 02", "Rep 03", None],
        "payout": [0.0, 10.0, 10.0, 3.0, 0.0],
    })


def test_award_summary_counts_decisions_and_awards_to_nobody(awards):
    summary = inc.award_summary(awards)
    assert summary.loc["Porsche", "no_winner_share"] == 1.0 and summary.loc["Trophy", "no_winner"] == 0
    assert summary.loc["Segment", "decisions"] == 2 and summary.loc["Segment", "payout"] == 3.0
    nobody = inc.award_summary(awards[awards["rule"] == "Porsche"])        # nobody won anything: still a summary
    assert nobody.loc["Porsche", "no_winner"] == 1


def test_effort_after_an_award_nobody_won(awards):
    months = pd.period_range("2026-01", "2027-12", freq="M").astype(str)
    effort = pd.DataFrame({"period": months, "effort": [1.2] * 12 + [1.05] * 12})
    after = inc.effort_after(awards, effort).set_index(["rule", "period"])
    assert after.loc[("Porsche", "2026"), "effort_next"] == pytest.approx(1.05)
    assert bool(after.loc[("Porsche", "2026"), "no_winner"]) and ("Trophy", "2027") not in after.index
    assert after.loc[("Segment", "2026-Q1"), "effort_next"] == pytest.approx(1.2)   # the next quarter


def test_effort_by_standing_reps_lifted_and_terciles():
    effort = pd.DataFrame({"period": ["2026-02"] * 4 + ["2026-03"] * 4, "owner": ["A", "B", "C", "D"] * 2,
                           "rank": [1, 2, 3, 4, 4, 1, 2, 3], "effort": [1.3, 1.2, 1.1, 1.0, 1.0, 1.4, 1.2, 1.0],
                           "from_prizes": [0.2, 0.1, 0.04, 0.0, 0.0, 0.3, 0.06, 0.0]})
    split = inc.effort_by_standing(effort)
    assert split["leader"] == pytest.approx(1.35) and split["near"] == pytest.approx((1.3 + 1.2 + 1.4 + 1.2) / 4)
    assert split["far"] == pytest.approx((1.1 + 1.0 + 1.0 + 1.0) / 4)
    assert inc.reps_lifted(effort, by=0.05) == 2.0
    att = pd.DataFrame({"owner": list("ABCDEF"), "bookings": [60.0, 50, 40, 30, 20, 10]})
    assert inc.bookings_by_tercile(att) == {"top": 110.0, "middle": 70.0, "bottom": 30.0}


def test_ratio_ci_and_period_end_share():
    point, lo, hi = inc.ratio_ci([10.0, 10.0, 10.0, 10.0], [100.0, 120.0, 80.0, 100.0], seed=1)
    assert point == pytest.approx(0.1) and lo < 0.1 < hi
    assert np.isnan(inc.ratio_ci([10.0, 10.0, 10.0], [50.0, -60.0, 5.0])[1])       # uplift not shown: no interval
    opp = deals([("A", "2026-03-25", 100.0, "won"), ("A", "2026-02-01", 300.0, "won"), ("A", "2026-03-30", 50.0, "lost")])
    assert inc.period_end_share(opp) == pytest.approx(0.25)
