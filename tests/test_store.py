"""The store of exports (issue 27): every export kept once as a snapshot, a store never corrupted by what it
refuses, one writer at a time."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import time

import duckdb
import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.crm import load
from sim.crm import store as store_module
from sim.crm.store import Store, StoreError, fingerprint, newest_date
from sim.crm.synth import write_export


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    tables = sim.simulate(sim.Scenario.preset("baseline"), seed=3).tables
    write_export(tables, "salesforce", folder, seed=3, broken=4)
    return folder


@pytest.fixture(scope="module")
def loaded(export):
    return load(export)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(argv, capsys):
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def test_a_snapshot_gives_back_the_tables_it_was_given(tmp_path, loaded):
    with Store.open(tmp_path / "h.duckdb") as s:
        added = s.ingest(loaded.tables, loaded.summary(), source="x", format="salesforce")
        back = s.tables(added.snapshot.id)
        assert s.summary(added.snapshot.id)["rows_read"] == loaded.summary()["rows_read"]
    for name, df in loaded.tables.items():
        pd.testing.assert_frame_equal(df.reset_index(drop=True), getattr(back, name), check_dtype=True)
    assert fingerprint(back) == fingerprint(loaded.tables)
    opp = loaded.tables.opportunities
    assert added.snapshot.open_deals == int((opp["outcome"] == "open").sum())
    assert added.snapshot.open_amount == pytest.approx(opp.loc[opp["outcome"] == "open", "amount"].fillna(0).sum())


def test_the_same_export_twice_is_one_snapshot_and_says_so(tmp_path, export, capsys):
    store = tmp_path / "h.duckdb"
    code, out, _ = run(["ingest", export, "--store", store], capsys)
    assert code == 0 and "stored snapshot #1" in out
    code, out, _ = run(["ingest", export, "--crm", "salesforce", "--store", store], capsys)
    assert code == 0 and "already stored" in out and "nothing added" in out
    with Store.open(store, read_only=True) as s:
        assert len(s.snapshots()) == 1
    code, out, _ = run(["history", "--store", store], capsys)
    assert code == 0 and "1 snapshot(s)" in out and "#1" in out


def test_the_as_of_date_is_the_newest_date_in_the_export_unless_given(tmp_path, loaded):
    opp = loaded.tables.opportunities
    newest = max(opp["created_at"].max(), opp["closed_at"].max(), loaded.tables.stage_history["entered_at"].max())
    assert newest_date(loaded.tables) >= newest.normalize()
    with Store.open(tmp_path / "h.duckdb") as s:
        assert s.ingest(loaded.tables).snapshot.as_of == newest_date(loaded.tables)
    with Store.open(tmp_path / "g.duckdb") as s:
        snap = s.ingest(loaded.tables, as_of="2026-03-31").snapshot
        assert snap.as_of == pd.Timestamp("2026-03-31") and snap.as_of_given


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_text("Opportunity ID,Stage\n1,Won\n"), "not a DuckDB database file"),
    (lambda p: duckdb.connect(str(p)).execute("CREATE TABLE sales (x INT)").close(), "not a playbook store"),
])
def test_a_file_that_is_not_a_store_is_refused_and_left_as_it_was(tmp_path, loaded, capsys, make, words):
    path = tmp_path / "other.duckdb"
    make(path)
    before = digest(path)
    with pytest.raises(StoreError, match=words):
        Store.open(path)
    code, _, err = run(["history", "--store", path], capsys)
    assert code == 2 and words in err and "Traceback" not in err
    assert digest(path) == before


def test_a_store_from_a_newer_playbook_is_refused_and_left_as_it_was(tmp_path, loaded):
    path = tmp_path / "h.duckdb"
    with Store.open(path) as s:
        s.ingest(loaded.tables)
        s.con.execute("UPDATE playbook_meta SET value = '99' WHERE key = 'schema_version'")
    before = digest(path)
    with pytest.raises(StoreError, match="newer playbook .*schema version 99"):
        Store.open(path)
    assert digest(path) == before


def test_an_older_store_is_migrated_in_one_step_or_refused(tmp_path, loaded, monkeypatch):
    path = tmp_path / "h.duckdb"
    with Store.open(path) as s:
        s.ingest(loaded.tables)
    # pretend the current schema is version 2, reached from 1 by adding a column
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 2)
    before = digest(path)
    with pytest.raises(StoreError, match="no migration from it"):
        Store.open(path)
    assert digest(path) == before
    monkeypatch.setattr(store_module, "MIGRATIONS",
                        {1: lambda con: con.execute("ALTER TABLE snapshots ADD COLUMN note VARCHAR")})
    with Store.open(path) as s:
        assert s.con.execute("SELECT value FROM playbook_meta WHERE key = 'schema_version'").fetchone()[0] == "2"
        assert "note" in [r[0] for r in s.con.execute("DESCRIBE snapshots").fetchall()]
        assert len(s.snapshots()) == 1


def test_an_interrupted_ingest_leaves_the_store_as_it_was(tmp_path, loaded, monkeypatch):
    path = tmp_path / "h.duckdb"
    with Store.open(path) as s:
        s.ingest(loaded.tables)
    calls = []
    real = Store._write_table

    def breaks_on_the_third_table(self, sid, name, df):
        calls.append(name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, sid, name, df)

    monkeypatch.setattr(Store, "_write_table", breaks_on_the_third_table)
    changed = sim.Tables(**dict(loaded.tables.items()))   # a different export: the first minus its last deal
    changed.opportunities = loaded.tables.opportunities.iloc[:-1]
    with Store.open(path) as s:
        with pytest.raises(KeyboardInterrupt):
            s.ingest(changed)
        assert [x.id for x in s.snapshots()] == [1]
        rows = s.con.execute("SELECT count(*) FROM t_opportunities").fetchone()[0]
    assert rows == len(loaded.tables.opportunities)


HOLD = textwrap.dedent("""
    import sys, time
    from sim.crm.store import Store
    with Store.open(sys.argv[1]) as s:
        print("holding", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def test_a_second_writer_waits_for_the_first_or_gives_up_with_a_clear_message(tmp_path, loaded):
    path = tmp_path / "h.duckdb"
    with Store.open(path) as s:
        s.ingest(loaded.tables)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path), "3"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        told = []
        with pytest.raises(StoreError, match=r"in use by process \d+.*waited 1 s"):
            Store.open(path, wait=1, say=told.append)
        assert told and "waiting for" in told[0]
        start = time.monotonic()
        with Store.open(path, wait=30, say=told.append) as s:   # serialised: goes ahead once the holder is done
            assert len(s.snapshots()) == 1
        assert time.monotonic() - start < 30
    finally:
        holder.wait(timeout=30)


