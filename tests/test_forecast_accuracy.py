"""Forecast accuracy on small hand-made tables (where every number can be checked by hand) and on a run."""

import numpy as np
import pandas as pd
import pytest

import sim
from sim.core import schema
from sim.analysis.forecast import TEAM, accuracy_summary, bookings, forecast_accuracy
from sim.analysis.snapshots import pipeline_at, rebuild_snapshots, slippage, stage_order, stage_win_rates
from sim.core.forecast_categories import normalise_categories
from sim.core.periods import period_bounds
from sim.crm import ExportError
from sim.crm.forecasts import read_forecasts
from sim.experiments.forecast_discipline import forecast_measure, forecast_scenarios, gap_at, habit_table, horizon_curves
from sim.core.schema import MissingColumns
from sim.core.tables import Tables

T = pd.Timestamp


def opportunities(rows):
    df = pd.DataFrame(rows, columns=["opportunity_id", "owner", "created_at", "closed_at", "outcome", "amount"])
    for c in ("created_at", "closed_at"):
        df[c] = pd.to_datetime(df[c])
    return schema.conform(df, "opportunities")


def forecasts(rows):
    df = pd.DataFrame(rows, columns=["as_of", "period", "owner", "category", "amount"])
    df["as_of"] = pd.to_datetime(df["as_of"])
    return schema.conform(df, "forecasts")


@pytest.fixture
def small() -> Tables:
    """Two reps, Q1 2026: A books 100 (Feb) and 50 (Mar 20), B books 30 (Mar 25); a deal lost; Q2 unfinished."""
    opp = opportunities([
        ("o1", "A", "2025-11-01", "2026-02-10", "won", 100.0),
        ("o2", "A", "2025-12-01", "2026-03-20", "won", 50.0),
        ("o3", "B", "2026-01-05", "2026-03-25", "won", 30.0),
        ("o4", "B", "2026-01-05", "2026-02-01", "lost", 80.0),
        ("o5", "A", "2026-03-01", "2026-04-20", "won", 70.0),
    ])
    fc = forecasts([
        # quarter start: A calls 120 commit, B 60 commit + 40 best case
        ("2026-01-01", "2026-Q1", "A", "Commit", 120.0),
        ("2026-01-01", "2026-Q1", "B", "Commit", 60.0),
        ("2026-01-01", "2026-Q1", "B", "Best Case", 40.0),
        # five weeks before the end: A closed 100 + commit 50, B commit 20 + pipeline 30
        ("2026-02-24", "2026-Q1", "A", "Closed", 100.0),
        ("2026-02-24", "2026-Q1", "A", "commit", 50.0),
        ("2026-02-24", "2026-Q1", "B", "commit", 20.0),
        ("2026-02-24", "2026-Q1", "B", "pipeline", 30.0),
        ("2026-04-01", "2026-Q2", "A", "commit", 70.0),
    ])
    hist = pd.DataFrame({"opportunity_id": [], "stage": [], "entered_at": [], "exited_at": []})
    return Tables(opportunities=opp, forecasts=fc, stage_history=schema.conform(hist.assign(
        entered_at=pd.to_datetime(hist["entered_at"]), exited_at=pd.to_datetime(hist["exited_at"])), "stage_history"))


def test_period_labels_of_common_forms():
    assert period_bounds("2026-Q1") == (T("2026-01-01"), T("2026-04-01"))
    assert period_bounds("2026Q4") == (T("2026-10-01"), T("2027-01-01"))
    assert period_bounds("Q2 2026") == (T("2026-04-01"), T("2026-07-01"))
    assert period_bounds("2026-02") == (T("2026-02-01"), T("2026-03-01"))
    with pytest.raises(ValueError, match="period 'spring' is not a period"):
        period_bounds("spring")


def test_categories_are_normalised_and_unknown_ones_named():
    got = normalise_categories(pd.Series(["Closed Won", "COMMIT", "best_case", "Omitted", None]))
    assert list(got) == ["closed", "commit", "best case", "omitted", "pipeline"]
    with pytest.raises(ValueError, match="unknown category 'gut feel'"):
        normalise_categories(pd.Series(["gut feel"]))
    assert list(normalise_categories(pd.Series(["gut feel"]), {"gut feel": "commit"})) == ["commit"]


