"""The export's own forecast categories scored against what then closed, from stored snapshots (issue 27)."""

from __future__ import annotations

import math

import pandas as pd

import sim
from sim.analysis.category_scores import category_scores
from sim.cli import main
from sim.crm.store import Store


def snapshot(rows):
    df = pd.DataFrame(rows, columns=["opportunity_id", "outcome", "amount", "expected_close_at", "closed_at",
                                     "forecast_category"])
    for c in ("expected_close_at", "closed_at"):
        df[c] = pd.to_datetime(df[c])
    return sim.Tables(opportunities=df)


MARCH = snapshot([   # as of 2026-03-01: the quarter ends 2026-03-31
    ("a", "open", 100.0, "2026-03-20", None, "Commit"),
    ("b", "open", 200.0, "2026-03-25", None, "Commit"),
    ("c", "open", 300.0, "2026-03-30", None, "Best Case"),
    ("d", "open", 400.0, "2026-06-30", None, "Commit"),       # expected next quarter: not in this call
    ("e", "open", 500.0, "2026-03-10", None, "Pipeline"),
])
MID_MARCH = snapshot([  # as of 2026-03-15: still inside the quarter, judges nothing
    ("a", "open", 100.0, "2026-03-20", None, "Commit"),
    ("b", "open", 200.0, "2026-03-25", None, "Commit"),
])
APRIL = snapshot([   # as of 2026-04-02: what closed
    ("a", "won", 120.0, None, "2026-03-21", None),            # won, signed for more
    ("b", "won", 200.0, None, "2026-04-01", None),            # won, but after the quarter: the commit slipped
    ("c", "lost", 300.0, None, "2026-03-28", None),
    ("d", "open", 400.0, "2026-06-30", None, "Commit"),
    # e vanished: not won
])


def test_each_category_is_scored_on_what_closed_by_the_periods_end():
    scores = category_scores([(pd.Timestamp("2026-04-02"), APRIL), (pd.Timestamp("2026-03-01"), MARCH),
                              (pd.Timestamp("2026-03-15"), MID_MARCH)])
    march = scores[scores["as_of"] == "2026-03-01"].set_index("category")
    assert march.loc["commit", ["deals", "amount", "won_deals", "won_amount"]].tolist() == [2, 300.0, 1, 120.0]
    assert math.isclose(march.loc["commit", "won_share"], 0.4)
    assert march.loc["best case", ["deals", "won_deals", "won_amount"]].tolist() == [1, 0, 0.0]
    assert march.loc["pipeline", ["deals", "won_deals"]].tolist() == [1, 0]
    assert set(march["period"]) == {"2026-Q1"} and set(march["judged_by"]) == {pd.Timestamp("2026-04-02")}
    assert pd.Timestamp("2026-04-02") in scores.attrs["pending"]        # its quarter has not ended in any snapshot


def test_playbook_categories_reads_the_store(tmp_path, capsys):
    store = tmp_path / "h.duckdb"
    with Store.open(store) as s:
        for d, t in (("2026-03-01", MARCH), ("2026-04-02", APRIL)):
            s.ingest(t, as_of=d)
    capsys.readouterr()
    assert main(["categories", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "2026-03-01" in out and "commit" in out and "40%" in out