@pytest.mark.parametrize("argv, words", [
    (["ingest", "{tmp}/missing"], "no such file or folder"),
    (["ingest", "{export}", "--as-of", "31/12/2026"], "--as-of: '31/12/2026' is not a date written YYYY-MM-DD"),
    (["changes", "--since", "soon"], "--since: 'soon' is not a date"),
    (["changes", "--since", "2026-01-01", "--previous"], "not allowed with argument"),
    (["history", "--wait", "-1"], "--wait: -1 is not allowed"),
    (["history", "--store", "{tmp}"], "is a folder"),
    (["changes", "--by", "region"], "invalid choice: 'region'"),
    (["categories", "--store", "{tmp}/none.duckdb"], "no store here yet"),
])
def test_store_commands_answer_bad_input_in_one_line(tmp_path, export, capsys, argv, words):
    argv = [a.format(tmp=tmp_path, export=export) for a in argv]
    code, out, err = run(argv, capsys)
    assert code == 2 and words in err and "Traceback" not in out + err


def test_a_column_that_changes_type_between_exports_comes_back_as_each_export_had_it(tmp_path):
    def tables(value):
        opp = pd.DataFrame({"opportunity_id": ["a", "b"], "outcome": ["open", "won"], "amount": [1.5, 2.0],
                            "custom": value})
        return sim.Tables(opportunities=opp)

    first, second = tables([0.25, None]), tables(["high", None])     # a number column, then words in it
    with Store.open(tmp_path / "h.duckdb") as s:
        a = s.ingest(first, as_of="2026-01-01").snapshot.id
        b = s.ingest(second, as_of="2026-01-08").snapshot.id
        back_a, back_b = s.tables(a).opportunities, s.tables(b).opportunities
    assert back_a["custom"].dtype == "float64" and back_a["custom"].iloc[0] == 0.25 and pd.isna(back_a["custom"].iloc[1])
    assert back_b["custom"].tolist() == ["high", None]
