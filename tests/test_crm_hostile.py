"""Each hostile input of issue 19, by name: what the loader and `playbook check` now answer."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

import sim
from clirun import check
from sim.crm import ExportError, load, neutralise, write_csv
from sim.crm.synth import write_export

HEADER = "Opportunity ID,Stage,Amount,Created Date,Close Date\n"


@pytest.fixture(scope="module")
def simulated():
    return sim.simulate(sim.Scenario.preset("baseline"), seed=3).tables


def counts_add_up(result):
    for name, f in result.summary()["files"].items():
        assert f["rows_read"] == f["rows_loaded"] + f["rows_rejected"], name
        assert f["rows_rejected"] == int((result.rejected["file"] == name).sum()), name


# ---- files that are not exports ----------------------------------------------------------------------
def test_binary_garbage_named_as_csv(tmp_path, capsys):
    path = tmp_path / "export.csv"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(ExportError, match="export.csv: binary data, not a CSV or Excel export"):
        load(path)
    code, _, err = check(["check", str(path)], capsys)
    assert code == 2 and "export.csv: binary data" in err


def test_xlsx_renamed_csv_is_read_as_the_workbook_it_is(tmp_path, simulated):
    write_export(simulated, "hubspot", tmp_path / "csv")
    frame = pd.read_csv(tmp_path / "csv" / "deals.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame.to_excel(tmp_path / "deals.xlsx", index=False)
    (tmp_path / "deals.xlsx").rename(tmp_path / "deals.csv")
    res = load(tmp_path / "deals.csv", crm="hubspot")
    assert len(res.tables.opportunities) == len(simulated.opportunities)
    notes = res.summary()["files"]["deals.csv"]["notes"]
    assert any("an Excel workbook although its name ends in .csv" in n for n in notes)


def test_old_xls_and_pdf_get_a_message(tmp_path):
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(ExportError, match="old Excel 97-2003 workbook"):
        load(tmp_path / "old.xls")
    (tmp_path / "report.csv").write_bytes(b"%PDF-1.7\n...")
    with pytest.raises(ExportError, match="a PDF document"):
        load(tmp_path / "report.csv")


# ---- dates -------------------------------------------------------------------------------------------
def test_placeholder_date_9999_is_repaired_per_cell_not_fatal(tmp_path):
    (tmp_path / "o.csv").write_text(HEADER + "A1,Closed Won,100,2026-01-05,9999-12-31\nA2,Closed Lost,50,2300-01-01,2026-02-01\n"
                                    "A3,Closed Won,70,2026-01-07,2026-03-01\n")
    res = load(tmp_path / "o.csv", crm="salesforce")
    opp = res.tables.opportunities.set_index("opportunity_id")
    assert len(opp) == 3 and pd.isna(opp.loc["A1", "closed_at"]) and pd.isna(opp.loc["A2", "created_at"])
    assert opp.loc["A3", "closed_at"] == pd.Timestamp("2026-03-01")
    reasons = res.repaired.set_index("row")["reason"]
    assert reasons[2].startswith("outside 1900-01-01 to 2199-12-31 (9999-12-31") and "2300-01-01" in reasons[3]


def test_day_first_dashed_dates_with_and_without_times_in_two_columns(tmp_path):
    # the public lead funnel of the issue: created dd-mm-yyyy, closed dd-mm-yyyy HH:MM; every date was blanked
    (tmp_path / "funnel.csv").write_text(
        "id,status,created,closed\nL1,won,01-02-2018,26-02-2018 19:58\nL2,lost,03-02-2018,05-03-2018 08:01\n"
        "L3,open,11-02-2018,\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns: {opportunity_id: id, outcome: status, created_at: created, closed_at: closed}\n")
    res = load(tmp_path / "funnel.csv", mapping=mapping)
    opp = res.tables.opportunities.set_index("opportunity_id")
    assert opp.loc["L1", "created_at"] == pd.Timestamp("2018-02-01")          # day first, like the closed column
    assert opp.loc["L1", "closed_at"] == pd.Timestamp("2018-02-26 19:58")
    assert opp.loc["L2", "closed_at"] == pd.Timestamp("2018-03-05 08:01")
    assert res.repaired.empty and not res.summary()["warnings"]
    assert any("read day first like the file's other date columns" in n for n in res.notes)


@pytest.mark.parametrize("cells, expected", [
    (["15.01.2026", "03.02.2026"], ["2026-01-15", "2026-02-03"]),
    (["1/15/2026 9:05 PM", "2/3/2026 10:00 AM"], ["2026-01-15 21:05", "2026-02-03 10:00"]),
    (["2026/01/15", "2026/02/03"], ["2026-01-15", "2026-02-03"]),
    (["2026-01-15T09:05:00Z", "2026-02-03T10:00:00+02:00"], ["2026-01-15 09:05", "2026-02-03 08:00"]),
    (["46037", "46056.5"], ["2026-01-15", "2026-02-03 12:00"]),
    (["15 Jan 2026", "Feb 3, 2026"], ["2026-01-15", "2026-02-03"]),
    (["20260115", "20260203"], ["2026-01-15", "2026-02-03"]),
])
def test_date_layouts(cells, expected):
    from sim.crm.dates import parse_dates

    p = parse_dates(pd.Series(cells))
    assert p.values.tolist() == [pd.Timestamp(e) for e in expected] and not p.invalid.any() and not p.fallback.any()


def test_mapping_date_format_per_column_and_day_first(tmp_path):
    (tmp_path / "d.csv").write_text("id,status,created,closed\nD1,won,02/03/2026,2026.04.05\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns: {opportunity_id: id, outcome: status, created_at: created, closed_at: closed}\n"
                       "date_format: {created_at: day-first, closed_at: '%Y.%m.%d'}\n")
    opp = load(tmp_path / "d.csv", mapping=mapping).tables.opportunities
    assert opp["created_at"].iloc[0] == pd.Timestamp("2026-03-02") and opp["closed_at"].iloc[0] == pd.Timestamp("2026-04-05")


def test_invalid_date_format_in_a_mapping_is_reported_per_field(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("id,status\nD1,won\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns: {opportunity_id: id, outcome: status}\ndate_format: {created_at: '%Q', finished: '%Y'}\n")
    code, _, err = check(["check", str(tmp_path / "d.csv"), "--mapping", str(mapping)], capsys)
    assert code == 2
    assert "date_format.created_at: '%Q' is not a valid date format" in err
    assert "date_format.finished: not a date column" in err


def test_a_mapped_column_nothing_could_be_read_from_is_a_loud_warning(tmp_path, capsys):
    (tmp_path / "d.csv").write_text(HEADER + "A1,Closed Won,100,yesterday,soon\nA2,Closed Lost,50,last week,later\n")
    code, out, _ = check(["check", str(tmp_path / "d.csv"), "--crm", "salesforce"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[1].startswith("  WARNING: d.csv: column 'Created Date' (created_at): none of its 2 values could be read as a date")
    assert lines[2].startswith("  WARNING: d.csv: column 'Close Date' (closed_at)")


def test_the_report_overview_puts_the_warning_first():
    from sim.report.data import ReportData
    from sim.report.pages import render

    tables = sim.simulate(sim.Scenario.preset("baseline"), seed=1).tables
    data = ReportData("x", tables, details={"warnings": ["deals.csv: column 'Created' (created_at): none of its 9 values "
                                                         "could be read as a date"]})
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        for page in ("index.html.j2", "data-quality.html.j2"):
            html = render(page, Path(tmp) / "p.html", data=data, cards=[], figures={}, all_ran=True, status_line="",
                          skipped_count=0, skipped=[], failed=[], rejected_json="[]", repaired_json="[]", pages=set(),
                          root="", here=page.split(".")[0], crm=None, mapping=None, generated="now").read_text()
            body = html.split("<body", 1)[1]
            warning = body.index("none of its 9 values could be read as a date")
            assert "<strong>Warning:</strong>" in body and warning < body.index("<h2")


# ---- amounts -----------------------------------------------------------------------------------------
def test_decimal_comma_amount_in_a_decimal_point_column_is_reported_not_rescaled(tmp_path):
    (tmp_path / "a.csv").write_text(HEADER + 'A1,Closed Won,"$1,200.50",2026-01-05,\nA2,Closed Won,"$3,000.00",2026-01-05,\n'
                                    'A3,Closed Won,"1.234,56",2026-01-05,\nA4,Closed Won,"12,5",2026-01-05,\n')
    res = load(tmp_path / "a.csv", crm="salesforce")
    amounts = res.tables.opportunities.set_index("opportunity_id")["amount"]
    assert amounts.tolist() == [1200.5, 3000.0, 1234.56, 12.5]
    repaired = res.repaired.set_index("row")["reason"]
    assert "written with a decimal comma (1.234,56), unlike the rest of the column (decimal point" in repaired[4]
    assert repaired[4].endswith("read as 1234.56") and repaired[5].endswith("read as 12.50")


# ---- Excel -------------------------------------------------------------------------------------------
def test_rows_on_a_second_sheet_are_loaded_and_other_sheets_named(tmp_path, capsys):
    book = Workbook()
    first = book.active
    first.title = "Q1"
    first.append(["Opportunity ID", "Stage", "Amount"])
    first.append(["A1", "Closed Won", 100])
    second = book.create_sheet("Q2")
    second.append(["Opportunity ID", "Stage", "Amount"])
    second.append(["A2", "Closed Lost", 50])
    notes = book.create_sheet("Notes")
    notes.append(["Remember"])
    notes.append(["call Bob"])
    book.create_sheet("Empty")
    book.save(tmp_path / "deals.xlsx")
    res = load(tmp_path / "deals.xlsx", crm="salesforce")
    assert res.tables.opportunities["opportunity_id"].tolist() == ["A1", "A2"]
    assert set(res.summary()["files"]) == {"deals.xlsx [Q1]", "deals.xlsx [Q2]"}
    assert res.summary()["sheets_not_read"] == ["deals.xlsx [Notes]: 1 row(s), its header (Remember) does not fit "
                                                "salesforce (needs columns Created Date, Edit Date, Field / Event, New Value, "
                                                "Opportunity ID, Stage Name)"]
    code, out, _ = check(["check", str(tmp_path / "deals.xlsx"), "--crm", "salesforce"], capsys)
    assert code == 0 and "sheet not read: deals.xlsx [Notes]" in out


def test_a_mapping_can_name_the_sheets(tmp_path):
    book = Workbook()
    book.active.title = "Old"
    book.active.append(["id", "status"])
    book.active.append(["X", "won"])
    new = book.create_sheet("Deals")
    new.append(["id", "status"])
    new.append(["Y", "lost"])
    book.save(tmp_path / "d.xlsx")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns: {opportunity_id: id, outcome: status}\nsheets: [Deals]\n")
    res = load(tmp_path / "d.xlsx", mapping=mapping)
    assert res.tables.opportunities["opportunity_id"].tolist() == ["Y"]
    assert res.summary()["sheets_not_read"] == ["d.xlsx [Old]: 1 row(s), not among the sheets the mapping names"]


def test_a_sparse_sheet_is_read_in_bounded_memory(tmp_path):
    book = Workbook()
    book.active.append(["Opportunity ID", "Stage"])
    book.active.append(["A1", "Closed Won"])
    book.active.cell(row=300_000, column=2_000, value="far away")
    book.save(tmp_path / "sparse.xlsx")
    assert (tmp_path / "sparse.xlsx").stat().st_size < 20_000
    tracemalloc.start()
    res = load(tmp_path / "sparse.xlsx", crm="salesforce")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100e6, f"{peak / 1e6:.0f} MB"    # was 2.7 GB
    assert res.tables.opportunities["opportunity_id"].tolist() == ["A1"]
    notes = res.summary()["files"]["sparse.xlsx"]["notes"]
    assert any("declares 2,000 columns, its header has 2; cells right of the header are not part of the table" in n
               for n in notes)


# ---- CSV lines ---------------------------------------------------------------------------------------
def test_malformed_csv_lines_are_rejected_one_by_one(tmp_path):
    (tmp_path / "m.csv").write_text(HEADER + "A1,Closed Won,100,2026-01-05,2026-02-01\n"
                                    'A2,"Closed Won,200,2026-01-05,2026-02-01\n'            # unterminated quote
                                    "A3,Closed Lost,300,2026-01-05,2026-02-01,extra,more\n"  # too many fields
                                    "A4,Closed Won,400,2026-01-05,2026-02-01\n"
                                    'A5,"Closed Lost",500,"2026-01-05","2026-02-01"\n')
    res = load(tmp_path / "m.csv", crm="salesforce")
    assert res.tables.opportunities["opportunity_id"].tolist() == ["A1", "A4", "A5"]
    rejected = res.rejected.set_index("row")
    assert rejected.loc[3, "reason"].startswith("malformed CSV line 3: a quote opened on this line")
    assert rejected.loc[3, "value"] == 'A2,"Closed Won,200,2026-01-05,2026-02-01'
    assert rejected.loc[4, "reason"] == "malformed CSV line 4: 7 fields where the header has 5; the line was not read"
    counts_add_up(res)


def test_quoted_cells_spanning_lines_still_load(tmp_path):
    (tmp_path / "q.csv").write_text(HEADER.replace("\n", ",Description\n") +
                                    'A1,Closed Won,100,2026-01-05,2026-02-01,"two\nlines"\nA2,Closed Lost,5,2026-01-05,,plain\n')
    res = load(tmp_path / "q.csv", crm="salesforce")
    assert res.tables.opportunities["opportunity_id"].tolist() == ["A1", "A2"] and res.rejected.empty


# ---- outputs and counts ------------------------------------------------------------------------------
def test_rejected_csv_neutralises_formulas(tmp_path):
    (tmp_path / "x.csv").write_text(HEADER + '"=HYPERLINK(""http://evil"")",Closed Won,100,2026-01-05,\n'
                                    '"=HYPERLINK(""http://evil"")",Closed Won,100,2026-01-05,\n')
    res = load(tmp_path / "x.csv", crm="salesforce")
    assert '=HYPERLINK("http://evil")' in res.rejected["value"].tolist()     # the loader keeps the value as it was
    written = write_csv(res.rejected, tmp_path / "rejected.csv").read_text()
    assert "'=HYPERLINK" in written and "\n=" not in written and ",=" not in written
    frame = neutralise(pd.DataFrame({"v": ["+1", "-2", "@x", "ok", "\tt"]}))
    assert frame["v"].tolist() == ["'+1", "'-2", "'@x", "ok", "'\tt"]


def test_the_report_writes_rejected_csv_neutralised(tmp_path):
    from sim.report.build import _write_pages
    from sim.report.data import load_export

    (tmp_path / "x.csv").write_text(HEADER + '=cmd|calc,Closed Won,100,2026-01-05,\n=cmd|calc,Closed Won,1,2026-01-05,\n')
    data = load_export(tmp_path / "x.csv", "salesforce")
    (tmp_path / "site").mkdir()
    _write_pages(tmp_path / "site", data, [], "salesforce", None)
    assert "'=cmd|calc" in (tmp_path / "site" / "rejected.csv").read_text()


def test_stage_counts_exclude_rejected_rows(tmp_path):
    (tmp_path / "s.csv").write_text(HEADER + "A1,Closed Won,100,2026-01-05,2026-02-01\nA1,Closed Won,100,2026-01-05,2026-02-01\n"
                                    "A2,Closed Won,100,2026-03-05,2026-02-01\n,Closed Won,1,,\nA3,Qualification,5,2026-01-01,\n")
    res = load(tmp_path / "s.csv", crm="salesforce")
    stages = res.summary()["stages"]
    assert stages["Closed Won"]["deals"] == 1 and stages["Qualification"]["deals"] == 1
    assert sum(s["deals"] for s in stages.values()) == len(res.tables.opportunities)


def test_synth_broken_is_capped_to_what_it_can_break(tmp_path, capsys):
    code, out, _ = check(["synth", "--crm", "pipedrive", "--out", str(tmp_path / "e"), "--broken", "100000"], capsys)
    damages = json.loads((tmp_path / "e" / "broken_rows.json").read_text())
    deals = len(pd.read_csv(tmp_path / "e" / "deals.csv", sep=";", dtype=str)) - 2          # minus the blank tail
    assert code == 0 and f"{deals - 1} broken rows" in out and "--broken 100000 asked for more than" in out
    assert len([d for d in damages if d["what"] != "blank trailing row"]) == deals - 1


def test_keep_naming_a_canonical_column(tmp_path, capsys):
    (tmp_path / "k.csv").write_text("id,status,fit_score,amount,value\nK1,won,0.7,x,100\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns: {opportunity_id: id, outcome: status}\nkeep: [fit_score]\n")
    res = load(tmp_path / "k.csv", mapping=mapping)
    assert res.tables.opportunities["fit_score"].tolist() == [0.7]        # read and checked as a number
    assert any("keep: fit_score is a canonical column" in n for n in res.notes)
    mapping.write_text("columns: {opportunity_id: id, outcome: status, amount: value}\nkeep: [Region, amount]\n")
    code, _, err = check(["check", str(tmp_path / "k.csv"), "--mapping", str(mapping)], capsys)
    assert code == 2 and "keep.1: 'amount' is a canonical column that columns: already fills (from 'value')" in err


# ---- the demo export ---------------------------------------------------------------------------------
def test_synth_writes_product_fit_score_and_complaints_the_presets_read(tmp_path, simulated):
    for crm in ("salesforce", "hubspot", "pipedrive"):
        write_export(simulated, crm, tmp_path / crm, seed=4)
        res = load(tmp_path / crm, crm=crm)
        opp = res.tables.opportunities
        assert res.repaired.empty and opp["product"].notna().all(), crm
        assert (opp["fit_score"] - simulated.opportunities["fit_score"]).abs().max() <= 0.0051, crm
        assert res.tables.accounts["complaints"].notna().all(), crm
        assert opp["product"].nunique() == 5
    again = tmp_path / "again"
    write_export(simulated, "salesforce", again, seed=4)
    assert (again / "opportunities.csv").read_bytes() == (tmp_path / "salesforce" / "opportunities.csv").read_bytes()


def test_the_demo_export_has_every_column_the_cards_need(tmp_path, simulated):
    from sim.analysis import pareto, sweet_spot

    write_export(simulated, "salesforce", tmp_path, seed=7, broken=12)
    tables = load(tmp_path, crm="salesforce").tables
    for by in ("fit_band", "segment", "product"):
        assert len(sweet_spot.by_group(tables.opportunities, by))
    assert pareto.product_customer_cross(tables.opportunities)["top_products"]
    assert len(pareto.complaint_concentration(tables.accounts))


def test_an_export_that_cannot_be_opened_is_named(tmp_path, capsys, monkeypatch):
    (tmp_path / "locked.csv").write_text(HEADER + "A1,Closed Won,1,2026-01-05,\n")

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr("sim.crm.files.open", denied, raising=False)   # root may read anything; pretend otherwise
    code, _, err = check(["check", str(tmp_path / "locked.csv")], capsys)
    assert code == 2 and f"{tmp_path / 'locked.csv'}: Permission denied; check its permissions" in err
