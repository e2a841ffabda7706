"""The gate on the report's cards and in the notebooks' skips (issue 23)."""

from __future__ import annotations

import pytest

import shapes
from sim import notebook
from sim.analysis import sufficiency as gate
from sim.crm import load
from sim.report.cards import Card, Skip
from sim.report.gate import apply_gate, needs


def test_a_win_rate_headline_on_a_funnel_that_never_loses_is_replaced_by_the_reason(funnel):
    cards = [Card("01-force-concentration", "Force", 1.0, headline="Organic search wins 100% of its closed deals"),
             Card("12-pareto-fractal", "Pareto", 1.0, headline="The top 20% of accounts bring 60% of won revenue"),
             Card("10-free-trials", "Trials", 1.0, headline="Of the decided trials, 30% converted")]
    apply_gate(cards, gate.sufficiency(funnel))
    assert cards[0].gated.startswith("Not measured on this export: No deal is marked lost")
    assert "100%" not in cards[0].gated.split("would read")[0]
    assert "won amounts are 0 or missing" in cards[1].gated          # mostly-zero amounts
    assert cards[2].gated is None                                      # trials need neither


def test_every_principle_with_a_rate_or_amount_headline_declares_what_it_needs():
    assert gate.WIN_RATES in needs("01-force-concentration") and gate.PER_REP in needs("07-incentive-design")
    assert needs("99-new-notebook") == ()


def test_a_healthy_export_keeps_its_headlines(tmp_path):
    csv, mapping = shapes.one_stage(tmp_path)
    cards = [Card("01-force-concentration", "Force", 1.0, headline="Inbound wins 31% of its closed deals")]
    apply_gate(cards, gate.sufficiency(load(csv, mapping=mapping).tables))
    assert cards[0].gated is None


def test_win_backs_on_order_lines_are_not_read_as_a_pipeline_won_back(orders):
    """A cancelled order followed by a delivered one is not a lost deal won back: on order lines (created and
    closed the same day) card 09 gives that reason instead of "15 of 15 won back (100%)"."""
    cards = [Card("09-second-place", "Second place", 1.0, headline="Of 15 accounts whose first closed deal was lost, "
                  "15 were won back so far (100%, 95% CI 80%-100%).")]
    apply_gate(cards, gate.sufficiency(orders))
    assert cards[0].gated and "order lines, not a pipeline" in cards[0].gated and "100%" not in cards[0].gated


def test_a_skip_names_the_missing_table_not_columns_the_export_has(funnel, orders):
    assert gate.missing_words(["opportunity_id", "stage", "entered_at"], funnel).startswith("stage history")
    assert gate.missing_words(["opportunity_id", "kind"], funnel).startswith("activities")
    assert gate.missing_words(["owner"], orders) == "column(s) owner"
    assert Skip("stage order", ("opportunity_id", "stage"), "stage history (a file of stage changes per deal)").said \
        .startswith("stage history")


def test_notebook_tables_without_an_owner_column_skip_per_owner_analyses(orders, monkeypatch):
    from sim.analysis import incentives as inc

    shown = []
    monkeypatch.setattr(notebook, "_show", lambda obj, role, **meta: shown.append((role, meta)))
    opp = notebook.with_every_column(orders).opportunities
    assert opp["owner"].nunique() == 0 and opp["owner"].isna().all()     # notebook 07 counts 0 owners, no KeyError
    assert notebook.guarded("attainment per owner", inc.owner_attainment, opp, None, "quarter") is None
    assert shown[-1][0] == "skipped" and shown[-1][1]["missing"] == ["owner"]


def test_the_notebook_shows_the_gate_and_falls_back_to_the_preset_with_the_reason(funnel, monkeypatch):
    shown = []
    monkeypatch.setattr(notebook, "_show", lambda obj, role, **meta: shown.append((obj.data, role, meta)))
    notebook.show_gate(funnel)
    assert shown[0][1] == "gate" and {f["key"] for f in shown[0][2]["findings"]} >= {"no_lost", "zero_amounts"}
    sc = notebook.starting_scenario("baseline", "exports/funnel.csv", funnel)
    text, role, meta = shown[-1]
    assert role == "scenario" and not meta["calibrated"] and "No deal is marked lost" in meta["fallback"]
    assert sc.name == "baseline" or sc.reps.count == notebook.Scenario.preset("baseline").reps.count


def test_a_notebook_that_printed_bundled_data_gets_the_example_data_label(tmp_path):
    import nbformat

    from sim.report.cards import card_from_run
    from sim.report.run import Run

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Free trials"), nbformat.v4.new_code_cell("print(...)")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="778 trial subscriptions (shared/data/ravenstack)")]
    path = tmp_path / "10-free-trials.ipynb"
    nbformat.write(nb, path)
    card = card_from_run(Run(path, path, 1.0))
    assert card.example_data and "RavenStack" in card.example_data
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="312 trials in your export")]
    nbformat.write(nb, path)
    assert card_from_run(Run(path, path, 1.0)).example_data is None
    nb.cells[1].source = 'folder = project / "shared/data/ravenstack"\nprint(f"{len(public):,} trial subscriptions")'
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="778 trial subscriptions")]
    nbformat.write(nb, path)
    assert card_from_run(Run(path, path, 1.0)).example_data is not None     # the cell read the bundled set
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="No subscription data found (looked in: x)")]
    nbformat.write(nb, path)
    assert card_from_run(Run(path, path, 1.0)).example_data is None         # it was not there: nothing shown


