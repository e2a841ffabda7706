"""The history's columns parsed in a worker thread while the deals are read (`sim.crm.load._ReadAhead`, issue 28)
give the load a serial reading gives: the same tables, rejected rows, repaired values, notes and warnings, in the
same order, on exports with damaged rows, shuffled histories and two history files."""

from __future__ import annotations

import importlib
import threading
import weakref

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import sim
from sim.crm import files, load, parse
from sim.crm.synth import write_export

load_module = importlib.import_module("sim.crm.load")   # the module (sim.crm.load is also the function)


@pytest.fixture(scope="module")
def simulated():
    return sim.simulate(sim.Scenario.preset("baseline"), seed=3).tables


def both_ways(path, monkeypatch, **kw):
    """The load with every history read ahead in the worker thread, and read serially; which threads parsed."""
    threads: list[str] = []

    def watched(parser):
        def run(*args, **kw):
            threads.append(threading.current_thread().name)
            return parser(*args, **kw)
        return run

    for name in ("parse_dates", "parse_amount", "parse_text_coded"):
        monkeypatch.setattr(parse, name, watched(getattr(parse, name)))
    with monkeypatch.context() as m:
        m.setattr(load_module, "AHEAD_MIN_ROWS", 0)
        ahead = load(path, **kw)
        in_threads = list(threads)
    with monkeypatch.context() as m:
        m.setattr(load_module, "AHEAD_MIN_ROWS", 10**12)
        threads.clear()
        serial = load(path, **kw)
    assert not any(t.startswith("crm-read-ahead") for t in threads)
    return ahead, serial, in_threads


def same(a, b):
    for name, table in a.tables.items():
        assert_frame_equal(table, dict(b.tables.items())[name], obj=name)
    assert_frame_equal(a.rejected, b.rejected, obj="rejected")
    assert_frame_equal(a.repaired, b.repaired, obj="repaired")
    assert a.summary() == b.summary()     # notes and warnings in the same order too


@pytest.mark.parametrize("crm, broken, history", [("salesforce", 25, None), ("salesforce", 0, "field"),
                                                   ("hubspot", 25, None), ("pipedrive", 25, None)])
def test_history_read_ahead_loads_what_a_serial_reading_loads(tmp_path, monkeypatch, simulated, crm, broken, history):
    write_export(simulated, crm, tmp_path, seed=1, broken=broken, history=history)
    ahead, serial, threads = both_ways(tmp_path, monkeypatch, crm=crm)
    same(ahead, serial)
    assert len(ahead.tables.opportunities) > 100
    if crm == "salesforce" and history is None:    # its history file was parsed by the worker
        assert any(t.startswith("crm-read-ahead") for t in threads) and len(ahead.tables.stage_history) > 100


def test_read_ahead_of_a_shuffled_and_damaged_history(tmp_path, monkeypatch, simulated):
    """A history out of order, with rows for unknown deals, empty and unreadable dates, amounts in words: every
    rejection and repair the same, listed in the same order."""
    write_export(simulated, "salesforce", tmp_path, seed=1, broken=25)
    path = tmp_path / "opportunity_history.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame.sample(frac=1, random_state=4).reset_index(drop=True)
    date = [c for c in frame.columns if "date" in c.lower()][0]
    amount = [c for c in frame.columns if "amount" in c.lower()][0]
    bad = ["31/31/2026", "", "yesterday", "2/30/2024"]
    frame.loc[frame.index[::7], date] = [bad[k % len(bad)] for k in range(len(frame.index[::7]))]
    frame.loc[::11, amount] = "about 5k"
    frame.loc[::13, frame.columns[0]] = "no-such-deal"
    frame.to_csv(path, index=False)
    ahead, serial, threads = both_ways(tmp_path, monkeypatch, crm="salesforce")
    same(ahead, serial)
    assert any(t.startswith("crm-read-ahead") for t in threads)
    reasons = " ".join(ahead.rejected["reason"]) + " ".join(ahead.repaired["reason"])
    assert "opportunity not among the loaded opportunities" in reasons and "not a number" in reasons


def test_an_error_in_the_worker_is_raised_by_the_load_and_no_thread_is_left(tmp_path, monkeypatch, simulated):
    write_export(simulated, "salesforce", tmp_path, seed=1)
    monkeypatch.setattr(load_module, "AHEAD_MIN_ROWS", 0)
    rows = len(pd.read_csv(tmp_path / "opportunity_history.csv"))
    parse_amount = parse.parse_amount

    def broken(text):    # the history's amounts only (the deals' are read as usual)
        if len(text) == rows:
            raise RuntimeError("parsing failed")
        return parse_amount(text)

    monkeypatch.setattr(parse, "parse_amount", broken)
    with pytest.raises(RuntimeError, match="parsing failed"):
        load(tmp_path, crm="salesforce")
    assert not [t for t in threading.enumerate() if t.name.startswith("crm-read-ahead")]


