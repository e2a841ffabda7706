"""The report keeps the export it reads in the store of exports, and its front page says what changed since the
store's snapshot before it (issue 27)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sim.cli import main
from sim.crm import load
from sim.report.since import keep_and_compare
from sim.crm.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "report_notebooks"


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nbs")
    shutil.copy(FIXTURES / "01-runs.ipynb", folder)
    return folder


def test_a_report_on_a_later_export_opens_with_what_changed_since_the_last(tmp_path, notebooks, capsys, light_forecast):
    store = tmp_path / "h.duckdb"
    for d in ("2026-09-20", "2026-10-04"):
        assert main(["synth", "--crm", "hubspot", "--seed", "5", "--as-of", d, "--out", str(tmp_path / d)]) == 0
    common = ["--notebooks", str(notebooks), "--no-progress", "--store", str(store), "--force"]
    assert main(["report", str(tmp_path / "2026-09-20"), "-o", str(tmp_path / "r1"), *common]) == 0
    first = (tmp_path / "r1" / "index.html").read_text()
    assert "Since your last export" not in first and "stored snapshot #1" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "2026-10-04"), "-o", str(tmp_path / "r2"), *common]) == 0
    page = (tmp_path / "r2" / "index.html").read_text()
    with Store.open(store, read_only=True) as s:
        snaps = s.snapshots()
    assert len(snaps) == 2
    assert f"Since your last export ({snaps[0].as_of:%Y-%m-%d})" in page
    assert "figures/since-last-export.png" in page and (tmp_path / "r2" / "figures" / "since-last-export.png").exists()
    for heading in ("created", "won", "lost"):
        assert f"<td>{heading}</td>" in page
    since = json.loads((tmp_path / "r2" / "report.json").read_text())["since_last_export"]
    assert since["from"] == f"{snaps[0].as_of:%Y-%m-%d}" and since["to"] == f"{snaps[1].as_of:%Y-%m-%d}"
    assert round(since["open_before"] + sum(h["amount"] for h in since["headings"].values()), 2) == since["open_after"]
    # the same export again: stored once, and the card still compares with the snapshot before it
    message, again = keep_and_compare(store, load(tmp_path / "2026-10-04").tables, {}, "again")
    assert message.startswith("already stored") and again.date == snaps[0].as_of


def test_no_store_leaves_the_store_alone(tmp_path, notebooks, light_forecast):
    assert main(["synth", "--crm", "hubspot", "--seed", "5", "--out", str(tmp_path / "e")]) == 0
    store = tmp_path / "h.duckdb"
    assert main(["report", str(tmp_path / "e"), "-o", str(tmp_path / "r"), "--notebooks", str(notebooks),
                 "--no-progress", "--store", str(store), "--no-store"]) == 0
    assert not store.exists()
