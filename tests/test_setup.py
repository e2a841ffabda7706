"""The project's set-up files agree with each other, and the command line works as documented."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

from sim.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _requirement(text: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", text).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_requirement(d) for d in env["dependencies"] if isinstance(d, str)} - {("python", ">=3.11"), ("pip", "")}
    assert conda == wanted, f"only in environment.yml: {conda - wanted}; only in pyproject: {wanted - conda}"
    assert project["requires-python"] == ">=3.11"
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "--editable ." in pip_section


def test_cli_simulate_writes_a_reproducible_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", "baseline", "--seed", "7", "--out", str(out)]) == 0
    written = {p.name for p in out.iterdir()}
    assert {"opportunities.csv", "stage_history.csv", "metrics.json", "scenario.yaml", "run.json"} <= written
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 7 and run["package_version"]
    again = tmp_path / "again"
    assert main(["simulate", str(out / "scenario.yaml"), "--seed", "7", "--out", str(again)]) == 0
    assert (out / "opportunities.csv").read_text() == (again / "opportunities.csv").read_text()
    assert json.loads((out / "metrics.json").read_text()) == json.loads((again / "metrics.json").read_text())
    assert "deals won" in capsys.readouterr().out


def test_cli_scenario_prints_editable_yaml(tmp_path, capsys):
    assert main(["scenario", "downturn"]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace("count: 8", "count: 11"))
    assert main(["compare", "downturn", str(path), "--reps", "2", "--no-progress", "--metrics", "deals_won"]) == 0
    table = capsys.readouterr().out
    assert "deals_won" in table and "diff_low" in table


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("reps:\n  count: -3\n")
    assert main(["simulate", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "reps.count: -3 is not allowed" in err and "Traceback" not in err
    assert main(["compare", "baseline", "--reps", "5"]) == 2
    assert "at least two scenarios" in capsys.readouterr().err
    assert main(["simulate", "nosuchpreset", "--out", str(tmp_path / "y")]) == 2
    assert "no preset named 'nosuchpreset'" in capsys.readouterr().err



def test_the_readmes_sim_crm_load_works_after_import_sim_alone(tmp_path):
    """Issue 23: `import sim; sim.crm.load(...)` (as the README shows) raised AttributeError. `import sim` now
    imports its parts on first use; in a fresh interpreter (here another test may have imported sim.crm already)
    the README's call works."""
    import subprocess
    import sys

    import shapes

    csv, mapping = shapes.one_stage(tmp_path)
    code = f"import sim; print(len(sim.crm.load({str(csv)!r}, mapping={str(mapping)!r}).tables.opportunities))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["700"]
