"""The loader's whole-column schema checks (`sim.crm.checks`) catch every rule pandera catches, with its message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.core import schema
from sim.core.tables import Tables
from sim.crm.checks import passes, validate_tables


def _opportunities() -> pd.DataFrame:
    return schema.conform(pd.DataFrame({
        "opportunity_id": ["a1", "a2", "a3", "a4"],
        "account_id": ["x", None, "y", "x"],
        "owner": ["Ann", "Bo", None, "Ann"],
        "created_at": pd.to_datetime(["2026-01-01", "2026-01-05", "2026-02-01", None]),
        "closed_at": pd.to_datetime(["2026-02-01", None, "2026-03-01", None]),
        "stage": [None, "Proposal", None, "Qualification"],
        "outcome": ["won", "open", "lost", "open"],
        "amount": [100.0, np.nan, 0.0, 5.5],
        "fit_score": [0.5, 1.0, np.nan, 0.0],
    }), "opportunities")


def _history() -> pd.DataFrame:
    return schema.conform(pd.DataFrame({
        "opportunity_id": ["a1", "a1", "a2"],
        "stage": ["Qualification", "Proposal", "Qualification"],
        "entered_at": pd.to_datetime(["2026-01-01", "2026-01-10", "2026-01-05"]),
        "exited_at": pd.to_datetime(["2026-01-10", "2026-02-01", None]),
        "amount": [100.0, 120.0, np.nan],
    }), "stage_history")


def _broken_opportunities():
    def with_(column, values):
        df = _opportunities()
        df[column] = values
        return df

    yield "duplicate id", with_("opportunity_id", ["a1", "a2", "a1", "a4"])
    yield "missing id", with_("opportunity_id", ["a1", None, "a3", "a4"])
    yield "missing outcome", with_("outcome", ["won", None, "lost", "open"])
    yield "unknown outcome", with_("outcome", ["won", "Won", "lost", "open"])
    yield "negative amount", with_("amount", [100.0, -1.0, 0.0, np.nan])
    yield "fit above 1", with_("fit_score", [0.5, 1.01, np.nan, 0.0])
    yield "amount as text", with_("amount", ["100", "1", "0", "5"])
    yield "dates as text", with_("created_at", ["2026-01-01", None, None, None])
    yield "closed before created", with_("closed_at", pd.to_datetime(["2025-12-31", None, "2026-03-01", None]))
    yield "no outcome column", _opportunities().drop(columns=["outcome"])


@pytest.mark.parametrize("why, df", list(_broken_opportunities()), ids=[w for w, _ in _broken_opportunities()])
def test_every_broken_rule_is_caught_with_pandera_s_message(why, df):
    assert not passes(df, "opportunities"), why
    with pytest.raises(schema.TableError) as expected:
        schema.validate(df, "opportunities", "export.csv")
    with pytest.raises(schema.TableError) as got:
        validate_tables(Tables(opportunities=df), source="export.csv")
    assert str(got.value) == str(expected.value)


def test_a_history_stay_ending_before_it_began_is_caught():
    df = _history()
    df.loc[1, "exited_at"] = pd.Timestamp("2026-01-09")
    assert not passes(df, "stage_history")
    with pytest.raises(schema.TableError, match="exited_at is on or after entered_at"):
        validate_tables(Tables(opportunities=_opportunities(), stage_history=df))
    df = _history()
    df.loc[2, "stage"] = None
    with pytest.raises(schema.TableError, match="stage"):
        validate_tables(Tables(stage_history=df))


def test_good_tables_pass_both_ways():
    tables = Tables(opportunities=_opportunities(), stage_history=_history())
    for name, df in tables.items():
        assert passes(df, name), name
        schema.validate(df, name)          # pandera agrees
    assert validate_tables(tables) is tables
