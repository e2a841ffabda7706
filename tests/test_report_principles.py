"""A real principle notebook, end to end: a generated CRM export, `playbook report`, and the card it makes.

The other report tests run small fixture notebooks; this one runs the real 01 notebook (with `reps=2`, the
fewest replications that still give intervals, so it stays quick) on a Salesforce export written by
`sim.crm.synth`, and checks that its card carries the number measured on that export first and the
simulator's what-if second, both exactly as the notebook computed them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import sim
from sim.analysis import model_cards
from sim.report import build_report

ROOT = Path(__file__).resolve().parents[1]


def export_and_notebook(tmp_path: Path, notebook: str, days: int) -> tuple[Path, Path]:
    """A Salesforce export of `days` of the baseline team (sim.crm.synth), and a folder holding only `notebook`."""
    synth = pytest.importorskip("sim.crm.synth")
    tables = sim.simulate(sim.Scenario.preset("baseline").replace(days=days), seed=5).tables
    export = tmp_path / "export"
    synth.write_export(tables, "salesforce", export, seed=5)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(ROOT / "notebooks" / f"{notebook}.ipynb", notebooks)
    return export, notebooks


def test_the_report_runs_a_real_principle_notebook_on_a_generated_export(tmp_path, light_forecast):
    from sim.crm import load

    export, notebooks = export_and_notebook(tmp_path, "01-force-concentration", days=365)

    report = build_report(export, tmp_path / "report", notebooks=notebooks, playbook=ROOT / "playbook", reps=2,
                          workers=1, progress=False)

    card = report.cards[0]
    assert card.status == "ok", (card.error, card.skipped)
    assert card.headline == model_cards.data_headline(load(export).tables.opportunities)   # measured on the export
    assert card.headline.startswith("Of the lead sources, ")
    assert card.whatif.startswith("A new 2-rep team that works Mid-market deals first reaches its first 5 customers")
    assert card.figure_png.startswith(b"\x89PNG")
    for page in ("index.html", "playbook/01-force-concentration.html"):
        html = (report.path / page).read_text()
        assert card.headline in html and card.whatif in html, page
        assert html.index(card.headline) < html.index(card.whatif), page          # the data first


def test_a_headline_says_where_it_comes_from():
    pytest.importorskip("IPython")
    from sim import notebook

    with pytest.raises(ValueError, match="source: 'guess' is not allowed"):
        notebook.headline("a number", source="guess")


def test_the_forecast_notebooks_card_states_the_front_pages_forecast(tmp_path, light_forecast):
    """The report's front page opens with its Forecast (`sim.report.forecast_section`) and has a card for notebook
    14, which forecasts the same quarter: given the section's seed, target, cutoffs, draws and runs, it states the
    same P50 and the same backtest error, not a second forecast with other numbers beside the first."""
    import re

    export, notebooks = export_and_notebook(tmp_path, "14-forecast", days=540)    # to 2027-06-24: a quarter's last week

    report = build_report(export, tmp_path / "report", notebooks=notebooks, playbook=ROOT / "playbook", seed=3,
                          target=900_000, workers=1, progress=False)

    card = report.cards[0]
    assert card.status == "ok", (card.error, card.skipped)
    front = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (report.path / "index.html").read_text()))
    p50 = re.search(r"Forecast \S+: P50 (\S+ \w+)", front)
    mape = re.search(r"MAPE (\d+\.\d%) against", front)
    assert p50 and mape, front[:800]
    assert f"P50 {p50[1]}" in card.headline and f"MAPE {mape[1]}" in card.headline, (card.headline, p50[1], mape[1])
