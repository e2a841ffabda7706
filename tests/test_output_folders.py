"""What the tool writes never costs a user a file (issue 24): `--force` and `--out` replace only the tool's own
folders, files are written whole, two writers to one folder do not both win, and folders can be shared."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

import sim
from clirun import run
from sim.core.outputs import MARKER, OutputError, OutputFolder, atomic_file, lock_folder, unlock_folder, write_csv
from sim.crm.synth import write_export




@pytest.fixture(scope="module")
def export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exp") / "acme-export"
    write_export(sim.simulate(sim.Scenario.preset("baseline"), seed=5).tables, "salesforce", folder, seed=5)
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_report_force_never_replaces_the_export_or_a_folder_above_it(export, capsys):
    before = _snapshot(export)
    for out in (export, export.parent, export / "opportunities.csv"):
        code, _, err = run(["report", str(export), "-o", str(out), "--force", "--no-progress"], capsys)
        assert code == 2 and "Traceback" not in err and str(out) in err
    assert _snapshot(export) == before


def test_force_never_replaces_a_folder_of_the_users_files(tmp_path, capsys):
    docs = tmp_path / "Documents"
    (docs / "drafts").mkdir(parents=True)
    (docs / "thesis.docx").write_bytes(b"years of work")
    (docs / "drafts" / "ch1.md").write_text("chapter")
    for argv in (["report", "-o", str(docs), "--force", "--no-progress"],
                 ["simulate", "baseline", "--out", str(docs)],
                 ["synth", "--crm", "hubspot", "--out", str(docs)]):
        code, _, err = run(argv, capsys)
        assert code == 2 and f"{docs} already holds files playbook did not write; it is never replaced" in err, argv
    assert (docs / "thesis.docx").read_bytes() == b"years of work" and (docs / "drafts" / "ch1.md").exists()


def test_home_folder_is_never_an_output(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    code, _, err = run(["simulate", "baseline", "--out", str(tmp_path / "home")], capsys)
    assert code == 2 and "home folder" in err
    code, _, err = run(["simulate", "baseline", "--out", str(tmp_path)], capsys)
    assert code == 2 and "home folder" in err


def test_simulate_replaces_an_earlier_run_whole_and_marks_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(["simulate", "baseline", "--out", str(out)], capsys)[0] == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["written_by"] == "playbook" and "opportunities.csv" in marker["files"]
    marker["files"].append("stale.csv")
    (out / "stale.csv").write_text("old")   # an earlier run's file the new one will not have (a policy's costs.csv)
    (out / MARKER).write_text(json.dumps(marker))
    assert run(["simulate", "baseline", "--seed", "1", "--out", str(out)], capsys)[0] == 0
    assert not (out / "stale.csv").exists()    # ... is replaced whole: nothing stale beside the new files
    assert [p.name for p in tmp_path.iterdir()] == ["run"]   # no temporary or lock file left


def test_an_earlier_output_with_a_file_added_by_hand_is_not_replaced(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(["synth", "--crm", "pipedrive", "--out", str(out)], capsys)[0] == 0
    (out / "my-notes.txt").write_text("mine")
    code, _, err = run(["synth", "--crm", "pipedrive", "--out", str(out)], capsys)
    assert code == 2 and "my-notes.txt" in err and (out / "my-notes.txt").read_text() == "mine"


def test_an_empty_folder_is_written_into(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run(["synth", "--crm", "hubspot", "--out", str(tmp_path / "empty")], capsys)[0] == 0
    assert (tmp_path / "empty" / MARKER).exists()


def test_second_writer_to_one_folder_refuses(tmp_path):
    out = tmp_path / "r"
    fd = lock_folder(out, "-o/--out")     # a first run holds the folder
    try:
        with pytest.raises(OutputError, match="another playbook run is writing"):
            with OutputFolder(out, "-o/--out", kind="report", force=True):
                pass
    finally:
        unlock_folder(out, fd)
    with OutputFolder(out, "-o/--out", kind="report", force=True) as tmp:   # free again once the first is done
        (tmp / "index.html").write_text("x")
    assert (out / "index.html").exists()


def test_output_folders_get_the_users_umask_not_0700(tmp_path):
    old = os.umask(0o022)
    try:
        with OutputFolder(tmp_path / "shared", "--out", kind="report") as tmp:
            write_csv(pd.DataFrame({"a": [1]}), tmp / "a.csv")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "shared" / "a.csv").stat().st_mode) == 0o644


def test_a_failed_write_leaves_no_half_file_and_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "opportunities.csv"
    path.write_text("the earlier, whole file")

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    with pytest.raises(OSError) as caught:
        write_csv(pd.DataFrame({"a": [1, 2]}), path)
    assert caught.value.filename == str(path) and caught.value.errno == errno.ENOSPC
    assert path.read_text() == "the earlier, whole file" and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_an_interrupt_while_writing_leaves_the_old_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(path) as fh:
            fh.write("half")
            raise KeyboardInterrupt
    assert path.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_simulated_tables_neutralise_formula_like_text(tmp_path, capsys):
    scenario = sim.Scenario.preset("baseline")
    data = scenario.model_dump()
    data["segments"] = [dict(s) for s in data["segments"]]
    data["segments"][0]["name"] = '=HYPERLINK("http://evil","x")'
    path = tmp_path / "evil.yaml"
    sim.Scenario.model_validate(data).to_yaml(path)
    assert run(["simulate", str(path), "--out", str(tmp_path / "run")], capsys)[0] == 0
    text = (tmp_path / "run" / "opportunities.csv").read_text()
    assert "'=HYPERLINK" in text and ',=HYPERLINK' not in text and '"=HYPERLINK' not in text


def test_force_on_a_report_from_before_the_marker_says_what_it_is_and_what_to_do(tmp_path, capsys):
    old = tmp_path / "reports" / "acme"
    (old / "notebooks").mkdir(parents=True)
    (old / "index.html").write_text("<html>an older report</html>")
    (old / "report.json").write_text(json.dumps({"data": {}, "complete": True, "cards": []}))
    (old / "notebooks" / "01-force-concentration.html").write_text("<html></html>")
    before = _snapshot(old)
    code, _, err = run(["report", "-o", str(old), "--force", "--no-progress"], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"{old} looks like a report written by an earlier version of playbook" in err
    assert f"rm -r {old}" in err and "choose a new folder" in err
    assert _snapshot(old) == before                                   # nothing unmarked is deleted
    run_dir = tmp_path / "old-run"
    run_dir.mkdir()
    (run_dir / "scenario.yaml").write_text("name: baseline\n")
    (run_dir / "run.json").write_text(json.dumps({"reproduce": "playbook simulate x/scenario.yaml --seed 0 --out DIR"}))
    code, _, err = run(["simulate", "baseline", "--out", str(run_dir)], capsys)
    assert code == 2 and "looks like a simulated run written by an earlier version" in err
    (old / "report.json").write_text("[1, 2]")                       # not a report's JSON: the plain refusal
    assert run(["report", "-o", str(old), "--force", "--no-progress"], capsys)[2].count("did not write; it is never replaced") == 1


def test_every_csv_the_tool_writes_goes_through_the_one_writer():
    """Issue 24, item 6: one CSV writer (`write_csv`: formula-like cells neutralised, written whole). A new
    `DataFrame.to_csv(path)` elsewhere in sim/ would write a segment named '=HYPERLINK(...)' as a live formula.
    The exceptions are said: the writer itself, a hash of a table's text, and `synth`'s files, which imitate a
    CRM's own export (written whole through `atomic_file`)."""
    root = Path(sim.__file__).parent
    allowed = {"core/outputs.py", "core/tables.py", "crm/synth.py"}   # tables.py: `tables_fingerprint` hashes text
    found = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py") if str(p.relative_to(root)) not in allowed
             for i, line in enumerate(p.read_text().splitlines(), 1) if ".to_csv(" in line]
    assert not found, f"write CSV files with sim.core.outputs.write_csv: {found}"