def test_bookings_per_period_and_owner(small):
    got = bookings(small.opportunities, ["2026-Q1"]).set_index("owner")["actual"]
    assert got.to_dict() == {TEAM: 180.0, "A": 150.0, "B": 30.0}


def test_accuracy_uses_the_forecast_held_at_each_horizon(small):
    acc = forecast_accuracy(small, horizons=(0, 4, 13))
    assert set(acc["period"]) == {"2026-Q1"}          # Q2 had not ended when the data stops
    call = acc[(acc["category"] == "commit")].set_index(["horizon_weeks", "owner"])
    # 4 weeks out (cutoff Mar 4) the Feb 24 snapshot is held: team 100 + 50 + 20 = 170 against 180
    assert call.loc[(4, TEAM), "forecast"] == 170.0
    assert call.loc[(4, TEAM), "as_of"] == T("2026-02-24")
    assert call.loc[(4, TEAM), "error"] == -10.0
    assert call.loc[(4, "B"), "pct_error"] == pytest.approx((20 - 30) / 30)
    # 13 weeks out (cutoff Dec 31) no snapshot was taken yet
    assert 13 not in call.index.get_level_values(0)
    # the ladder is cumulative: best case adds B's 40 at quarter start, pipeline adds B's 30 later
    at0 = acc[(acc["horizon_weeks"] == 0) & (acc["owner"] == TEAM)].set_index("category")["forecast"]
    assert at0.to_dict() == {"closed": 100.0, "commit": 170.0, "best case": 170.0, "pipeline": 200.0}


def test_accuracy_summary_gives_mape_and_signed_bias(small):
    acc = forecast_accuracy(small, horizons=(4,))
    team = accuracy_summary(acc).loc[4]
    assert team["mape"] == pytest.approx(10 / 180)
    assert team["bias"] == -10.0
    owners = accuracy_summary(acc, owner=None).loc[4]
    assert owners["forecasts"] == 2
    assert owners["bias_pct"] == pytest.approx(((150 - 150) / 150 + (20 - 30) / 30) / 2)


def test_since_skips_early_periods(small):
    assert forecast_accuracy(small, since="2026-02-01").empty


def test_no_snapshots_means_a_clear_skip():
    with pytest.raises(MissingColumns, match="forecast accuracy needs column"):
        forecast_accuracy(Tables())


@pytest.fixture
def staged() -> Tables:
    """Three deals walking two stages in January-March 2026 (all times at midnight)."""
    opp = opportunities([
        ("d1", "A", "2026-01-01", "2026-01-21", "won", 100.0),
        ("d2", "A", "2026-01-01", "2026-01-11", "lost", 50.0),
        ("d3", "B", "2026-01-08", "2026-04-10", "won", 40.0),
    ])
    hist = pd.DataFrame([
        ("d1", "Needs Analysis", "2026-01-01", "2026-01-11"), ("d1", "Implementation", "2026-01-11", "2026-01-21"),
        ("d2", "Needs Analysis", "2026-01-01", "2026-01-11"),
        ("d3", "Needs Analysis", "2026-01-08", "2026-01-18"), ("d3", "Implementation", "2026-01-18", "2026-04-10"),
    ], columns=["opportunity_id", "stage", "entered_at", "exited_at"])
    hist[["entered_at", "exited_at"]] = hist[["entered_at", "exited_at"]].apply(pd.to_datetime)
    return Tables(opportunities=opp, stage_history=schema.conform(hist, "stage_history"))


def test_stage_probabilities_come_from_the_export(staged):
    assert stage_order(staged.stage_history) == ["Needs Analysis", "Implementation"]
    assert stage_win_rates(staged).to_dict() == {"Needs Analysis": pytest.approx(2 / 3), "Implementation": 1.0}


