"""The vectorised loader (issue 28: Arrow compute on whole columns) against the row-wise one it replaced.

`tests/crm_rowwise.py` keeps the value parsers and history steps as they were (pandas' `str` methods, Python's
`re` per distinct value, numpy string arrays, id look-ups by `Series.map`). Here the same inputs go through both:

- single columns of generated cells (dates and amounts from the layouts exports use, pieces of them, accents,
  other scripts' digits, odd spaces and control characters): the same values, unreadable cells, fallbacks, reasons,
  detected style and day/month order, as pandas' `str` columns and as Python objects;
- whole loads of the hostile fixtures (the generated exports of tests/test_hostile_inputs.py in four encodings,
  the shapes of tests/shapes.py, simulated exports of each CRM with damaged rows and each history layout): the
  same tables (values and dtypes), rejected rows, repaired values and summary, with the row-wise parsers and
  pandas' C reader swapped in for the second load.
"""

from __future__ import annotations

import importlib

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal, assert_series_equal

import crm_rowwise as rowwise
import shapes
import sim
import test_hostile_inputs as hostile
from sim.crm import dates, files, load, parse
from sim.crm.synth import write_export

load_module = importlib.import_module("sim.crm.load")   # the module (sim.crm.load is also the function)
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])

DATE_CELLS = ["2026-01-15", "1/15/2026 9:05 AM", "15.01.2026", "26-02-2018 19:58", "2026-01-15T09:05:00+02:00", "46037",
              "46037.5", "20260115", "15 Jan 2026", "Jan 15, 2026", "9999-12-31", "2300-01-05", "31/31/2026", "0000-00-00",
              "yesterday", "=TODAY()", "12/31/1899", "March", "46037.5.1", "2/29/2024", "2/29/2023", "2/30/2024", "1/1/0001",
              "01/02/03", "5/6/123", "2026-1-5 13:00 PM", "2026-1-5 0:30 AM", "2026-01-05 12:30:45.1234567", "24/12/2025 24:00",
              "", "N/A", " 2026-01-05 ", "٢٠٢٦-٠١-١٥", "2026-01-15\n", "2026-01-15\x0b", "1/15/2026\u00a09:05 AM",
              "2026-01-15 09:05:00 UTC", "2026-01-15t09:05:00z", "1.2.2026", "1-2/2026", "31.12.99", "x" * 70]
DATE_PIECES = ["1", "12", "31", "2", "02", "2024", "1900", "9999", "0", "13", "99", "123", "٣", "２", "/", "-", ".", " ",
               "T", ":", "AM", "p.m.", "Z", "+02:00", "UTC", "\u00a0", "\n", "\x0b", ",", "Jan", "15th", "é", "46037"]
AMOUNT_CELLS = ["$1,200.50", "1.200,50 €", "EUR 3 400", "(250)", "12%", "=A1*2", "about 5k", "1e999", "inf", "-250",
                "1.250 €", "12.500 €", "1.250", "999.000", "0.250", "1,234.56", "1.234,56", "12,5", "12.5", "", "N/A",
                " 1_000 ", "١٢٣", "$\u00a01,000", "1\u202f000,50", "nan", "+.5", "5.", ".5e3", "CHF 1'234.50", "¥150000",
                "ÄUSD 5", "x" * 80]
AMOUNT_PIECES = ["1", "12", "250", "000", "0", ",", ".", "$", "US$", "€", "£", "USD", "JPY", "abc", " ", "\u00a0", "'",
                 "(", ")", "-", "+", "%", "=", "e", "nan", "inf", "_", "٣", "\n", "é"]


def cells(pieces, known):
    made = st.lists(st.sampled_from(pieces), min_size=1, max_size=8).map("".join)
    return st.lists(st.one_of(made, st.sampled_from(known)), min_size=1, max_size=12)


def same_dates(a, b):
    for f in ("values", "invalid", "fallback", "why"):
        assert_series_equal(getattr(a, f), getattr(b, f), obj=f)
    assert (a.style, a.order, a.ambiguous, a.notes) == (b.style, b.order, b.ambiguous, b.notes)


@settings(max_examples=50, **SETTINGS)
@given(cells(DATE_PIECES, DATE_CELLS), st.sampled_from(["object", "str"]),
       st.sampled_from([{}, {"order": "month"}, {"fmt": "day-first"}, {"fmt": "%d/%m/%Y"}]))
def test_dates_read_as_the_row_wise_parser_read_them(monkeypatch, column, dtype, options):
    monkeypatch.setattr(dates, "PLAIN_MIN_CELLS", 0)    # the plain layouts' reading too, on these short columns
    text = pd.Series(column, dtype=dtype)
    same_dates(rowwise.parse_dates(text, **options), parse.parse_dates(text, **options))


