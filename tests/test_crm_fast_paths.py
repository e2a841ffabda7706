"""The loader's shortcuts give what the general code they stand in for gives (issue 28: a million rows in seconds)."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_series_equal

from sim.crm import parse

PIECES = [" ", "a", "b", "N/A", "", "\u00a0", "é", "-", "null", "\x1c", "Z", "\u2003", "#N/A"]


def _pandas_text(text: pd.Series) -> pd.Series:
    """`parse_text` for text held in Arrow, as pandas' string methods define it."""
    trimmed = text.str.strip()
    return trimmed.astype("object").where(~trimmed.isin(parse.EMPTY_TOKENS), None)


def _column(rng: np.random.Generator, n: int, distinct: int) -> pd.Series:
    pool = ["".join(rng.choice(PIECES, int(rng.integers(0, 4)))) + (str(k) if rng.random() < 0.7 else "")
            for k in range(distinct)]
    return pd.Series([None if rng.random() < 0.02 else pool[i] for i in rng.integers(0, distinct, n)], dtype="str")


@pytest.mark.parametrize("seed", range(6))
def test_text_held_in_arrow_reads_as_pandas_string_methods_read_it(seed):
    """Unique ids, account names that come back now and then: trimmed, placeholders None, missing cells NaN."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1_500, 3_000))
    for distinct in (n, n // 2):
        text = _column(rng, n, distinct) if distinct < n else pd.Series(
            [f"{rng.choice(PIECES)}id{k}{rng.choice(PIECES)}" if k % 50 else None for k in range(n)], dtype="str")
        sample = text.iloc[:: max(1, n // 1000)].iloc[:1000]
        assert sample.nunique() >= len(sample) // 2     # (columns repeating more are read once per distinct value)
        got, want = parse.parse_text(text), _pandas_text(text)
        assert_series_equal(got, want)
        assert [type(v) for v in got] == [type(v) for v in want]     # None for a placeholder, NaN for a missing cell


def test_the_codes_of_a_repeated_column_are_what_factorize_gives():
    text = pd.Series(["Won", " Won", "Lost", "N/A", None, "Open ", "Lost", "Open"] * 200, dtype="str")
    values, (codes, uniques) = parse.parse_text_coded(text)
    want_codes, want_uniques = pd.factorize(values)
    assert np.array_equal(codes, want_codes) and list(uniques) == list(want_uniques)


@pytest.mark.parametrize("table", [["won", "lost", "open", None], [None, "Prospect", None], [None, None],
                                   [True, False, True], ["a", 1, None], [None]])
def test_labels_spread_by_code_are_the_series_pandas_builds(table):
    """Outcomes and stages spread from their few distinct values: pandas' Arrow text where it would infer it."""
    load_module = importlib.import_module("sim.crm.load")
    rng = np.random.default_rng(3)
    values = np.array(table, dtype=object)
    for n in (0, 1, 2, 60):
        for _ in range(10):
            codes = rng.integers(-1, len(values) - 1, n) if len(values) > 1 else np.full(n, -1)
            got = load_module._spread(values, codes, pd.RangeIndex(n))
            want = pd.Series(values[codes], index=pd.RangeIndex(n))
            assert_series_equal(got, want, check_exact=True)
            assert [type(v) for v in got.astype(object)] == [type(v) for v in want.astype(object)]