def test_rebuilt_snapshot_weights_the_open_pipeline(staged):
    fc = rebuild_snapshots(staged, probabilities={"Needs Analysis": 0.5, "Implementation": 0.9})
    first = fc[(fc["as_of"] == T("2026-01-01")) & (fc["period"] == "2026-Q1")].set_index(["owner", "category"])["amount"]
    # Jan 1: d1 and d2 in Needs Analysis (median 10 days + Implementation median 46 days -> Feb 26, in Q1)
    assert first[("A", "commit")] == 0.5 * 150
    assert first[("A", "pipeline")] == 0.5 * 150
    later = fc[(fc["as_of"] == T("2026-01-29")) & (fc["period"] == "2026-Q1")].set_index(["owner", "category"])["amount"]
    assert later[("A", "closed")] == 100.0              # d1 won on Jan 21
    assert later[("B", "commit")] == pytest.approx(0.9 * 40)


def test_slippage_counts_deals_that_closed_after_their_period(staged):
    got = slippage(staged, period="month").set_index("period")
    # Feb 1: d3 is open in Implementation since Jan 18; median stay 46 days -> expected Mar 5, not in Feb
    assert got.loc["2026-02", "expected"] == 0
    # Mar 1: expected in March, closed Apr 10: 9 days after the month ended
    assert got.loc["2026-03", "slipped"] == 1
    assert got.loc["2026-03", "median_slip_days"] == 9.0 and got.loc["2026-03", "still_open"] == 0


def test_rebuilt_closed_amounts_match_the_simulated_snapshots():
    """The same bookings-so-far whether the simulator wrote the snapshot or it was rebuilt from history."""
    res = sim.simulate(sim.Scenario.preset("baseline").replace({"policies.forecast": {"cadence": "weekly"}}), seed=3)
    rebuilt = rebuild_snapshots(res.tables)
    key = ["as_of", "period", "owner"]
    sim_closed = res.tables.forecasts.query("category == 'closed'").set_index(key)["amount"]
    re_closed = rebuilt.query("category == 'closed'").set_index(key)["amount"]
    common = sim_closed.index.intersection(re_closed.index)
    assert len(common) > 300
    pd.testing.assert_series_equal(sim_closed[common], re_closed[common], check_exact=False, atol=0.05)


def test_accuracy_runs_on_a_simulated_run():
    res = sim.simulate(sim.Scenario.preset("baseline").replace(
        {"days": 547, "policies.forecast": {"cadence": "monthly", "inclusion": "stage_weighted"}}), seed=1)
    acc = forecast_accuracy(res.tables, since="2026-07-01")
    assert set(acc["period"]) == {"2026-Q3", "2026-Q4", "2027-Q1", "2027-Q2"}
    assert set(acc["owner"]) == {TEAM, *(f"Rep {i:02d}" for i in range(1, 9))}
    summary = accuracy_summary(acc)
    assert summary.loc[0, "forecasts"] == 4
    # the summary is the mean over the four quarters of |call - booked| / booked, recomputed here by hand
    team = acc[(acc["owner"] == TEAM) & (acc["category"] == "commit") & (acc["horizon_weeks"] == 4)]
    booked = bookings(res.tables.opportunities, sorted(set(team["period"]))).query("owner == @TEAM").set_index("period")["actual"]
    by_hand = (team.set_index("period")["forecast"] - booked).abs() / booked
    assert summary.loc[4, "mape"] == pytest.approx(by_hand.mean())
    assert summary.loc[4, "bias_pct"] == pytest.approx(((team.set_index("period")["forecast"] - booked) / booked).mean())


def test_forecast_history_file_is_read_with_crm_headers(tmp_path):
    path = tmp_path / "forecast_history.csv"
    path.write_text("Snapshot Date,Period,Owner,Forecast Category,Amount\n"
                    "01/01/2026,2026-Q1,A,Commit,\"$1,200.50\"\n"
                    "01/01/2026,2026-Q1,A,Best Case,300\n", encoding="utf-8")
    fc = read_forecasts(path)
    assert list(fc["category"]) == ["commit", "best case"]
    assert list(fc["amount"]) == [1200.5, 300.0]
    assert fc["as_of"].iloc[0] == T("2026-01-01")


def test_forecast_history_errors_name_file_row_and_column(tmp_path):
    path = tmp_path / "fc.csv"
    path.write_text("As Of,Period,Amount\n2026-01-01,2026-Q1,100\n2026-01-08,2026-Q1,lots\n", encoding="utf-8")
    with pytest.raises(ExportError, match=r"fc.csv: column 'Amount' \(amount\) unreadable or empty at row 3: 'lots'"):
        read_forecasts(path)
    path.write_text("When,Amount\n2026-01-01,100\n", encoding="utf-8")
    with pytest.raises(ExportError, match="no column for as_of, period"):
        read_forecasts(path)


