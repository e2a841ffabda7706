"""`playbook calibrate`, the notebooks' starting scenario on an export, and the report's link to the YAML."""

from __future__ import annotations

import nbformat
import pytest

import sim
from sim import cli, notebook
from sim.crm.synth import write_export
from sim.report.cards import card_from_run, save_downloads
from sim.report.run import Run


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    write_export(sim.simulate(sim.Scenario.preset("baseline"), seed=3).tables, "salesforce", folder, seed=3)
    return folder


def test_calibrate_writes_the_yaml_and_a_validation_summary(export_dir, tmp_path, capsys):
    out = tmp_path / "my_pipeline.yaml"
    status = cli.main(["calibrate", str(export_dir), "--crm", "salesforce", "-o", str(out), "--reps", "8"])
    text = capsys.readouterr().out
    assert status in (0, 1)
    assert f"wrote {out}" in text and "values fitted" in text
    assert "Markov chain of the export: win probability" in text
    assert "validation (8 simulated runs" in text and ("passes" in text or "does NOT pass" in text)
    assert ("passes" in text) == (status == 0)
    for measure in ("win rate:", "cycle time:", "time per stage:", "deal size:", "bookings per month:"):
        assert measure in text
    sc = sim.Scenario.from_yaml(out)
    assert sc.stage_names == ["Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review"]
    assert "95% CI" in out.read_text() and "not in the export, preset value" in out.read_text()
    kept = text.split("not in the export, so kept from 'baseline'")[1].splitlines()[1:]
    assert any(line.strip().startswith("reps: ") and "selling_hours_per_week" in line for line in kept)


def test_the_values_kept_from_the_preset_are_listed_where_they_live():
    """`calibrate` lists what the export could not give by section, not as bare names ("0, 1, tries")."""
    assert cli.kept_by_section(["policies.nurture.failure_months.0", "policies.nurture.failure_months.1", "reps.ramp_days",
                                "stages.2.median_days", "policies.first_meeting.formats.video.attendees"]) == [
        "policies.first_meeting: formats.video.attendees", "policies.nurture: failure_months", "reps: ramp_days",
        "stages (some values)"]


@pytest.mark.parametrize("args, words", [
    (["--reps", "1"], "--reps: 1 is not allowed"),
    (["-o", "my.txt"], "must be a .yaml file"),
    (["--base", "nope"], "no preset named 'nope'"),
])
def test_bad_flags_get_one_clear_line(export_dir, tmp_path, capsys, args, words):
    argv = ["calibrate", str(export_dir), "--crm", "salesforce", "-o", str(tmp_path / "x.yaml"), *args]
    if "-o" in args:
        argv = ["calibrate", str(export_dir), "--crm", "salesforce", *args]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_an_export_without_what_a_fit_needs_is_refused(tmp_path, capsys):
    bad = tmp_path / "deals.csv"
    bad.write_text("opportunity_id,stage,amount\nA1,Closed Won,100\nA2,Closed Lost,50\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns:\n  opportunity_id: opportunity_id\n  stage: stage\n  amount: amount\n"
                       "stages:\n  Closed Won: won\n  Closed Lost: lost\n")
    assert cli.main(["calibrate", str(bad), "--mapping", str(mapping), "-o", str(tmp_path / "x.yaml")]) == 2
    err = capsys.readouterr().err
    assert "cannot calibrate" in err and "created_at" in err


def test_starting_scenario_is_the_calibrated_pipeline_when_an_export_is_given(monkeypatch):
    shown = []
    monkeypatch.setattr(notebook, "_show", lambda obj, role, **meta: shown.append((obj.data, role, meta)))
    tables = sim.simulate(sim.Scenario.preset("sweet-spot"), seed=2).tables
    sc = notebook.starting_scenario("sweet-spot", "exports/opps.csv", tables)
    assert sc.calibration.deals == len(tables.opportunities)
    assert sc.reps.count == 4 and sc.start == sim.Scenario.preset("sweet-spot").start      # the preset's calendar
    assert sc.policies.qualification is not None                                        # and its policies
    (text, role, meta), = shown
    assert role == "scenario" and {k: meta[k] for k in ("preset", "calibrated")} == {"preset": "sweet-spot", "calibrated": True}
    assert meta["passed"] in (True, False) and meta["verdict"] in text                  # its quick validation, said
    assert "your export's own pipeline" in text
    preset = notebook.starting_scenario("sweet-spot")
    assert preset == sim.Scenario.preset("sweet-spot") and shown[-1][2]["calibrated"] is False


def test_the_report_card_links_a_notebooks_download(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "**my_pipeline.yaml**"},
                                           metadata={"playbook": {"role": "download", "filename": "../my pipeline.yaml",
                                                                  "text": "name: x\n"}}),
                    nbformat.v4.new_output("display_data", data={"text/markdown": "note"},
                                           metadata={"playbook": {"role": "scenario", "preset": "baseline", "calibrated": True}})]
    nb.cells.append(cell)
    executed = tmp_path / "13-assumptions.ipynb"
    nbformat.write(nb, executed)
    card = card_from_run(Run(executed, executed, 1.0))
    assert card.scenario == {"preset": "baseline", "calibrated": True, "passed": None, "verdict": None, "fallback": None}
    save_downloads(card, tmp_path / "downloads")
    (d,) = card.downloads
    assert d.filename == "my_pipeline.yaml" and d.path == "downloads/13-assumptions/my_pipeline.yaml"
    assert (tmp_path / d.path).read_text() == "name: x\n"