def same_amounts(text):
    a, b = rowwise.parse_amount(text), parse.parse_amount(text)
    for f in ("values", "invalid", "fallback", "why"):
        assert_series_equal(getattr(a, f), getattr(b, f), obj=f)
    assert (a.style, a.ambiguous) == (b.style, b.ambiguous)
    assert_series_equal(rowwise.amount_currency(text), parse.amount_currency(text))


# cells at the edge of the plain date layouts read by Arrow's strptime over the whole column (numbers in range, a
# year 1900-2199, one space or a T before the time): a day past the month's end, a 13th month, hour 0 or 13 with
# AM/PM, a lower-case pm, two spaces, day-only and month-only cells that decide the column's order
PLAIN_DATE_PIECES = ["1", "5", "12", "13", "29", "30", "31", "02", "2024", "2023", "1899", "2200", "/", "-", ".", " ", "T",
                     ":", "00", "9:05", "0:05", "13:05", "AM", "PM", "pm"]
PLAIN_DATE_CELLS = ["1/5/2024 9:05 AM", "13/5/2024 1:00 PM", "5/13/2024 1:00 PM", "2/30/2024 1:00 PM", "12/31/2024 12:00 AM",
                    "1/5/2024 0:05 AM", "1/5/2024  9:05 AM", "1/5/2024 9:05 pm", "2/29/2023", "2/29/2024", "01/05/2024",
                    "2024-01-05 10:00:00", "2024-2-30", "2024-02-29T23:59:59", "2024-01-05T10:00", "15.01.2026",
                    "26-02-2018 19:58", "1/5/2199 11:59 PM", "1/5/1899", "31/12/2024 23:59:59", "4/31/2024", ""]


@settings(max_examples=40, **SETTINGS)
@given(st.sampled_from(["1/5/2024 9:05 AM", "13/5/2024", "5/13/2024 1:00 PM", "2024-01-05 10:00:00", "5.1.2024", "3/4/2024"]),
       cells(PLAIN_DATE_PIECES, PLAIN_DATE_CELLS), st.sampled_from(["object", "str"]),
       st.sampled_from([{}, {"order": "month"}, {"order": "day"}, {"fmt": "day-first"}]))
def test_plain_date_layouts_read_as_the_row_wise_parser_read_them(monkeypatch, layout, column, dtype, options):
    monkeypatch.setattr(dates, "PLAIN_MIN_CELLS", 0)
    text = pd.Series([layout] * 3 + column, dtype=dtype)     # the column's layout shown, then the cells
    same_dates(rowwise.parse_dates(text, **options), parse.parse_dates(text, **options))


@settings(max_examples=50, **SETTINGS)
@given(cells(AMOUNT_PIECES, AMOUNT_CELLS), st.sampled_from(["object", "str"]))
def test_amounts_and_currencies_read_as_the_row_wise_parser_read_them(column, dtype):
    same_amounts(pd.Series(column, dtype=dtype))


# cells at the edge of the plain amounts read by one pattern match (digits grouped by threes or not, two decimals,
# a leading $): one group too long or short, three decimals, a separator doubled or last, 16 digits, a sign
PLAIN_PIECES = ["1", "12", "250", "000", "0", "99999", ",", ".", "$", "-", " ", "%"]
PLAIN_CELLS = ["$1,250.00", "1250", "1,250", "1.250", "$12.5", "1.234,56", "12,50", "$1,234,567.89", "1234567890123456",
               "999,999,999,999,999.99", "$0.05", "0012", "$,5", "1,2345.6"]


@settings(max_examples=80, **SETTINGS)
@given(st.sampled_from(["$1,234.56", "1.234,56", "12.50", "1.250"]), cells(PLAIN_PIECES, PLAIN_CELLS),
       st.sampled_from(["object", "str"]))
def test_plain_amounts_read_as_the_row_wise_parser_read_them(convention, column, dtype):
    same_amounts(pd.Series([convention] * 3 + column, dtype=dtype))   # the column's convention shown, then the cells


# ---- whole loads ---------------------------------------------------------------------------------------
def row_wise(monkeypatch):
    """Swap the row-wise parsers, history steps and pandas' C reader in for the vectorised ones."""
    monkeypatch.setattr(parse, "parse_dates", rowwise.parse_dates)
    monkeypatch.setattr(parse, "parse_amount", rowwise.parse_amount)
    monkeypatch.setattr(parse, "amount_currency", rowwise.amount_currency)
    monkeypatch.setattr(files, "_arrow_csv", lambda path, delimiter: None)
    monkeypatch.setattr(load_module._Builder, "history", rowwise.history)
    monkeypatch.setattr(load_module._Builder, "_history_in_lifetime", rowwise._history_in_lifetime)
    monkeypatch.setattr(load_module, "_complete_from_history", rowwise._complete_from_history)


def answers(path, **kw):
    try:
        r = load(path, **kw)
    except sim.crm.ExportError as err:
        return str(err)
    return dict(r.tables.items()), r.rejected, r.repaired, r.summary()