def test_exports_without_stage_history_are_read_as_one_stage(small):
    # o4 was lost in February; o5 created in March and won in April: one open deal on March 1
    live = pipeline_at(small, T("2026-03-01"))
    assert set(live["opportunity_id"]) == {"o2", "o3", "o5"}
    assert set(live["stage"]) == {"(open)"}
    rebuilt = rebuild_snapshots(small, cadence="monthly")
    assert set(rebuilt["category"]) == {"closed", "commit", "pipeline"}
    assert stage_win_rates(small).to_dict() == {"(open)": pytest.approx(4 / 5)}


def test_experiment_helpers_pair_habits_by_market():
    base = sim.Scenario.preset("baseline").replace(days=400)
    scenarios = forecast_scenarios(base, {"w": ("weekly", "evidence_gated"), "q": ("quarterly", "stage_weighted")},
                                   {"calm": 0.0})
    assert list(scenarios) == ["calm · w", "calm · q"]
    assert scenarios["calm · w"].policies.forecast.cadence == "weekly"
    runs = sim.replicate_each(scenarios, n=3, seed=1, measure=forecast_measure, progress=False, executor="serial")
    curves = horizon_curves(runs, "mape")
    assert set(curves["horizon_weeks"]) == {0, 4, 8, 13} and set(curves["habit"]) == {"w", "q"}
    gap = gap_at(runs, "w", "q").loc["calm"]
    w, q = (runs[runs["scenario"] == f"calm · {k}"].sort_values("replication")["mape_4w"].to_numpy() for k in "wq")
    assert (gap["a"], gap["b"]) == (pytest.approx(w.mean()), pytest.approx(q.mean()))
    half = 4.302653 * np.std(w - q, ddof=1) / np.sqrt(3)     # t(0.975, 2 df): the interval is paired, not two means
    assert (gap["diff_low"], gap["diff_high"]) == (pytest.approx(np.mean(w - q) - half), pytest.approx(np.mean(w - q) + half))
    table = habit_table(runs)
    assert table.loc[("calm", "w"), "review hours per rep"] > table.loc[("calm", "q"), "review hours per rep"]


def test_deals_still_open_at_the_end_count_as_slipped(staged):
    """d3 never closes; a later deal (no stage history) makes the data run into April."""
    opp = pd.concat([staged.opportunities.assign(closed_at=staged.opportunities["closed_at"].where(
        staged.opportunities["opportunity_id"] != "d3")), opportunities([("d4", "B", "2026-04-01", "2026-04-15", "won", 5.0)])])
    hist = staged.stage_history
    still = (hist["opportunity_id"] == "d3") & (hist["stage"] == "Implementation")
    got = slippage(Tables(opportunities=opp, stage_history=hist.assign(exited_at=hist["exited_at"].where(~still))),
                   period="month").set_index("period")
    assert got.loc["2026-03", "slipped"] == 1 and got.loc["2026-03", "still_open"] == 1
    assert np.isnan(got.loc["2026-03", "median_slip_days"])   # its slip is not known yet: not a number of days


def test_the_headline_names_what_it_scored(orders):
    """Notebook 05 once said "rebuilt from the stage history" of an export that has none (order lines)."""
    from sim.analysis.forecast import scored_source

    assert scored_source(orders) == ("a stage-weighted forecast rebuilt from creation and close dates (the export "
                                     "has no stage history)")
    simulated = sim.simulate(sim.Scenario.preset("baseline").replace(days=120), seed=1).tables
    assert scored_source(simulated) == "a stage-weighted forecast rebuilt from the stage history"
    with_history = sim.Tables(**{**dict(simulated.items()), "forecasts": pd.DataFrame(
        {"as_of": [pd.Timestamp("2026-02-01")], "period": ["2026-Q1"], "owner": ["Rep 1"], "category": ["commit"],
         "amount": [1000.0]})})
    assert scored_source(with_history) == "your team's forecast"
