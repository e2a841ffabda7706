"""`sim.engine.rounding.rounded` is `round`: Python's way for a float, numpy's for a numpy float."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.engine.rounding import rounded


def values() -> list[float]:
    rng = np.random.default_rng(0)
    return (rng.random(4_000).tolist() + rng.normal(0, 3, 1_000).tolist()
            + ((rng.integers(0, 100_000, 2_000) + 0.5) / 100_000).tolist()      # ties at the 5th digit
            + ((rng.integers(-10_000, 10_000, 2_000) + 0.5) / 10_000).tolist()  # ties at the 4th, both signs
            + [0.0, -0.0, -1e-9, 1e-9, 2.5, -2.5, 1e300, math.inf, -math.inf, 123456.789])


@pytest.mark.parametrize("digits", [0, 1, 2, 4])
def test_rounded_is_round_for_python_and_numpy_floats(digits):
    for v in values():
        for x in (v, np.float64(v)):
            want, got = round(x, digits), rounded(x, digits)
            assert got == want and math.copysign(1, got) == math.copysign(1, want), (x, digits)
    assert math.isnan(rounded(np.float64("nan"), 4)) and math.isnan(rounded(math.nan, 4))


def test_other_numbers_are_left_to_round():
    assert rounded(7, 2) == 7 and rounded(np.float32(0.125), 2) == round(np.float32(0.125), 2)