def same_load(path, monkeypatch, **kw):
    new = answers(path, **kw)
    with monkeypatch.context() as m:
        row_wise(m)
        old = answers(path, **kw)
    if isinstance(old, str) or isinstance(new, str):
        assert old == new
        return
    assert old[0].keys() == new[0].keys()
    for name in old[0]:
        assert_frame_equal(old[0][name], new[0][name], obj=name)
    assert_frame_equal(old[1], new[1], obj="rejected")
    assert_frame_equal(old[2], new[2], obj="repaired")
    assert old[3] == new[3]
    return new


@settings(max_examples=15, **SETTINGS)
@given(hostile.export_file(), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]), st.sampled_from(["\n", "\r\n"]))
def test_hostile_exports_load_as_the_row_wise_loader_loaded_them(tmp_path_factory, monkeypatch, generated, encoding, newline):
    _, _, sep, rows = generated
    path = tmp_path_factory.mktemp("vectorised") / "opps.csv"
    path.write_bytes(hostile.render(sep, rows, newline).encode(encoding, errors="replace"))
    same_load(path, monkeypatch, crm="salesforce")


@pytest.fixture(scope="module")
def simulated():
    return sim.simulate(sim.Scenario.preset("baseline"), seed=3).tables


@pytest.mark.parametrize("crm, history, broken", [("salesforce", None, 25), ("hubspot", None, 25), ("pipedrive", None, 25),
                                                   ("hubspot", "wide", 0), ("salesforce", "field", 0)])
def test_simulated_exports_load_as_the_row_wise_loader_loaded_them(tmp_path, monkeypatch, simulated, crm, history, broken):
    write_export(simulated, crm, tmp_path, seed=1, broken=broken, history=history)
    new = same_load(tmp_path, monkeypatch, crm=crm)
    assert len(new[0]["opportunities"]) > 100 and (broken == 0 or len(new[1]) > 0)


@pytest.mark.parametrize("shuffled", ["history", "both"])
def test_shuffled_exports_load_as_the_row_wise_loader_loaded_them(tmp_path, monkeypatch, simulated, shuffled):
    """The loader's shortcuts for a history already in deal and date order, and for deals listed by id, are not taken
    when the rows come in another order: the same tables either way."""
    write_export(simulated, "salesforce", tmp_path, seed=1, broken=25)
    sorted_load = answers(tmp_path, crm="salesforce")
    names = ["opportunity_history.csv"] + (["opportunities.csv"] if shuffled == "both" else [])
    for name in names:
        lines = (tmp_path / name).read_text().splitlines(keepends=True)
        body = pd.Series(lines[1:]).sample(frac=1, random_state=5).tolist()
        (tmp_path / name).write_text("".join([lines[0]] + body))
    new = same_load(tmp_path, monkeypatch, crm="salesforce")
    by_id = ["opportunity_id", "entered_at"]
    assert new[0]["stage_history"][by_id].equals(new[0]["stage_history"][by_id].sort_values(by_id))
    if shuffled == "history":   # (shuffled deals keep another copy of a duplicated id: compared with the row-wise load only)
        assert_frame_equal(new[0]["stage_history"], sorted_load[0]["stage_history"])   # stays come out in id order
        assert_frame_equal(new[0]["opportunities"], sorted_load[0]["opportunities"])


@pytest.mark.parametrize("shape", ["lead_funnel", "order_lines", "one_stage"])
def test_export_shapes_load_as_the_row_wise_loader_loaded_them(tmp_path, monkeypatch, shape):
    csv, mapping = getattr(shapes, shape)(tmp_path)
    same_load(csv, monkeypatch, mapping=mapping)


# ---- the repeated-header check ---------------------------------------------------------------------------
NAME_PIECES = [" ", "\t", "\n", "\x1c", "\u00a0", "O", "o", "pportunity", " ID", "id", "Stage", "STAGE", "0", "x", "a b",
               "İ", "ﬀ", "é", "K", "\u212a"]


@settings(max_examples=60, **SETTINGS)
@given(st.lists(st.lists(st.sampled_from(NAME_PIECES), max_size=4).map("".join), min_size=1, max_size=12),
       st.sampled_from([{"opportunity id", "stage", "a b"}, {"", "stage"}, {"ﬀ", "k"}, {"é", "a"}]),
       st.sampled_from(["object", "str"]))
def test_header_names_found_as_python_trims_and_lowers_them(column, names, dtype):
    """The first cells that are a header name (the candidates of a repeated header row), found from the cells' bytes
    and by Arrow, are those Python's `str.strip().lower()` makes a name."""
    from sim.crm.issues import _is_a_name
    text = pd.Series(column, dtype=dtype)
    assert (_is_a_name(text, names) == text.astype(str).str.strip().str.lower().isin(names).to_numpy()).all()
