"""What changed between two exports (issue 27): every deal under one heading, the waterfall adds up to the cent,
and two `synth --as-of` exports of one simulated history give the changes the simulation really had."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis.changes import HEADINGS
from sim.cli import main
from sim.core import schema
from sim.crm.as_of import cutoff, expected_close, stage_at

D = pd.Timestamp


def opp(rows):
    cols = ["opportunity_id", "outcome", "stage", "amount", "expected_close_at", "owner"]
    df = pd.DataFrame(rows, columns=cols)
    df["expected_close_at"] = pd.to_datetime(df["expected_close_at"])
    return sim.Tables(opportunities=df)


OLD = opp([
    ("won1", "open", "Evaluation of Options", 100.10, "2026-03-15", "Ann"),
    ("lost1", "open", "Needs Analysis", 200.20, "2026-03-15", "Ann"),
    ("push", "open", "Needs Analysis", 300.30, "2026-03-15", "Bob"),
    ("pull", "open", "Needs Analysis", 400.40, "2026-07-15", "Bob"),
    ("up", "open", "Needs Analysis", 500.50, "2026-03-15", "Bob"),
    ("down", "open", "Needs Analysis", 600.60, "2026-03-15", "Ann"),
    ("fwd", "open", "Needs Analysis", 700.70, "2026-03-15", "Ann"),
    ("back", "open", "Implementation", 800.80, "2026-03-15", "Ann"),
    ("gone", "open", "Needs Analysis", 900.90, "2026-03-15", "Ann"),
    ("same", "open", "Needs Analysis", 1000.01, "2026-03-15", "Ann"),
    ("shut", "won", None, 50.0, None, "Ann"),
])
NEW = opp([
    ("won1", "won", None, 120.00, None, "Ann"),
    ("lost1", "lost", None, 200.20, None, "Ann"),
    ("push", "open", "Needs Analysis", 310.00, "2026-04-02", "Bob"),     # later quarter (and a new amount)
    ("pull", "open", "Needs Analysis", 400.40, "2026-03-31", "Bob"),
    ("up", "open", "Implementation", 555.55, "2026-03-20", "Bob"),      # amount up beats a stage move
    ("down", "open", "Needs Analysis", 600.00, "2026-03-15", "Ann"),
    ("fwd", "open", "Evaluation of Options", 700.70, "2026-03-01", "Ann"),  # same quarter: not pushed or pulled
    ("back", "open", "Evaluation of Options", 800.80, "2026-03-15", "Ann"),
    ("same", "open", "Needs Analysis", 1000.01, "2026-03-15", "Ann"),
    ("shut", "won", None, 50.0, None, "Ann"),
    ("new", "open", "Needs Analysis", 0.07, "2026-06-30", "Bob"),
    ("quick", "won", None, 75.0, None, "Bob"),                         # created and won in between
])
EXPECTED = {"won1": "won", "lost1": "lost", "push": "pushed_out", "pull": "pulled_in", "up": "amount_up",
            "down": "amount_down", "fwd": "stage_forward", "back": "stage_back", "gone": "vanished",
            "same": "unchanged", "shut": "unchanged", "new": "created", "quick": "won"}


def test_every_deal_is_under_the_one_heading_its_change_calls_for():
    result = sim.changes(OLD, NEW, "2026-02-01", "2026-02-08")
    got = dict(zip(result.deals["opportunity_id"], result.deals["heading"]))
    assert got == EXPECTED


def test_the_waterfall_adds_up_to_the_cent_and_the_json_has_the_issues_shape():
    out = sim.changes(OLD, NEW, "2026-02-01", "2026-02-08").to_json()
    assert set(out) == {"from", "to", "open_before", "open_after", "headings", "deals"}
    assert (out["from"], out["to"]) == ("2026-02-01", "2026-02-08")
    assert list(out["headings"]) == list(HEADINGS)
    assert all(set(v) == {"count", "amount"} for v in out["headings"].values())
    assert all(set(d) == {"opportunity_id", "heading", "amount_before", "amount_after"} for d in out["deals"])
    old_open = OLD.opportunities.query("outcome == 'open'")["amount"].sum()
    new_open = NEW.opportunities.query("outcome == 'open'")["amount"].sum()
    assert out["open_before"] == round(old_open, 2) and out["open_after"] == round(new_open, 2)
    cents = round(out["open_before"] * 100) + sum(round(v["amount"] * 100) for v in out["headings"].values())
    assert cents == round(out["open_after"] * 100)
    h = out["headings"]
    assert h["won"] == {"count": 2, "amount": -100.10}            # the quick win was never in the open pipeline
    assert h["vanished"] == {"count": 1, "amount": -900.90}
    assert h["pushed_out"] == {"count": 1, "amount": 9.70}        # its amount change goes with it
    assert h["created"] == {"count": 1, "amount": 0.07}
    assert sum(v["count"] for v in h.values()) == len(out["deals"]) == len(EXPECTED)
    gone = next(d for d in out["deals"] if d["opportunity_id"] == "gone")
    assert gone["amount_after"] is None and gone["amount_before"] == 900.90


def test_by_owner_splits_the_same_waterfall():
    result = sim.changes(OLD, NEW)
    groups = result.by("owner")
    assert set(groups) == {"Ann", "Bob"}
    assert sum(g["open_before"] for g in groups.values()) == pytest.approx(result.open_before)
    for g in groups.values():
        total = g["open_before"] + sum(v["amount"] for v in g["headings"].values())
        assert round(total, 2) == round(g["open_after"], 2)


def test_the_waterfall_figure_has_a_title_axes_with_the_currency_and_a_bar_per_heading():
    new = sim.Tables(opportunities=NEW.opportunities.assign(currency="EUR"))
    fig = sim.changes(OLD, new, "2026-02-01", "2026-02-08").figure()
    ax = fig.axes[0]
    assert "What changed in the open pipeline" in ax.get_title() and "EUR" in ax.get_ylabel()
    assert ax.get_xlabel()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "open before" and labels[-1] == "open after" and any("pushed out" in t for t in labels)


# ---- two as-of exports of one simulated history -------------------------------------------------------------
def truth(tables: sim.Tables, d1: str, d2: str) -> dict[str, dict]:
    """Counts and amounts per heading, worked out deal by deal from the simulated run itself."""
    opp = tables.opportunities.set_index("opportunity_id")
    hist = tables.stage_history
    order = list(schema.DEFAULT_STAGES)
    state = {}
    for d in (d1, d2):
        end = cutoff(d)
        rows = opp[opp["created_at"] < end]
        is_open = rows["closed_at"].isna() | (rows["closed_at"] >= end)
        state[d] = pd.DataFrame({
            "open": is_open,
            "outcome": np.where(is_open, "open", rows["outcome"]),
            "amount": np.where(is_open, rows["first_estimate"], rows["amount"]).round(2),
            "stage": rows.index.map(stage_at(hist, end)),
            "quarter": expected_close(rows["created_at"], d).dt.to_period("Q").where(is_open),
        })
    a, b = state[d1], state[d2]
    out = {h: {"count": 0, "cents": 0} for h in HEADINGS}
    for deal, now in b.iterrows():
        was = a.loc[deal] if deal in a.index else None
        before = round(was["amount"] * 100) if was is not None and was["open"] else 0
        after = round(now["amount"] * 100) if now["open"] else 0
        if was is None:
            heading = "created" if now["open"] else now["outcome"]
        elif not was["open"]:
            heading = "unchanged"
        elif not now["open"]:
            heading = now["outcome"]
        elif now["quarter"] > was["quarter"]:
            heading = "pushed_out"
        elif now["quarter"] < was["quarter"]:
            heading = "pulled_in"
        elif after != before:
            heading = "amount_up" if after > before else "amount_down"
        elif now["stage"] != was["stage"]:
            heading = "stage_forward" if order.index(now["stage"]) > order.index(was["stage"]) else "stage_back"
        else:
            heading = "unchanged"
        out[heading]["count"] += 1
        out[heading]["cents"] += after - before
    return out


@pytest.fixture(scope="module")
def history():
    return sim.simulate(sim.Scenario.preset("baseline"), seed=5).tables


@pytest.mark.parametrize("crm, layout", [("salesforce", []), ("hubspot", ["--history", "wide"]), ("pipedrive", [])])
def test_two_as_of_exports_of_one_history_show_the_changes_the_simulation_had(tmp_path, capsys, history, crm, layout):
    tables = history
    d1, d2 = "2026-09-20", "2026-10-04"     # across a quarter's end: deals are pushed out
    store = tmp_path / "h.duckdb"
    for d in (d1, d2):
        assert main(["synth", "--crm", crm, *layout, "--seed", "5", "--as-of", d, "--out", str(tmp_path / d)]) == 0
        assert main(["ingest", str(tmp_path / d), "--as-of", d, "--store", str(store)]) == 0
    capsys.readouterr()
    assert main(["changes", "--json", "--store", str(store)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["from"], out["to"]) == (d1, d2)
    expected = truth(tables, d1, d2)
    got = {h: {"count": v["count"], "cents": round(v["amount"] * 100)} for h, v in out["headings"].items()}
    assert got == expected
    assert expected["created"]["count"] and expected["won"]["count"] and expected["lost"]["count"]
    assert expected["pushed_out"]["count"] and expected["stage_forward"]["count"]
    ids = [d["opportunity_id"] for d in out["deals"]]
    assert len(ids) == len(set(ids)) == sum(v["count"] for v in out["headings"].values())
    cents = round(out["open_before"] * 100) + sum(v["cents"] for v in got.values())
    assert cents == round(out["open_after"] * 100)


def test_changes_needs_two_snapshots_and_says_which_dates_it_has(tmp_path, capsys):
    tables = sim.simulate(sim.Scenario.preset("baseline"), seed=2).tables
    sim.crm.synth.write_export(tables, "hubspot", tmp_path / "e", seed=2)
    store = tmp_path / "h.duckdb"
    assert main(["ingest", str(tmp_path / "e"), "--store", str(store)]) == 0
    capsys.readouterr()
    assert main(["changes", "--store", str(store)]) == 2
    assert "holds 1 snapshot(s)" in capsys.readouterr().err
    assert main(["changes", "--store", str(tmp_path / "none.duckdb")]) == 2
    assert "no store here yet" in capsys.readouterr().err