def test_the_front_page_says_what_the_export_cannot_show_and_how_each_what_if_ran(funnel, tmp_path):
    from sim.report.build import _write_pages
    from sim.report.data import ReportData

    g = gate.sufficiency(funnel)
    cards = [
        Card("01-force-concentration", "Force", 1.0, headline="Organic search wins 100% of its closed deals",
             whatif="16 days sooner", scenario={"preset": "baseline", "calibrated": False, "passed": None, "verdict": None,
                                                "fallback": "a calibration of this export would simulate nonsense (x)"}),
        Card("12-pareto-fractal", "Pareto", 1.0, headline="top 20%", whatif="+1.99 million",
             scenario={"preset": "baseline", "calibrated": True, "passed": False, "fallback": None,
                       "verdict": "fails 2 of 5 checks: deal size, bookings per month"}),
        Card("10-free-trials", "Trials", 1.0, whatif="+4 points", example_data="RavenStack, a public synthetic SaaS data set",
             scenario={"preset": "free-trials", "calibrated": True, "passed": True, "fallback": None,
                       "verdict": "passes all 5 checks"}),
    ]
    apply_gate(cards, g)
    _write_pages(tmp_path, ReportData("funnel.csv", funnel, gate=g), cards, crm=None, mapping=None)
    index = (tmp_path / "index.html").read_text()
    assert 'id="gate-no_lost"' in index and "What this export cannot show" in index
    force = index.split('id="card-01-force-concentration"')[1].split("</article>")[0]
    assert "wins 100%" not in force and "Not measured on this export" in force
    assert "not on your pipeline: a calibration of this export would simulate nonsense" in force
    pareto = index.split('id="card-12-pareto-fractal"')[1].split("</article>")[0]
    assert "a calibration of your export that fails 2 of 5 checks: deal size, bookings per month" in pareto
    trials = index.split('id="card-10-free-trials"')[1].split("</article>")[0]
    assert "Example data, not yours" in trials and "passes all 5 checks" in trials
    assert "BRL" in index                                              # the export's currency in what went in
    quality = (tmp_path / "data-quality.html").read_text()
    assert "What this export cannot show" in quality and "please report" not in quality


def test_a_comparison_headline_on_too_few_closed_deals_is_replaced(tmp_path):
    csv, mapping = shapes.one_stage(tmp_path)
    tables = load(csv, mapping=mapping).tables
    opp = tables.opportunities.sort_values("created_at").head(25).reset_index(drop=True)
    small = tables.__class__(**{**dict(tables.items()), "opportunities": opp})
    cards = [Card("11-sweet-spot", "Sweet spot", 1.0, headline="By fit band, high wins 100% of its closed deals")]
    apply_gate(cards, gate.sufficiency(small))
    assert cards[0].gated and "too few to compare" in cards[0].gated


def test_open_as_lost_in_a_report_lists_every_deal_it_turned_lost(tmp_path):
    from sim.report.data import load_export

    csv, mapping = shapes.lead_funnel(tmp_path)
    data = load_export(csv, mapping=mapping)
    assert data.gate.has("no_lost") and data.currency == "BRL"
    fixed = data.with_open_as_lost(None)
    added = fixed.repaired[fixed.repaired["column"] == "outcome"]
    lost = fixed.tables.opportunities["outcome"].eq("lost").sum()
    assert len(added) == lost > 0 and added["reason"].str.contains("counted as lost").all()
    assert not fixed.gate.has("no_lost") and fixed.gate.notes and fixed.gate.repaired == lost
    assert data.tables.opportunities["outcome"].eq("lost").sum() == 0    # the loaded data is left as it was


def test_a_skip_on_a_table_passed_alone_still_names_the_missing_table(funnel, monkeypatch):
    from sim.analysis import trials

    shown = []
    monkeypatch.setattr(notebook, "_show", lambda obj, role, **meta: shown.append((role, meta)))
    monkeypatch.setattr(notebook, "_LOADED", [funnel])
    assert notebook.guarded("trial conversion", trials.trials, funnel.activities, opportunities=funnel.opportunities) is None
    assert shown[-1][0] == "skipped" and shown[-1][1]["lacks"].startswith("activities")