# ---- files read two at a time, each as one block ------------------------------------------------------------
def test_files_read_together_load_what_one_after_the_other_loads(tmp_path, monkeypatch, simulated):
    """A folder's CSV files read two at a time (`_read_files`, each parsed as one block) against one after the other:
    the same load, with damaged rows, a quoted cell spanning lines, an unterminated quote and a file that is not an
    export among them."""
    write_export(simulated, "salesforce", tmp_path, seed=1, broken=25)
    path = tmp_path / "opportunities.csv"
    lines = path.read_text().splitlines(keepends=True)
    fields = lines[5].rstrip("\n").split(",")
    fields[1] = '"an account\non two lines"'
    lines[5] = ",".join(fields) + "\n"
    lines[9] = lines[9].rstrip("\n") + ',"an open quote\n'
    path.write_text("".join(lines))
    (tmp_path / "notes.csv").write_text("what,why\nthis,is not an export\n")
    with monkeypatch.context() as m:
        m.setattr(load_module, "READ_TOGETHER_BYTES", 0)
        together = load(tmp_path, crm="salesforce")
    with monkeypatch.context() as m:
        m.setattr(load_module, "READ_TOGETHER_BYTES", 10**12)
        serial = load(tmp_path, crm="salesforce")
    same(together, serial)
    assert "notes.csv" in " ".join(together.summary()["files_not_read"])
    assert any("malformed" in r for r in together.rejected["reason"])


@pytest.mark.parametrize("text", ["a,b,c\n1,x,3\n2,\"y\nz\",4\n3,,5\n", "a,b\n" + "".join(f"{k},v{k}\n" for k in range(200_000)),
                                  "a,b\n1,2\n3", "a,b\n"])
def test_a_csv_parsed_as_one_block_is_the_csv_parsed_in_blocks(tmp_path, text):
    path = tmp_path / "f.csv"
    path.write_text(text)
    one, blocks = files._arrow_csv(path, ",", whole=True), files._arrow_csv(path, ",")
    if blocks is None:     # (a file Arrow does not read as pandas would: left to pandas' parser either way)
        assert one is None
        return
    assert_frame_equal(one, blocks)
    assert all(one[c].array._pa_array.num_chunks == 1 for c in one.columns)


# ---- memory: what the worker and the files held is let go -----------------------------------------------------
def test_the_workers_freed_memory_is_given_back_once_its_part_is_done(tmp_path, monkeypatch, simulated):
    """Read ahead, the worker is stopped and its freed memory given back when the main thread takes the history's
    columns (kept by its thread, it would add to the rest of the load's peak), and again once the history's text is
    let go; a serial load of a small history has no worker to stop and little to give back."""
    write_export(simulated, "salesforce", tmp_path, seed=1)
    calls: list[list[str]] = []

    def give_back():
        calls.append([t.name for t in threading.enumerate() if t.name.startswith("crm-read-ahead")])

    monkeypatch.setattr(load_module, "give_back_freed_memory", give_back)
    with monkeypatch.context() as m:
        m.setattr(load_module, "AHEAD_MIN_ROWS", 0)
        load(tmp_path, crm="salesforce")
    assert calls == [[], []]       # the worker gone by then
    with monkeypatch.context() as m:
        m.setattr(load_module, "AHEAD_MIN_ROWS", 10**12)
        load(tmp_path, crm="salesforce")
    assert calls == [[], []]


@pytest.mark.parametrize("together", [0, 10**12])
@pytest.mark.parametrize("ahead", [0, 10**12])
def test_the_files_text_is_freed_before_the_tables_are_built(tmp_path, monkeypatch, simulated, together, ahead):
    """Every file's cells are let go once read and accounted for: the history's once its rows are read (before the
    deals are completed from it), every file's before the tables are conformed and checked (the peak of a load);
    read two at a time or one after the other, the history read ahead or not."""
    write_export(simulated, "salesforce", tmp_path, seed=1, broken=25)
    read_tables, held = parse.read_tables, []

    def remembered(*args, **kw):
        tables, skipped = read_tables(*args, **kw)
        held.extend((t.name, weakref.ref(t.frame)) for t in tables)
        return tables, skipped

    def alive(kind=""):
        return [name for name, r in held if kind in name and r() is not None]

    complete, seen = load_module._complete_from_history, []

    def completing(*args, **kw):
        seen.append(("completing", alive("history")))
        return complete(*args, **kw)

    def check(tables, source):
        seen.append(("checking", alive()))

    monkeypatch.setattr(parse, "read_tables", remembered)
    monkeypatch.setattr(load_module, "_complete_from_history", completing)
    monkeypatch.setattr(load_module, "validate_tables", check)
    monkeypatch.setattr(load_module, "READ_TOGETHER_BYTES", together)
    monkeypatch.setattr(load_module, "AHEAD_MIN_ROWS", ahead)
    load(tmp_path, crm="salesforce")
    assert len(held) == 2 and any("history" in name for name, _ in held)
    assert seen == [("completing", []), ("checking", [])]
