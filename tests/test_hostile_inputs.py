"""Generated hostile exports, mappings and flags: every input gets a clear answer.

Hypothesis writes export files mixing good rows (known values, written in the file's own conventions)
with hostile rows and cells (malformed CSV lines, blank rows, formulas, placeholder and impossible dates,
amounts in the other decimal convention, words, duplicates), in four encodings, two delimiters and two
line endings, and now and then a file that is no export at all (binary bytes, a workbook under a .csv
name, nothing). It checks, for the loader and for `playbook check` on the same file:

- no traceback, and exit status 0 (something loaded), 1 (nothing loaded) or 2 (not an export, said so);
- rows read = loaded + rejected for every file;
- every good row is loaded with exactly its values (a loader that rejects or blanks good rows fails);
- no value is changed without a `repaired` entry: a cell that must be emptied is empty *and* listed, a
  cell read by a fallback rule (the other decimal convention) is listed.

A second property feeds generated mapping files and flags to the command line. Derandomized, so a
failure reproduces; about 15 s in all.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import pandas as pd
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.crm import ExportError, load
from sim.crm.dates import EMPTY_TOKENS

SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
HEADER = ["Opportunity ID", "Stage", "Amount", "Created Date", "Close Date", "Opportunity Owner"]
OWNERS = ["Ann", "Bob Müller", "Société Générale", "Zoë"]
STAGES = ["Closed Won", "Closed Lost", "Qualification", "Negotiation/Review"]
NO_DIGITS = "abcdefghijklmnopqrstuvwxyz éüß€$!?#*()[]{}<>"


@dataclass
class Cell:
    """One generated cell: its text, the value the loader must end with (None: empty), and whether the
    loader must list it as repaired."""

    text: str
    expected: object
    report: bool = False


# ---- conventions of one file ------------------------------------------------------------------------
AMOUNT_STYLES = {
    "us": lambda v: f"${v:,.2f}",
    "plain": lambda v: f"{v:.2f}",
    "eu": lambda v: f"{v:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".") + " €",
}
DATE_STYLES = {
    "iso": lambda d: d.strftime("%Y-%m-%d"),
    "iso-time": lambda d: d.strftime("%Y-%m-%d %H:%M"),
    "us": lambda d: f"{d.month}/{d.day}/{d.year}",
    "eu-dot": lambda d: d.strftime("%d.%m.%Y"),
    "eu-dash-time": lambda d: d.strftime("%d-%m-%Y %H:%M"),
    "eu-slash": lambda d: d.strftime("%d/%m/%Y"),
}


def dates_of(style: str, d: pd.Timestamp) -> pd.Timestamp:
    """What the loader should read back: the written precision."""
    return d.floor("min") if style.endswith("time") else d.normalize()


@st.composite
def good_row(draw, i: int, amount_style: str, date_style: str, evidence: bool):
    value = round(draw(st.floats(0, 5e6, allow_nan=False)), 2)
    created = pd.Timestamp("2024-01-01") + pd.Timedelta(minutes=draw(st.integers(0, 2 * 365 * 24 * 60)))
    if evidence:     # a day above 12, so the file shows its day/month order
        created = created.replace(day=20)
    closed = created + pd.Timedelta(minutes=draw(st.integers(0, 200 * 24 * 60)))
    stage = draw(st.sampled_from(STAGES))
    cells = [
        Cell(f"G{i}", f"G{i}"), Cell(stage, stage),
        Cell(AMOUNT_STYLES[amount_style](value), value),
        Cell(DATE_STYLES[date_style](created), dates_of(date_style, created)),
        Cell(DATE_STYLES[date_style](closed), dates_of(date_style, closed)),
        Cell(draw(st.sampled_from(OWNERS)), None),
    ]
    cells[5].expected = cells[5].text
    return cells


def hostile_amount(style: str):
    """Amount cells that must be emptied and listed, or read by a fallback and listed."""
    other = "eu" if style in ("us", "plain") else "us"
    return st.one_of(
        st.sampled_from(["=B2*3", '=HYPERLINK("http://x")', "@SUM(A1)", "about 5k", "1e999", "inf", "-250",
                         "12 apples"]).map(lambda t: Cell(t, None, True)),
        st.text(NO_DIGITS, min_size=1, max_size=12).filter(lambda t: t.strip() not in EMPTY_TOKENS)
        .map(lambda t: Cell(t, None, True)),
        # the other decimal convention: read by its own convention, and listed. Without the other style's
        # currency symbol: a '$' amount in a column of '€' amounts is another currency, never summed with them
        # (tests/test_crm_real_exports.py)
        st.floats(1000, 99999, allow_nan=False).map(lambda v: round(v, 2))
        .map(lambda v: Cell(AMOUNT_STYLES[other](v).replace("$", "").replace(" €", ""), v, True)),
    )


def hostile_date():
    return st.one_of(
        st.sampled_from(["9999-12-31", "2300-01-05", "31/31/2026", "0000-00-00", "yesterday", "=TODAY()",
                         "12/31/1899", "March", "46037.5.1"]).map(lambda t: Cell(t, None, True)),
        st.text(NO_DIGITS, min_size=1, max_size=12).filter(lambda t: t.strip() not in EMPTY_TOKENS)
        .map(lambda t: Cell(t, None, True)),
    )


@st.composite
def export_file(draw):
    """The text of an export (lines) and, per data line, what the loader must do with it."""
    amount_style = draw(st.sampled_from(sorted(AMOUNT_STYLES)))
    date_style = draw(st.sampled_from(sorted(DATE_STYLES)))
    sep = draw(st.sampled_from([",", ";"]))
    n = draw(st.integers(1, 14))
    rows = []          # (kind, cells or raw line)
    for i in range(n):
        kind = draw(st.sampled_from(["good"] * 4 + ["bad amount", "bad date", "blank", "unterminated quote",
                                                     "too many fields", "duplicate", "no id"]))
        if not rows:
            kind = "good"    # the first row shows the file's conventions (a day above 12)
        if kind in ("good", "bad amount", "bad date", "duplicate", "no id"):
            cells = draw(good_row(i, amount_style, date_style, evidence=not rows))
            if kind == "bad amount":
                cells[2] = draw(hostile_amount(amount_style))
            elif kind == "bad date":
                cells[3] = draw(hostile_date())
            elif kind == "duplicate":
                earlier = [c for k, c in rows if k == "good"]
                if earlier:
                    cells[0] = Cell(earlier[0][0].text, None)
                else:
                    kind = "good"
            elif kind == "no id":
                cells[0] = Cell("", None)
            rows.append((kind, cells))
        elif kind == "blank":
            rows.append(("blank", sep * (len(HEADER) - 1)))
        elif kind == "unterminated quote":
            rows.append(("malformed", f'X{i}{sep}"Closed Won{sep}100{sep}2026-01-02'))
        else:
            rows.append(("malformed", sep.join(["Y{}".format(i), "Closed Won", "1", "2026-01-02", "", "Ann", "extra", "more"])))
    # the file's own convention stays the majority of its amounts (a loader can only go by the majority)
    good = sum(1 for k, c in rows if not isinstance(c, str) and not c[2].report)
    other = [c for k, c in rows if not isinstance(c, str) and c[2].report and c[2].expected is not None]
    for cells in other[max(good - 1, 0):]:
        cells[2] = Cell("about 5k", None, True)
    return amount_style, date_style, sep, rows


def render(sep: str, rows, newline: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator=newline)
    writer.writerow(HEADER)
    for kind, content in rows:
        if isinstance(content, str):
            out.write(content + newline)
        else:
            writer.writerow([c.text for c in content])
    return out.getvalue()


GARBAGE = st.sampled_from(["binary", "workbook", "empty", "header only", "truncated utf-16"])


def garbage_bytes(kind: str, tmp) -> bytes:
    if kind == "binary":
        return bytes(range(256)) * 8
    if kind == "workbook":
        frame = pd.DataFrame({"Opportunity ID": ["A1"], "Stage": ["Closed Won"]})
        frame.to_excel(tmp / "w.xlsx", index=False)
        return (tmp / "w.xlsx").read_bytes()
    if kind == "empty":
        return b""
    if kind == "header only":
        return ",".join(HEADER).encode() + b"\n"
    return "Opportunity ID,Stage\nA1,Closed Won\n".encode("utf-16")[:-1]


# ---- the property --------------------------------------------------------------------------------
def repaired_at(result, row: int, column: str) -> bool:
    r = result.repaired
    return bool(((r["row"] == row) & (r["column"] == column)).any())


def check_loaded(result, rows):
    """Every row with a new id is loaded with its values; every changed value is listed as repaired."""
    opp = result.tables.opportunities.set_index("opportunity_id")
    seen = set()
    for line, (kind, cells) in enumerate(rows, start=2):
        if isinstance(cells, str) or not cells[0].text or cells[0].text in seen:
            continue
        oid = cells[0].text
        seen.add(oid)
        assert oid in opp.index, f"row {line} ({oid}) was not loaded: {result.rejected.to_dict('records')}"
        loaded = opp.loc[oid]
        closed = "closed_at" if cells[1].text.startswith("Closed") else "expected_close_at"   # an open deal's close date
        for cell, column, canon in zip(cells[2:5], HEADER[2:5], ("amount", "created_at", closed)):
            got = loaded[canon]
            if cell.expected is None:
                assert pd.isna(got), f"row {line} {column}: {cell.text!r} should be empty, got {got!r}"
            elif isinstance(cell.expected, float):
                assert math.isclose(got, cell.expected, abs_tol=0.005), f"row {line} {column}: {cell.text!r} -> {got!r}"
            else:
                assert got == cell.expected, f"row {line} {column}: {cell.text!r} -> {got!r}, expected {cell.expected}"
            if cell.report:
                assert repaired_at(result, line, column), f"row {line} {column}: {cell.text!r} changed without a repair entry"


@settings(max_examples=60, **SETTINGS)
@given(export_file(), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]), st.sampled_from(["\n", "\r\n"]),
       st.one_of(st.none(), GARBAGE))
def test_hostile_exports_get_a_clear_answer_and_lose_nothing(tmp_path_factory, capsys, generated, encoding, newline, garbage):
    tmp = tmp_path_factory.mktemp("hostile")
    amount_style, date_style, sep, rows = generated
    path = tmp / "opps.csv"
    if garbage is None:
        path.write_bytes(render(sep, rows, newline).encode(encoding, errors="replace"))
    else:
        path.write_bytes(garbage_bytes(garbage, tmp))

    try:
        result = load(path, crm="salesforce")
    except ExportError as err:
        assert garbage is not None, f"a generated export was refused: {err}"
        assert "opps.csv" in str(err)
        result = None
    if result is not None:
        for name, f in result.summary()["files"].items():
            assert f["rows_read"] == f["rows_loaded"] + f["rows_rejected"], name
            assert f["rows_rejected"] == int((result.rejected["file"] == name).sum()), name
        if garbage is None:
            assert result.summary()["rows_read"] == len(rows)
            check_loaded(result, rows)

    capsys.readouterr()
    code = main(["check", str(path), "--crm", "salesforce"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "this is a bug" not in err
    expected = 2 if result is None else (0 if len(result.tables.opportunities) else 1)
    assert code == expected, out + err


# ---- mappings and flags ---------------------------------------------------------------------------
yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=True),
                         st.text(max_size=12), st.sampled_from(["%d-%m-%Y", "%Q", "day-first", "%Y", "fit_score",
                                                                 "created_at", "Opportunity ID", "Stage"]))
MAPPING_KEYS = ["columns", "stages", "date_format", "currency", "keep", "sheets", "history", "bogus"]
CANONICAL = ["opportunity_id", "stage", "outcome", "amount", "created_at", "closed_at", "fit_score", "product", "nope"]


@st.composite
def mapping_data(draw):
    data = {}
    if draw(st.booleans()):
        data["columns"] = draw(st.one_of(
            st.dictionaries(st.sampled_from(CANONICAL), st.sampled_from(HEADER + ["missing"]), max_size=5),
            yaml_scalars, st.lists(yaml_scalars, max_size=3)))
    for key in draw(st.lists(st.sampled_from(MAPPING_KEYS), max_size=4, unique=True)):
        data[key] = draw(st.one_of(
            yaml_scalars, st.lists(st.one_of(yaml_scalars, st.sampled_from(CANONICAL)), max_size=3),
            st.dictionaries(st.sampled_from(CANONICAL + STAGES), yaml_scalars, max_size=3)))
    return data


@settings(max_examples=40, **SETTINGS)
@given(st.one_of(mapping_data(), yaml_scalars, st.just("{{unclosed")))
def test_any_mapping_file_gets_a_clear_answer(tmp_path_factory, capsys, data):
    tmp = tmp_path_factory.mktemp("mapping")
    export = tmp / "deals.csv"
    export.write_text("Opportunity ID,Stage,Amount,Created Date\nA1,Closed Won,100,2026-01-02\nA2,Qualification,50,13/01/2026\n")
    mapping = tmp / "m.yaml"
    mapping.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True))
    capsys.readouterr()
    code = main(["check", str(export), "--mapping", str(mapping)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "this is a bug" not in err
    assert code in (0, 1, 2)
    if code == 2:
        assert "m.yaml" in err or "deals.csv" in err, err


FLAG_VALUES = st.sampled_from(["-1", "0", "1", "2", "abc", "", "1e3", "99999999999999999999", "3.5", " 7 ", "-0"])


@settings(max_examples=30, **SETTINGS)
@given(st.sampled_from(["check", "synth", "simulate", "compare", "report"]),
       st.lists(st.tuples(st.sampled_from(["--seed", "--broken", "--show", "--reps", "--workers", "--timeout",
                                           "--metrics", "--crm", "--out", "-o"]), FLAG_VALUES), max_size=3))
def test_any_flags_get_a_clear_answer(tmp_path_factory, capsys, command, flags):
    tmp = tmp_path_factory.mktemp("flags")
    (tmp / "a-file").write_text("x")
    argv = [command] + {"check": [str(tmp / "a-file")], "synth": ["--crm", "hubspot"], "simulate": ["baseline"],
                        "compare": ["baseline", "baseline", "--reps", "2", "--no-progress"],
                        "report": [str(tmp / "a-file")]}[command]
    for flag, value in flags:
        argv += [flag, str(tmp / "a-file") if flag in ("--out", "-o") else value]
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit:   # argparse: a usage message and status 2
        code = exit.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code in (0, 1, 2), (argv, out, err)
    if code == 0:    # only argument lists that are complete and valid run; they must not write onto a file
        assert (tmp / "a-file").read_text() == "x"