def test_the_data_quality_page_lists_the_files_of_the_export_folder_that_were_not_read(tmp_path):
    from sim.report.build import _write_pages
    from sim.report.data import load_export

    folder = tmp_path / "export"
    csv, mapping = shapes.one_stage(folder)
    (folder / "README.txt").write_text("Exported from our CRM on Monday.\n")
    (folder / "~$deals.xlsx").write_bytes(b"\x00lock")
    moved = mapping.rename(tmp_path / mapping.name)           # the mapping lives beside, not in, the export
    data = load_export(folder, mapping=moved)
    assert any(n.startswith("~$deals.xlsx: an Office lock file") for n in data.not_read)
    assert any(n.startswith("README.txt: its header") and "does not fit" in n for n in data.not_read)
    assert data.overview()["files or sheets not read"].startswith("2 ")
    out = tmp_path / "site"
    out.mkdir()
    _write_pages(out, data, [], crm=None, mapping=str(moved))
    quality = (out / "data-quality.html").read_text()
    section = quality.split('id="not-read"')[1].split("</ul>")[0]
    assert "~$deals.xlsx" in section and "README.txt" in section and "lock file" in section
    assert "not read" in (out / "index.html").read_text()


def test_an_export_that_states_no_currency_is_said_so_on_the_front_page(tmp_path):
    from sim.report.data import load_export

    csv, mapping = shapes.order_lines(tmp_path)
    plain = load_export(csv, mapping=mapping)
    assert plain.overview()["currency"].startswith("not stated in the export") and plain.currency_unstated
    assert "the forecast and what-ifs show them in their preset's currency" in plain.overview()["currency"]
    csv, mapping = shapes.one_stage(tmp_path / "eur")
    stated = load_export(csv, mapping=mapping)
    assert stated.overview()["currency"] == "EUR" and not stated.currency_unstated
    from sim.report.build import _write_pages

    for name, data, said in (("plain", plain, "amounts: currency not stated"), ("eur", stated, "amounts in EUR")):
        (tmp_path / name).mkdir(exist_ok=True)
        _write_pages(tmp_path / name, data, [], crm=None, mapping=None)
        for page in ("index.html", "data-quality.html"):                     # every page's header says it
            assert said in (tmp_path / name / page).read_text(), (name, page)


def test_the_calibration_notebooks_what_if_on_a_blocked_calibration_says_why(funnel, orders):
    """Card 13 calibrates the export itself (to show the fit): on a funnel that never loses, its tornado swing
    ('+22,972,765 BRL' on a few thousand BRL of real bookings) is replaced by the reason and the offered fix."""
    cards = [Card("13-assumptions", "Assumptions", 1.0, headline="passes 3 of 5",
                  whatif="The assumption that moves the year's bookings most is All deals: deal size: +22,972,765 BRL"),
             Card("12-pareto-fractal", "Pareto", 1.0, whatif="A 5-rep team ... +1.37 million USD")]
    apply_gate(cards, gate.sufficiency(funnel))
    assert "22,972,765" not in cards[0].whatif and cards[0].whatif.startswith("Not measured on this export")
    assert "No deal is marked lost" in cards[0].whatif and "--open-as-lost" in cards[0].whatif
    assert cards[1].whatif == "A 5-rep team ... +1.37 million USD"        # ran on the preset, labelled as such
    kept = [Card("13-assumptions", "Assumptions", 1.0, whatif="+22,127 USD")]
    apply_gate(kept, gate.sufficiency(orders))                             # order lines calibrate: the swing stays
    assert kept[0].whatif == "+22,127 USD"


def test_no_forecast_of_a_funnel_that_never_loses_and_has_no_amounts(funnel, tmp_path):
    """The report's Forecast is bookings simulated on the export's calibration: on a lead funnel (no deal lost,
    146 of 155 won amounts 0) it once headlined a P50 of 8.61M BRL and a backtest error of 331,663,737%. It now
    says why there is no forecast, with the gate's fix, and a healthy export still gets one."""
    from sim.report.gate import FORECAST, forecast_blocked

    why = forecast_blocked(gate.sufficiency(funnel))
    assert why.startswith("Not measured on this export: No deal is marked lost")
    assert "won amounts are 0 or missing" in why and "--open-as-lost" in why
    assert needs("14-forecast") == FORECAST
    csv, mapping = shapes.one_stage(tmp_path)
    assert forecast_blocked(gate.sufficiency(load(csv, mapping=mapping).tables)) is None
    assert forecast_blocked(None) is None


def test_the_report_of_a_funnel_opens_with_why_there_is_no_forecast(tmp_path):
    import re
    import shutil
    from pathlib import Path

    from sim.report import build_report

    csv, mapping = shapes.lead_funnel(tmp_path / "export")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(Path(__file__).parent / "fixtures" / "report_notebooks" / "01-runs.ipynb", notebooks)
    report = build_report(csv, tmp_path / "report", mapping=mapping, notebooks=notebooks, workers=1, progress=False)
    front = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (report.path / "index.html").read_text()))
    assert "No forecast Not measured on this export: No deal is marked lost" in front
    assert "MAPE" not in front and "P50" not in front
