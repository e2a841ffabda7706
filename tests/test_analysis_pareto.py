"""Principle 12 analyses: concentration of revenue, the fractal check, products x customers, time allocation."""

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import pareto
from sim.experiments import pareto_fractal


def pareto_sample(alpha, n=20_000, seed=0):
    return pd.Series(np.random.default_rng(seed).pareto(alpha, n) + 1)


def test_concentration_curve_runs_from_zero_to_one():
    curve = pareto.concentration_curve(pd.Series([5, 3, 2, 0]))
    assert curve["holder_share"].tolist() == [0, 1 / 3, 2 / 3, 1]
    assert curve["value_share"].tolist() == [0, 0.5, 0.8, 1]


def test_equal_customers_have_no_concentration():
    shares = pareto.top_shares(pd.Series([10.0] * 500))
    np.testing.assert_allclose(shares["share"], list(pareto.TOPS))


def test_a_pareto_1_16_market_is_fractal_80_20():
    values = pareto_sample(1.16, n=200_000, seed=1)
    check = pareto.fractal_check(values)
    assert check["top_20"] == pytest.approx(0.8, abs=0.05)
    assert check["holds_self_similar"]
    assert check["tail_index"] == pytest.approx(1.16, abs=0.1)


def test_implied_share_of_the_80_20_index():
    assert pareto.implied_top_share(1.161) == pytest.approx(0.8, abs=0.002)


def test_product_customer_cross():
    opp = pd.DataFrame({
        "opportunity_id": [str(i) for i in range(6)], "outcome": ["won"] * 5 + ["lost"],
        "account_id": ["a", "a", "b", "c", "d", "d"], "product": ["X", "X", "X", "Y", "Z", "X"],
        "amount": [100.0, 100.0, 50.0, 10.0, 5.0, 999.0],
    })
    cross = pareto.product_customer_cross(opp)
    assert cross["top_products"] == ["X"] and cross["top_products_share"] == pytest.approx(250 / 265)
    assert cross["their_customers"] == 2


def test_missing_product_column_is_a_skip_not_a_crash():
    t = sim.simulate(sim.Scenario.preset("baseline"), seed=0).tables
    with pytest.raises(sim.core.schema.MissingColumns, match="product"):
        pareto.product_customer_cross(t.opportunities)


def test_top_first_books_more_but_wins_fewer_small_deals_when_time_is_scarce():
    s = pareto_fractal.time_allocation(sim.Scenario.preset("baseline"), reps=4, replications=10, seed=3)
    assert s.loc[("top first", "bookings"), "diff_low"] > 0
    assert s.loc[("top first", "small_deals_won"), "diff_high"] < 0
