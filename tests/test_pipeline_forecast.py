"""sim.forecast and sim.forecast_backtest on a generated export with known truth (the baseline team, two years).

The full acceptance check (several presets and seeds: 80% bands holding 70-90% of periods, MAPE against the
best baseline) takes many minutes and lives in benchmarks/bench_pipeline_forecast.py; these tests check what
each piece promises, cheaply.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import fit
from sim.analysis import forecast_baselines as fb
from sim.cli import main
from sim.crm.synth import write_export
from sim.experiments import pipeline_forecast as pf

T = pd.Timestamp
FAST = dict(draws=4, runs=2, executor="serial", progress=False)


@pytest.fixture(scope="module")
def generated():
    """Two years of the baseline team (about 1,300 deals), from 2026-01-01."""
    return sim.simulate(sim.Scenario.preset("baseline").replace(days=730), seed=5).tables


@pytest.fixture(scope="module")
def midquarter(generated):
    return sim.forecast(generated, as_of="2027-02-14", target=2_000_000, seed=1, **FAST)


def test_forecast_mid_quarter_counts_what_closed_and_resumes_what_is_open(generated, midquarter):
    fc = midquarter
    opp = generated.opportunities
    assert fc.period.label == "2027-Q1" and fc.as_of == T("2027-02-14")
    won = opp[(opp["outcome"] == "won") & (opp["closed_at"] >= T("2027-01-01")) & (opp["closed_at"] < T("2027-02-15"))]
    assert fc.closed == pytest.approx(won["amount"].sum())
    s = fc.summary()
    assert s["closed"] <= s["p10"] <= s["p50"] <= s["p90"]
    assert s["p_target"] == pytest.approx((fc.totals >= 2_000_000).mean())
    # every deal open on Feb 14th (created before, closed after or never) is in the pipeline, and resumed
    open_then = opp[(opp["created_at"] < T("2027-02-15")) & ~(opp["closed_at"] < T("2027-02-15"))]
    assert set(fc.live["opportunity_id"]) == set(open_then["opportunity_id"])
    assert fc.runs.attrs["open_deals"] == len(open_then)
    deals = fc.deals()
    assert deals["chance"].between(0, 1).all() and (deals["expected"] >= 0).all()
    assert deals["why"].str.contains("simulated runs").all()
    assert deals["expected"].is_monotonic_decreasing


def test_open_deals_without_a_creation_date_are_counted_and_said_not_silently_dropped(generated):
    """A deal the export gives no creation date cannot be placed in time (`fit.as_of`): the forecast leaves it out
    and says how many, in its lines and its summary (which the report's Forecast card shows)."""
    opp = generated.opportunities.copy()
    cut = T("2027-02-15")
    open_then = opp.index[(opp["created_at"] < cut) & ~(opp["closed_at"] < cut)]
    opp.loc[open_then[:3], "created_at"] = pd.NaT
    opp.loc[opp.index[(opp["outcome"] == "won") & (opp["closed_at"] < cut)][:2], "created_at"] = pd.NaT   # closed then
    fc = sim.forecast(sim.Tables(opportunities=opp, stage_history=generated.stage_history), as_of="2027-02-14", seed=1,
                      **FAST)
    assert fc.undated == 3 and fc.summary()["undated"] == 3 and len(fc.live) == len(open_then) - 3
    assert "3 more open deal(s) left out: the export gives no creation date" in "\n".join(fc.lines())


def test_by_owner_adds_up_to_the_team(midquarter):
    fc = midquarter
    owners = fc.by("owner")
    assert owners["closed"].sum() == pytest.approx(fc.closed)
    assert owners["open_deals"].sum() == len(fc.live)
    # run by run the owners' parts add up to the team's bookings, so their means do too
    assert owners["expected"].sum() == pytest.approx(fc.totals.mean(), rel=1e-9)
    segments = fc.by("segment")
    assert set(segments["segment"]) <= {"SMB", "Mid-market", "Enterprise", "(team)"}
    with pytest.raises(ValueError, match="by: 'region' is not allowed"):
        fc.by("region")
    fig = fc.figure()
    assert "2027-Q1 as of 2027-02-14" in fig.axes[0].get_title() and fig.axes[0].get_xlabel().startswith("bookings")


def test_forecast_uses_only_what_was_known(generated):
    """Change everything after the as-of (amounts of deals won later, deals created later): same forecast."""
    as_of, cut = "2027-03-31", T("2027-04-01")
    changed = generated.opportunities.copy()
    later = changed["closed_at"] >= cut
    changed.loc[later, "amount"] *= 10
    changed = changed[~((changed["created_at"] >= cut) & (changed.index % 2 == 0))]
    hist = generated.stage_history[generated.stage_history["opportunity_id"].isin(changed["opportunity_id"])]
    other = sim.Tables(opportunities=changed, stage_history=hist, accounts=generated.accounts)
    a = sim.forecast(generated, as_of=as_of, seed=3, **FAST).summary()
    b = sim.forecast(other, as_of=as_of, seed=3, **FAST).summary()
    assert a == b


def test_fit_uncertainty_draws_values_inside_their_intervals(generated):
    cut = T("2027-01-01")
    known = fit.as_of(generated, cut)
    sc = sim.calibrate(known, end=cut, refine=False)
    ranges = pf.uncertainty(sc, known, cut)
    assert "market.leads_per_month" in ranges
    # without the simulated stage fit, the stages carry the intervals of the export's own loss rate and median stay
    stays = fit.stays(known, cut, sc.stage_names)
    first = fit.stage_stats(stays[stays["stage"] == sc.stage_names[0]])
    v, lo, hi = ranges["stages.0.loss_chance"]
    assert (lo, hi) == pytest.approx((v + first.loss[1] - first.loss[0], v + first.loss[2] - first.loss[0]))
    assert all(f"stages.{i}.median_days" in ranges for i in range(len(sc.stages)))
    sets = pf.parameter_draws(sc, 30, np.random.default_rng(0), known, cut)
    assert sets[0] == {} and len(sets) == 30
    for path, (v, lo, hi) in ranges.items():
        xs = np.array([s[path] for s in sets[1:]])
        assert xs.std() > 0, path
        # a split normal clipped at 2.5 sd: within 1.28 half-widths beyond the 95% interval
        assert (xs >= v - 1.28 * (v - lo) - 1e-6).all() and (xs <= v + 1.28 * (hi - v) + 1e-6).all(), path
    # the stages' loss chances move together (one draw for the kind)
    loss = [p for p in ranges if p.endswith("loss_chance")]
    signs = np.sign([[s[p] - ranges[p][0] for p in loss] for s in sets[1:]])
    assert (signs.min(axis=1) == signs.max(axis=1)).all()


def test_runs_span_the_drawn_fitted_values(midquarter):
    """The runs come from every draw of the fitted values (the fit's uncertainty), `runs` of each."""
    runs = midquarter.runs
    assert runs["scenario"].nunique() == FAST["draws"] and len(runs) == FAST["draws"] * FAST["runs"]
    assert len(midquarter.totals) == len(runs)


def test_backtest_scores_every_method_on_the_same_cutoffs(generated):
    bt = sim.forecast_backtest(generated, cutoffs=4, draws=4, runs=2, seed=0, executor="serial", progress=False)
    assert len(bt.cutoffs) == 4 and bt.cutoffs[0] >= T("2026-04-01") and bt.cutoffs[-1] <= T("2027-10-01")
    opp = generated.opportunities
    for cut, g in bt.rows.groupby("cutoff"):
        period = fb.period_of(cut, "quarter", start=cut)
        assert g["actual"].iloc[0] == pytest.approx(fb.won_between(opp, period.start, period.end))
    s = bt.scores()
    assert set(s.index) == {"simulation", "stage_weighted", "run_rate", "categories", "deal_model"}
    assert np.isnan(s.loc["categories", "mape"])       # a generated export carries no forecast category
    for m in ("simulation", "stage_weighted", "run_rate", "deal_model"):
        assert 0 <= s.loc[m, "coverage80"] <= 1 and s.loc[m, "mape"] >= 0 and s.loc[m, "rank"] >= 1
    assert "simulation" in bt.verdict() and "MAPE" in bt.verdict()
    assert any("simulation" in line for line in bt.lines())
    assert bt.figure().axes[0].get_ylabel().startswith("bookings in the quarter")


def test_an_export_without_span_gets_a_sentence(generated, tmp_path, capsys):
    short = fit.as_of(generated, T("2026-05-15"))
    bt = sim.forecast_backtest(short, cutoffs=8, **FAST)
    assert bt.rows.empty and "no cutoff to test from" in bt.note and bt.scores().empty
    assert bt.lines() == [f"no backtest: {bt.note}"]
    assert bt.figure().axes[0].get_title().startswith("No backtest")
    with pytest.raises(ValueError, match="as_of: 2026-02-01 leaves less than 90 days"):
        sim.forecast(generated, as_of="2026-02-01", **FAST)
    with pytest.raises(ValueError, match="is after the export's last date"):
        sim.forecast(generated, as_of="2031-01-01", **FAST)


@pytest.fixture(scope="module")
def export(generated, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sf")
    write_export(generated, "salesforce", folder)
    return folder


def test_cli_forecast_writes_the_json_the_issue_names(export, tmp_path, capsys):
    out = tmp_path / "fc.json"
    code = main(["forecast", str(export), "--as-of", "2027-06-30", "--target", "2.4M", "--by", "owner",
                 "--draws", "3", "--runs", "2", "--json", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "2027-Q3" in text and "by owner:" in text and "chance of reaching the target 2.40M" in text
    data = json.loads(out.read_text())
    assert list(data) == ["as_of", "period", "closed", "p10", "p50", "p90", "p_target", "methods"]
    assert data["as_of"] == "2027-06-30" and data["period"] == "2027-Q3"
    assert set(data["methods"]) == {"simulation", "stage_weighted", "run_rate", "categories", "deal_model"}
    assert all(list(v) == ["mape", "bias", "coverage80", "pinball", "rank"] for v in data["methods"].values())
    assert data["methods"]["simulation"]["mape"] is None      # scores come with --backtest


@pytest.mark.parametrize("flags, message", [
    (["--horizon", "week"], "--horizon: 'week' is not allowed"),
    (["--target", "lots"], "--target: 'lots' is not an amount"),
    (["--as-of", "30/06/2027"], "--as-of: '30/06/2027' is not a date"),
    (["--as-of", "2026-01-15"], "cannot forecast: as_of: 2026-01-15 leaves less than 90 days"),
])
def test_cli_forecast_bad_flags_are_messages(export, flags, message, capsys):
    try:
        code = main(["forecast", str(export), *flags, "--draws", "2", "--runs", "1", "--no-progress"])
    except SystemExit as stop:      # argparse's own flag errors
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_report_forecast_card_and_page(generated, tmp_path):
    from sim.report.data import ReportData
    from sim.report.forecast_section import forecast_section, write_forecast_page
    from sim.report.pages import render

    section = forecast_section(generated, tmp_path, target=2_000_000, cutoffs=2, draws=3, runs=2, progress=False)
    assert section.summary["period"] == "2028-Q1" and not section.error
    assert {s["method"] for s in section.scores} >= {"simulation", "stage_weighted", "run_rate", "deal_model"}
    assert (tmp_path / section.figure).exists() and (tmp_path / section.backtest_figure).exists()
    common = dict(data=ReportData(label="generated", tables=generated), crm=None, mapping=None, generated="now")
    page = write_forecast_page(section, tmp_path, **common).read_text()
    assert "Per owner" in page and "Every open deal" in page and section.verdict.split(":")[0] in page
    index = render("index.html.j2", tmp_path / "index.html", forecast=section, cards=[], figures={}, all_ran=True,
                   status_line="", skipped_count=0, pages=set(), root="", here="report", **common).read_text()
    assert index.index('id="card-forecast"') < index.index('id="summary"')      # first on the front page
    assert "Chance of reaching the target 2.00M" in index and "left out" not in index
    section.summary["undated"] = 2                                            # open deals the export does not date
    index = render("index.html.j2", tmp_path / "index.html", forecast=section, cards=[], figures={}, all_ran=True,
                   status_line="", skipped_count=0, pages=set(), root="", here="report", **common).read_text()
    assert "2 more open deal(s) left out: the export gives no creation date" in index
    # an export too short to forecast: a sentence in the card, no error
    short = forecast_section(fit.as_of(generated, T("2026-02-15")), tmp_path / "short", progress=False)
    assert short.summary is None and "less than 90 days" in short.note and not short.error


def test_every_run_has_its_own_noise(generated, monkeypatch):
    """Draws of the same values must not repeat each other's runs (no common random numbers across draws)."""
    cut = T("2027-04-01")
    known = fit.as_of(generated, cut)
    sc = sim.calibrate(known, end=cut, refine=False)
    monkeypatch.setattr(pf, "parameter_draws", lambda sc, k, rng, known=None, cut=None, spread=None, recent=None: [{}] * k)
    runs = pf.simulate_period(known, cut, fb.period_of(cut, "quarter"), sc, fb.open_pipeline(known, cut), draws=4,
                              runs=1, seed=0, executor="serial", progress=False)
    assert runs["pipeline"].nunique() == 4


def test_an_export_taken_in_the_quarters_last_week_is_forecast_to_the_quarters_end():
    """A scenario runs at least 7 days; an export taken 6 days before the quarter ends (a leader's end-of-quarter
    call) once failed with "days: 6 is not allowed". The run now goes a week on and counts only what closes by the
    quarter's end."""
    tables = sim.simulate(sim.Scenario.preset("baseline").replace(days=540), seed=5).tables   # to 2027-06-24
    fc = sim.forecast(tables, draws=3, runs=1, seed=3)
    assert (fc.period.end - fc.as_of).days <= 7
    low, high = np.percentile(fc.totals, [10, 90])
    assert fc.closed > 0 and fc.closed <= low <= high < 1.2 * fc.closed        # six days add a little to the quarter


def test_the_forecast_per_owner_of_an_export_without_owners_is_a_skip_not_a_failure(orders):
    """Order lines with no owner column: notebook 14 failed on `fc.by("owner")` ("ValueError: by: the export has no
    owner column"). `by` now says which column is missing, as every analysis does, so the notebook skips that
    table, saying why, and the CLI's error names it."""
    from sim.core.schema import MissingColumns

    pytest.importorskip("IPython")
    from sim import notebook

    fc = sim.forecast(orders, draws=2, runs=1, seed=1)
    with pytest.raises(MissingColumns, match="the forecast by owner needs column\\(s\\) owner"):
        fc.by("owner")
    shown = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(notebook, "_show", lambda obj, role, **meta: shown.append((role, meta)))
        assert notebook.guarded("the forecast per owner", fc.by, "owner") is None
    assert [(role, meta["analysis"], meta["missing"]) for role, meta in shown] == [
        ("skipped", "the forecast per owner", ["owner"])]


def test_a_report_makes_its_forecast_once_for_the_notebook_and_the_front_page(generated, tmp_path, monkeypatch):
    """The forecast notebook and the report's Forecast card ask for the same forecast and backtest: the first makes
    them, the other reads them (and shows the very same numbers); other settings are made anew."""
    import functools

    import sim.notebook
    import sim.report.forecast_section as section_module
    from sim.experiments import forecast_backtest as fbt
    from sim.report.forecast_section import forecast_section
    from sim.report.shared import ENV, share

    made = []

    def counted(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            made.append(fn.__name__)
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(sim.notebook, "pipeline_forecast", counted(pf.forecast))
    monkeypatch.setattr(sim.notebook, "backtest_forecasts", counted(fbt.forecast_backtest))
    monkeypatch.setattr(section_module, "forecast", counted(pf.forecast))
    monkeypatch.setattr(section_module, "forecast_backtest", counted(fbt.forecast_backtest))
    entry = share(generated, tmp_path, tmp_path / "export.csv", None, None)[ENV]
    monkeypatch.setenv(ENV, entry)                     # in a kernel of the report: notebook 14 with the report's settings
    fc = sim.notebook.forecast(generated, as_of=None, horizon="quarter", target=2_000_000, draws=3, runs=2, seed=4)
    bt = sim.notebook.forecast_backtest(generated, cutoffs=2, horizon="quarter", draws=3, runs=2, seed=4)
    assert made == ["forecast", "forecast_backtest"]
    monkeypatch.delenv(ENV)                            # the report's own process
    section = forecast_section(generated, tmp_path / "site", target=2_000_000, seed=4, cutoffs=2, draws=3, runs=2,
                               progress=False, shared=entry)
    assert made == ["forecast", "forecast_backtest"]   # read, not made again
    assert section.summary == fc.summary() and section.verdict == bt.verdict()
    forecast_section(generated, tmp_path / "other", target=2_000_000, seed=5, cutoffs=2, draws=3, runs=2,
                     progress=False, shared=entry)
    assert made == ["forecast", "forecast_backtest"] * 2   # another seed: another forecast
    forecast_section(generated, tmp_path / "alone", target=2_000_000, seed=4, cutoffs=2, draws=3, runs=2, progress=False)
    assert len(made) == 6                               # outside a report nothing is shared
