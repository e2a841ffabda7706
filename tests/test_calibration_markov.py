"""The pipeline as an absorbing Markov chain: the closed form is right on a chain with skips and moves back,
and on the simulator's own stage history it agrees with what the simulation does when followed to the end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import fit, markov


def _chain(p: np.ndarray, days: np.ndarray, start: np.ndarray) -> markov.Chain:
    k = len(days)
    names = [f"S{i}" for i in range(k)]
    return markov.Chain(tuple(names), pd.DataFrame(p * 1000, index=names, columns=[*names, "won", "lost"]),
                        start, days, np.full(k, 1000))


def test_closed_form_matches_walking_the_chain():
    """A chain with a skipped stage and a move back: closed-form win chance and days to a win vs 40,000 walks."""
    p = np.array([  # to S0, S1, S2, won, lost
        [0.00, 0.55, 0.10, 0.00, 0.35],
        [0.10, 0.00, 0.60, 0.00, 0.30],
        [0.00, 0.15, 0.00, 0.70, 0.15],
    ])
    days = np.array([12.0, 25.0, 18.0])
    chain = _chain(p, days, np.array([0.8, 0.2, 0.0]))
    closed = markov.closed_form(chain)
    rng = np.random.default_rng(3)
    wins, cycles = 0, []
    for _ in range(40_000):
        state, t = int(rng.choice(3, p=chain.start)), 0.0
        while state < 3:
            t += rng.exponential(days[state])
            state = int(rng.choice(5, p=p[state]))
        if state == 3:
            wins += 1
            cycles.append(t)
    assert wins / 40_000 == pytest.approx(closed["win_probability"], abs=0.01)
    assert np.mean(cycles) == pytest.approx(closed["expected_cycle_days"], rel=0.02)
    assert not chain.linear


@pytest.fixture(scope="module")
def followed():
    """A year of the baseline team followed for a second year, so the first year's deals all close."""
    base = sim.Scenario.preset("baseline")
    return base, sim.simulate(base.replace(days=730), seed=4).tables


def test_closed_form_agrees_with_the_simulation_followed_to_the_end(followed):
    base, tables = followed
    end = pd.Timestamp(base.start) + pd.Timedelta(days=365)
    known = fit.as_of(tables, end)                       # what an export taken after one year shows
    chain = markov.fit_chain(known, base.stage_names, end)
    closed = markov.closed_form(chain)
    opp = tables.opportunities
    first_year = opp[(opp["created_at"] < end) & opp["outcome"].isin(["won", "lost"])]
    won = first_year[first_year["outcome"] == "won"]
    true_win = len(won) / len(first_year)
    true_cycle = ((won["closed_at"] - won["created_at"]).dt.total_seconds() / 86400).mean()
    assert chain.linear
    assert closed["win_probability"] == pytest.approx(true_win, abs=0.025)
    assert closed["expected_cycle_days"] == pytest.approx(true_cycle, rel=0.06)
    ci = markov.closed_form_ci(known, base.stage_names, end, b=200, seed=1)
    assert ci["win_probability"][0] <= true_win <= ci["win_probability"][1]
    assert ci["expected_cycle_days"][0] < closed["expected_cycle_days"] < ci["expected_cycle_days"][1]
    # ablation: the export's own win rate (deals closed by the end of the year) is biased, because lost
    # deals close sooner than won ones; the chain, which counts each stage's closed-out stays, is not
    kn = known.opportunities
    naive = (kn["outcome"] == "won").sum() / kn["outcome"].isin(["won", "lost"]).sum()
    assert abs(naive - true_win) > 2 * abs(closed["win_probability"] - true_win)


def test_an_export_without_stage_history_is_a_one_stage_chain(followed):
    _, tables = followed
    flat = sim.Tables(opportunities=tables.opportunities)
    chain = markov.fit_chain(flat)
    opp = tables.opportunities
    closed = opp[opp["outcome"].isin(["won", "lost"])]
    assert chain.states == (fit.ONE_STAGE,)
    assert markov.closed_form(chain)["win_probability"] == pytest.approx((closed["outcome"] == "won").mean())
