"""Notebooks 03 and 08 run unchanged on a CRM export with activity files next to it (a simulated Salesforce
export with 12 broken rows, its meetings written as a Salesforce Event export and a call recorder's CSV),
and skip nothing: every export analysis finds the columns it needs."""

from pathlib import Path

import nbformat
import pytest

import sim
from sim.crm import activities, synth

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    tables = sim.simulate(sim.Scenario.preset("meetings"), seed=7).tables
    synth.write_export(tables, "salesforce", folder, seed=7, broken=12)
    digits = tables.opportunities["opportunity_id"].str.replace(r"\D", "", regex=True)
    ids = dict(zip(tables.opportunities["opportunity_id"], "006" + digits.str.zfill(12) + "AAA"))
    for name, (frame, how) in activities.export_files(tables.activities, "salesforce", ids).items():
        frame.to_csv(folder / name, index=False, encoding=how.get("encoding", "utf-8"))
    return folder


@pytest.mark.parametrize(("notebook", "expected"), [
    ("03-active-listening", ["win_rate", "someone never spoke", "Reps who talk 45% instead of 65%"]),
    ("08-lunch-at-their-office", ["attendees at the first meeting", "show_rate", "lunch at the prospect's office"]),
])
def test_notebook_runs_on_an_export_with_activities_and_skips_nothing(tmp_path, export, notebook, expected):
    import papermill

    out = tmp_path / f"{notebook}.ipynb"
    parameters = {"export": str(export), "crm": "salesforce", "reps": 2, "side_reps": 2}
    if notebook.startswith("03"):
        parameters["pooled_years"] = 2
    papermill.execute_notebook(ROOT / "notebooks" / f"{notebook}.ipynb", out, cwd=ROOT / "notebooks",
                               progress_bar=False, parameters=parameters)
    text = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) + str(o.get("data", {}).get("text/markdown", ""))
                     for cell in nbformat.read(out, 4).cells for o in cell.get("outputs", []))
    assert "Skipped" not in text
    for words in expected:
        assert words in text
