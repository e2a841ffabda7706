"""Calibration on export shapes that are not the demo (issue 23): order lines, a lead funnel, one stage."""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest

import shapes
import sim
from sim.analysis import fit
from sim.analysis.fit import MONTH_DAYS, ONE_STAGE
from sim.crm import load


def test_a_deal_closed_the_day_it_opened_is_not_its_own_earlier_win():
    day = pd.Timestamp("2026-01-05")
    opp = pd.DataFrame({"opportunity_id": ["a", "b", "c", "d"], "account_id": ["X", "X", "Y", "Z"],
                        "created_at": [day, day + pd.Timedelta(days=3), day, day],
                        "closed_at": [day, day + pd.Timedelta(days=3), day, day + pd.Timedelta(days=9)],
                        "outcome": ["won", "won", "won", "lost"]})
    assert fit.repeat_business(opp).tolist() == [False, True, False, False]


def test_two_same_day_orders_of_one_account_count_one_as_repeat():
    day = pd.Timestamp("2026-01-05")
    opp = pd.DataFrame({"opportunity_id": ["a", "b"], "account_id": ["X", "X"], "created_at": [day, day],
                        "closed_at": [day, day], "outcome": ["won", "won"]})
    assert fit.repeat_business(opp).sum() == 1


@pytest.fixture(scope="module")
def orders(tmp_path_factory):
    csv, mapping = shapes.order_lines(tmp_path_factory.mktemp("orders"))
    return load(csv, mapping=mapping).tables


def test_order_lines_calibrate_with_each_customer_a_new_lead_once(orders):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)   # none reaches the user
        sc = sim.calibrate(orders, "baseline", refine=False)
    opp = orders.opportunities
    repeat = sc.calibration.evidence["accounts.repeat_per_year"]
    won = opp[opp["outcome"] == "won"].sort_values("closed_at", kind="stable")
    first = won.drop_duplicates("account_id").set_index("account_id")
    after_first = (opp["created_at"] >= opp["account_id"].map(first["closed_at"])) & ~opp["opportunity_id"].isin(first["opportunity_id"])
    assert repeat.n == int(after_first.sum()) > 0          # every order after an account's first win, not the first
    assert int(after_first.sum()) > len(opp) - opp["account_id"].nunique() - 40
    assert sc.market.leads_per_month > 1


def test_leads_are_counted_over_the_span_of_creation_dates(tmp_path):
    csv, mapping = shapes.lead_funnel(tmp_path, growth=0.0)          # a flat flow; closes run 60 days past the last lead
    tables = load(csv, mapping=mapping).tables
    created = tables.opportunities["created_at"]
    assert tables.opportunities["closed_at"].max() > created.max() + pd.Timedelta(days=20)
    span_days = (created.max() - created.min()).days + 1
    expected = len(created) / span_days * MONTH_DAYS
    sc = sim.calibrate(tables, "baseline", refine=False)
    e = sc.calibration.evidence["market.leads_per_month"]
    assert e.low <= expected <= e.high, (e.low, expected, e.high)
    assert math.isclose(sc.market.leads_per_month, expected, rel_tol=0.05)


def test_the_calibrated_scenario_keeps_the_exports_currency(tmp_path):
    csv, mapping = shapes.one_stage(tmp_path)
    sc = sim.calibrate(load(csv, mapping=mapping).tables, "baseline", refine=False)
    assert sc.currency == "EUR" and sc.calibration.evidence["currency"].fitted
    assert "currency: EUR" in sc.to_yaml()


def test_policies_naming_a_stage_run_in_the_one_stage_of_a_one_stage_export(tmp_path):
    csv, mapping = shapes.one_stage(tmp_path)
    tables = load(csv, mapping=mapping).tables
    for preset, key in (("bugs-in-evaluation", "bugs"), ("free-trials", "trials")):
        sc = sim.calibrate(tables, preset, refine=False)
        assert getattr(sc.policies, key).stage == ONE_STAGE
        assert any(f"policies.{key}.stage" in n and "one stage" in n for n in sc.calibration.notes)


def test_calibrate_on_a_funnel_reports_the_gate_and_the_validation_and_marks_the_yaml(tmp_path, capsys):
    from sim.cli import main
    from sim.explorer.app import status_html

    csv, mapping = shapes.lead_funnel(tmp_path)
    out = tmp_path / "funnel.yaml"
    code = main(["calibrate", str(csv), "--mapping", str(mapping), "-o", str(out), "--reps", "2"])
    text = capsys.readouterr()
    assert code in (0, 1) and out.exists()
    assert "DATA: No deal is marked lost" in text.out and "validation (2 simulated runs" in text.out
    assert "win probability 100" not in text.out and "RuntimeWarning" not in text.err
    yaml = out.read_text()
    assert "currency: BRL" in yaml and "Validated against the export (2 simulated runs)" in yaml
    assert "cannot show: No deal is marked lost" in yaml
    page = status_html(sim.Scenario.from_yaml(out))
    assert "failed its checks" in page and "Amounts in BRL" in page


def test_calibrate_on_order_lines_calibrates(tmp_path, capsys):
    from sim.cli import main

    csv, mapping = shapes.order_lines(tmp_path)
    out = tmp_path / "orders.yaml"
    assert main(["calibrate", str(csv), "--mapping", str(mapping), "-o", str(out), "--reps", "0"]) == 0
    assert "created and closed the same day" in capsys.readouterr().out
    assert sim.Scenario.from_yaml(out).market.leads_per_month > 1


def test_a_validation_that_compares_nothing_does_not_pass_and_its_figure_still_draws(tmp_path):
    csv, mapping = shapes.lead_funnel(tmp_path)
    tables = load(csv, mapping=mapping).tables
    sc = sim.calibrate(tables, "baseline", refine=False)
    check = sim.validate(sc, tables, n=2, seed=0, progress=False)     # 2 runs give no 95% band
    assert len(check.measures) == 0 and not check.passed
    assert check.verdict().startswith("could not be checked") and "3 or more" in check.verdict()
    assert check.figure() is not None
    assert not any("win probability" in line and "100" in line for line in check.summary())


def test_order_lines_calibrate_on_the_customer_orbits_preset(orders):
    sc = sim.calibrate(orders, "customer-orbits", refine=False)
    base = sim.Scenario.preset("customer-orbits")
    assert sc.accounts.repeat_per_year == base.accounts.repeat_per_year and sc.policies.orbits is not None
    assert any("customer-orbits policy drives expansion" in n for n in sc.calibration.notes)
