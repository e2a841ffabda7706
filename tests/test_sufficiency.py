"""The data-sufficiency gate on the export shapes that are not the demo (issue 23): one test per finding."""

from __future__ import annotations

import pandas as pd
import pytest

import shapes
from sim.analysis import sufficiency as gate
from sim.crm import load


@pytest.fixture(scope="module")
def deals(tmp_path_factory):
    csv, mapping = shapes.one_stage(tmp_path_factory.mktemp("deals"))
    return load(csv, mapping=mapping).tables


def keys(tables) -> set[str]:
    return {f.key for f in gate.sufficiency(tables).findings}


def test_a_funnel_that_never_loses_switches_off_win_rates_and_calibration(funnel):
    g = gate.sufficiency(funnel)
    assert g.has("no_lost") and g.lost == 0 and g.won > 0 and g.open > g.won
    assert {f.key for f in g.blocks(gate.WIN_RATES)} == {"no_lost"}
    assert "every win rate would read 100%" in g.calibration_blocked()
    line = next(f.line() for f in g.findings if f.key == "no_lost")
    assert f"more than {g.idle_days} days" in line and "--open-as-lost" in line


def test_mostly_zero_won_amounts_switch_off_amounts(funnel, deals):
    g = gate.sufficiency(funnel)
    zero = next(f for f in g.findings if f.key == "zero_amounts")
    won = funnel.opportunities[funnel.opportunities["outcome"] == "won"]
    empty = int((won["amount"].fillna(0) <= 0).sum())
    assert f"{empty:,} of {len(won):,} won amounts are 0 or missing" in zero.text and gate.AMOUNTS in zero.off
    assert "zero_amounts" not in keys(deals)


def test_the_currency_comes_from_the_mapping(funnel, orders, deals):
    assert gate.sufficiency(funnel).currency == "BRL"
    assert gate.sufficiency(deals).currency == "EUR"
    assert gate.sufficiency(orders).currency is None


def test_order_lines_closed_the_day_they_open_switch_off_cycle_times(orders, deals):
    assert "same_day" in keys(orders)
    assert "same_day" not in keys(deals)
    assert gate.sufficiency(orders).blocks(gate.CYCLE)


def test_no_owner_switches_off_per_rep_figures(orders, deals):
    assert "no_owner" in keys(orders) and "no_owner" not in keys(deals)
    assert "columns: owner:" in next(f.line() for f in gate.sufficiency(orders).findings if f.key == "no_owner")


def test_no_stage_history_is_one_stage(deals):
    assert "one_stage" in keys(deals)
    assert gate.sufficiency(deals).blocks(gate.STAGES)


def test_too_few_closed_deals_and_too_short_a_span(deals):
    opp = deals.opportunities
    first = opp.sort_values("created_at").head(25)   # the first weeks: few closed, short span
    small = deals.__class__(**{**dict(deals.items()), "opportunities": first.reset_index(drop=True)})
    found = keys(small)
    assert {"few_closed", "short_span"} <= found
    assert "few_closed" not in keys(deals) and "short_span" not in keys(deals)


def test_a_healthy_export_passes_the_gate_on_win_rates(deals):
    g = gate.sufficiency(deals)
    assert not g.blocks(gate.WIN_RATES, gate.AMOUNTS, gate.CYCLE, gate.PER_REP) and g.calibration_blocked() is None


def test_open_as_lost_is_a_listed_repair_with_n_from_the_cycle_tail(funnel):
    n = gate.idle_days(funnel)
    days = gate.days_to_win(funnel.opportunities)
    assert (days <= n).mean() >= 0.95 and n >= gate.MIN_IDLE_DAYS
    repaired, repairs, used = gate.open_as_lost(funnel)
    assert used == n and len(repairs) > 0
    before, after = funnel.opportunities.set_index("opportunity_id"), repaired.opportunities.set_index("opportunity_id")
    changed = after.index[after["outcome"] != before["outcome"]]
    assert sorted(changed) == sorted(repairs["opportunity_id"])          # every change is listed
    assert (before.loc[changed, "outcome"] == "open").all() and (after.loc[changed, "outcome"] == "lost").all()
    end = gate.export_end(funnel)
    idle = (end - before.loc[changed, "created_at"]) / pd.Timedelta(days=1)
    assert (idle > n).all()                                              # only deals idle longer than N
    assert (after.loc[changed, "closed_at"] <= end).all()
    assert not gate.sufficiency(repaired, len(repairs)).has("no_lost")
    assert funnel.opportunities["outcome"].eq("lost").sum() == 0          # the input is left as it was


def test_open_as_lost_with_a_given_n(funnel):
    _, short, _ = gate.open_as_lost(funnel, days=30)
    _, long, _ = gate.open_as_lost(funnel, days=300)
    assert len(short) > len(long)


def test_check_tells_mapped_but_empty_from_missing_and_prints_the_gate(tmp_path, capsys):
    from sim.cli import main

    csv, mapping = shapes.order_lines(tmp_path)
    assert main(["check", str(csv), "--mapping", str(mapping)]) == 0
    out = capsys.readouterr().out
    missing = next(line for line in out.splitlines() if "not in the export" in line)
    assert "owner" in missing and "stage" not in missing
    assert "stage is mapped (from 'order_status') but every label maps to won or lost" in out
    assert "DATA: 900 of 900 closed deals were created and closed the same day" in out
    assert "DATA: The export has no owner" in out


def test_check_with_open_as_lost_lists_the_repairs(tmp_path, capsys):
    from sim.cli import main

    csv, mapping = shapes.lead_funnel(tmp_path)
    assert main(["check", str(csv), "--mapping", str(mapping), "--open-as-lost", "120", "--show", "1"]) == 0
    out = capsys.readouterr().out
    assert "currency: BRL" in out and "no activity for more than 120 days" in out and "No deal is marked lost" not in out
    assert main(["check", str(csv), "--mapping", str(mapping), "--open-as-lost", "soon"]) == 2
    assert "--open-as-lost: 'soon' is not a whole number" in capsys.readouterr().err


def test_a_keep_entry_naming_a_canonical_column_in_any_case_is_read_as_that_column(tmp_path):
    (tmp_path / "x.csv").write_text("Deal,Status,Product,Lead Source,Region\nA1,Won,Alpha,Web,North\nA2,Lost,Beta,Fair,South\n")
    (tmp_path / "m.yaml").write_text("columns: {opportunity_id: Deal, stage: Status}\nstages: {Won: won, Lost: lost}\n"
                                     "keep: [Product, Lead Source, Region]\n")
    res = load(tmp_path / "x.csv", mapping=tmp_path / "m.yaml")
    opp = res.tables.opportunities
    assert opp["product"].tolist() == ["Alpha", "Beta"] and opp["lead_source"].tolist() == ["Web", "Fair"]
    assert opp["Region"].tolist() == ["North", "South"]
    assert any("keep: Product names the canonical column product" in n for n in res.summary()["notes"])
