"""The forecast's bands hold how much the export moved from period to period beyond chance, worked out by hand.

The heavy check (how often the 80% band holds the actual over generated exports and Maven) is
`benchmarks/bench_pipeline_forecast.py accuracy`; these are the pieces, on hand-made exports.
"""

import math

import numpy as np
import pandas as pd
import pytest

from sim.core import schema
from sim.core.tables import Tables
from sim.experiments import pipeline_forecast as pf

CUT = pd.Timestamp("2026-07-01")
QUARTER = 91.0


def export(counts, amounts, lost_every=0) -> Tables:
    """Four 91-day windows back from CUT, `counts[i]` deals created in window i (oldest first), each closed a
    day later at `amounts[i]`, won (every `lost_every`-th lost, when set). The first deal is created 364 days
    before CUT, so exactly four windows fit."""
    rows = []
    for w, (n, amount) in enumerate(zip(counts, amounts)):
        start = CUT - pd.Timedelta(days=QUARTER * (4 - w))
        for j in range(n):
            created = start + pd.Timedelta(days=1 + 80 * j / max(n, 1)) if (w, j) != (0, 0) else start
            lost = lost_every and (len(rows) % lost_every == 0)
            rows.append((f"d{len(rows)}", created, created + pd.Timedelta(days=1), "lost" if lost else "won", amount))
    opp = pd.DataFrame(rows, columns=["opportunity_id", "created_at", "closed_at", "outcome", "amount"])
    return Tables(opportunities=schema.conform(opp, "opportunities"))


def test_a_steady_export_adds_nothing_to_the_fit():
    spread = pf.period_spread(export([20, 20, 20, 20], [100.0] * 4), CUT, QUARTER)
    assert spread == {"arrivals": 0.0, "deal size": 0.0, "win rate": 0.0}


def test_arrivals_and_deal_sizes_that_move_more_than_chance_by_hand():
    spread = pf.period_spread(export([20, 30, 20, 30], [100.0, 200.0, 100.0, 200.0]), CUT, QUARTER)
    # counts 20/30/20/30: variance 33.3 across windows, of which Poisson chance gives the mean, 25
    assert spread["arrivals"] == pytest.approx(math.sqrt(100 / 3 - 25) / 25)
    # mean won amount 100/200/100/200, every amount of a window alike (no chance variance); the first window
    # starts within two won-deal cycles of the first deal, so it counts for arrivals only: sd 57.7 of 166.7
    assert spread["deal size"] == pytest.approx(np.std([200, 100, 200], ddof=1) / np.mean([200, 100, 200]))
    assert spread["win rate"] == 0.0


def test_a_win_rate_that_moves_no_more_than_a_binomial_adds_nothing():
    # every 4th deal lost in every window: shares near 75% with windows of 40 closes; chance explains it all
    spread = pf.period_spread(export([40, 40, 40, 40], [100.0] * 4, lost_every=4), CUT, QUARTER)
    assert spread["win rate"] == 0.0


def test_a_wild_export_is_capped_and_a_short_one_gives_nothing():
    wild = pf.period_spread(export([5, 80, 5, 80], [100.0] * 4), CUT, QUARTER)
    assert wild["arrivals"] == pf.SPREAD_MAX
    short = export([20, 20, 20, 20], [100.0] * 4)
    opp = short.opportunities
    recent = Tables(opportunities=opp[opp["created_at"] >= CUT - pd.Timedelta(days=80)])
    assert pf.period_spread(recent, CUT, QUARTER) == {}       # under three 30-day windows of history


def test_widen_adds_the_spread_in_quadrature_and_shares_the_win_rate_over_the_stages():
    ranges = {"market.leads_per_month": (100.0, 90.0, 120.0), "stages.0.loss_chance": (0.3, 0.25, 0.35),
              "stages.1.loss_chance": (0.5, 0.45, 0.55), "stages.0.median_days": (10.0, 8.0, 12.0)}
    out = pf.widen(ranges, {"arrivals": 0.1, "win rate": 0.2})
    extra = 1.96 * 0.1 * 100
    assert out["market.leads_per_month"] == pytest.approx((100.0, 100 - math.hypot(10, extra), 100 + math.hypot(20, extra)))
    loss = 1.96 * 0.2 * (1 - 0.3) / 2           # two stages move the win rate together
    assert out["stages.0.loss_chance"] == pytest.approx((0.3, 0.3 - math.hypot(0.05, loss), 0.3 + math.hypot(0.05, loss)))
    assert out["stages.0.median_days"] == ranges["stages.0.median_days"]          # no spread measured for it
    assert pf.widen(ranges, {}) == ranges


def test_the_lead_flow_is_the_last_quarters_by_hand():
    import sim

    base = sim.Scenario.preset("baseline")
    recent = pf.recent_arrivals(export([20, 30, 20, 30], [100.0] * 4), CUT, base)
    # 30 deals in the last 91 days against 100 over the 364 days since the first: 1.2 x the whole history's rate
    value, ratio, count = recent["market.leads_per_month"]
    assert (ratio, count) == (pytest.approx(1.2), 30) and value == pytest.approx(base.market.leads_per_month * 1.2)
    assert "accounts.repeat_per_year" not in recent                 # no account ids: no repeat business seen
    ranges = pf._recent_rate({"market.leads_per_month": (50.0, 45.0, 55.0)}, recent)
    half = 1.96 / math.sqrt(30)
    assert ranges["market.leads_per_month"] == pytest.approx((value, value * (1 - half), value * (1 + half)))
    opp = export([20, 30, 20, 30], [100.0] * 4).opportunities
    young = Tables(opportunities=opp[opp["created_at"] >= CUT - pd.Timedelta(days=150)])
    assert pf.recent_arrivals(young, CUT, base) == {}               # under two quarters of history: the fit's rate
