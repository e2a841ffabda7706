"""Notebook 09's break-even is found by bisection on common random numbers, with its interval, not off a grid."""

import numpy as np

import sim
from sim.experiments import second_place as nurture


def test_bisection_adds_rates_inside_the_bracket_and_the_break_even_lies_between_its_bounds():
    scenario = nurture.nurturing(sim.Scenario.preset("second-place").replace(days=365))
    grid = nurture.gains(nurture.sweep(scenario, [0.0, 1.0], n=4, seed=3, progress=False))
    assert (grid["gain"].iloc[0] < 0) != (grid["gain"].iloc[1] < 0)        # the gain changes sign over the grid
    table, even = nurture.refine_break_even(scenario, grid, n=4, seed=3, steps=2, progress=False)
    added = sorted(set(table.index) - set(grid.index))
    assert added and all(0.0 < r < 1.0 for r in added)
    assert 0.0 < even["break_even"] < 1.0
    # where the gain's CI excludes zero on either side brackets the break-even
    if not np.isnan(even["sure_below"]):
        assert even["sure_below"] <= even["break_even"]
    if not np.isnan(even["sure_above"]):
        assert even["break_even"] <= even["sure_above"]
    text = nurture.headline(table, even)
    assert f"at about {even['break_even']:.0%}" in text and "cannot tell gain from loss" in text
