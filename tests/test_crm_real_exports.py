"""The export shapes people really have (issue 24): every one gives the right numbers with its repairs listed,
or a clear refusal naming the file, row, column or field. One test per shape, built for the shape (the
battery's own files are held out)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from clirun import check
from sim.cli import main
from sim.crm import ExportError, load


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def repaired(res, column: str) -> pd.DataFrame:
    return res.repaired[res.repaired["column"] == column]


# ---- amounts ---------------------------------------------------------------------------------------
def test_european_whole_amounts_with_a_thousands_dot_are_thousands(tmp_path):
    path = write(tmp_path / "o.csv", "Opportunity ID;Stage;Amount;Created Date;Close Date\n"
                 "A1;Closed Won;1.250 €;05.01.2026;20.02.2026\nA2;Closed Won;12.500 €;06.01.2026;21.02.2026\n"
                 "A3;Closed Lost;3.000.000 €;07.01.2026;22.02.2026\nA4;Qualification;900 €;08.01.2026;\n")
    res = load(path, crm="salesforce")
    assert res.tables.opportunities["amount"].tolist() == [1250.0, 12500.0, 3_000_000.0, 900.0]
    assert any("thousands dot" in n and "Amount" in n for n in res.notes)   # the reading is said


def test_three_digits_after_the_dot_in_a_decimal_point_column_is_listed(tmp_path):
    path = write(tmp_path / "o.csv", "Opportunity ID,Stage,Amount\nA1,Closed Won,1.250\nA2,Closed Won,12.50\n"
                 "A3,Closed Won,\"3,400.00\"\n")
    res = load(path, crm="salesforce")
    assert res.tables.opportunities["amount"].tolist() == [1.25, 12.5, 3400.0]
    listed = repaired(res, "Amount")
    assert listed["row"].tolist() == [2] and "three digits after the dot" in listed["reason"].iloc[0]


def test_a_percentage_in_an_amount_column_is_not_an_amount(tmp_path):
    path = write(tmp_path / "o.csv", "Opportunity ID,Stage,Amount,Probability (%)\n"
                 "A1,Closed Won,50%,100%\nA2,Closed Won,1200,90%\n")
    res = load(path, crm="salesforce")
    opp = res.tables.opportunities
    assert pd.isna(opp["amount"].iloc[0]) and opp["amount"].iloc[1] == 1200
    assert "percentage" in repaired(res, "Amount")["reason"].iloc[0]
    assert repaired(res, "Probability (%)").empty       # a probability may be a percentage


PIPEDRIVE = ("Deal - ID,Deal - Title,Deal - Value,Deal - Currency of value,Deal - Status,Deal - Deal created,"
             "Deal - Won time\n")


def _pipedrive_rows() -> str:
    rows = [(1, 1000, "USD"), (2, 2000, "USD"), (3, 3000, "USD"), (4, 500, "EUR"), (5, 1_500_000, "JPY"),
            (6, 1_500_000, "JPY"), (7, 800, "GBP")]
    return "".join(f"{i},D{i},{v},{c},won,2026-01-0{i},2026-02-0{i}\n" for i, v, c in rows)


def test_amounts_in_several_currencies_are_never_summed_as_one(tmp_path, capsys):
    path = write(tmp_path / "deals.csv", PIPEDRIVE + _pipedrive_rows())
    res = load(path, crm="pipedrive")
    opp = res.tables.opportunities
    assert opp["amount"].sum() == 6000     # the USD deals; the others are empty, not 3 million "USD"
    assert sorted(repaired(res, "Deal - Value")["row"]) == [5, 6, 7, 8]
    assert any("4 currencies" in w and "rates:" in w for w in res.warnings)
    code, out, _ = check(["check", str(path), "--crm", "pipedrive"], capsys)
    assert "4 currencies" in out


def test_a_rates_table_converts_every_deal_to_one_currency(tmp_path):
    path = write(tmp_path / "deals.csv", PIPEDRIVE + _pipedrive_rows())
    mapping = write(tmp_path / "m.yaml", "columns:\n  opportunity_id: Deal - ID\n  outcome: Deal - Status\n"
                    "  amount: Deal - Value\n  currency: Deal - Currency of value\n  created_at: Deal - Deal created\n"
                    "  closed_at: Deal - Won time\ncurrency: USD\nrates: {USD: 1, EUR: 1.1, JPY: 0.007, GBP: 1.25}\n")
    res = load(path, mapping=mapping)
    opp = res.tables.opportunities
    assert opp["amount"].round(6).tolist() == [1000, 2000, 3000, 550, 10500, 10500, 1000]
    assert set(opp["currency"]) == {"USD"} and res.repaired.empty
    assert any("converted to USD" in n for n in res.notes)


def test_a_rate_table_missing_a_currency_leaves_those_amounts_empty_and_listed(tmp_path):
    path = write(tmp_path / "deals.csv", PIPEDRIVE + _pipedrive_rows())
    mapping = write(tmp_path / "m.yaml", "columns:\n  opportunity_id: Deal - ID\n  outcome: Deal - Status\n"
                    "  amount: Deal - Value\n  currency: Deal - Currency of value\ncurrency: USD\n"
                    "rates: {USD: 1, EUR: 1.1, JPY: 0.007}\n")
    res = load(path, mapping=mapping)
    assert pd.isna(res.tables.opportunities["amount"].iloc[6])
    assert "GBP" in repaired(res, "Deal - Value")["reason"].iloc[0]


@pytest.mark.parametrize("rates, says", [("{EUR: -1}", "positive"), ("{EUR: .nan}", "positive"),
                                         ("{EUR: 1e308}", "below 1e9")])
def test_bad_rates_are_refused_naming_the_field(tmp_path, rates, says):
    path = write(tmp_path / "deals.csv", PIPEDRIVE + _pipedrive_rows())
    mapping = write(tmp_path / "m.yaml", f"columns:\n  opportunity_id: Deal - ID\n  outcome: Deal - Status\n"
                    f"currency: USD\nrates: {rates}\n")
    with pytest.raises(ExportError, match=f"rates.*{says}"):
        load(path, mapping=mapping)


def test_currency_codes_in_the_cells_are_detected_too(tmp_path):
    path = write(tmp_path / "o.csv", "Opportunity ID,Stage,Amount\nA1,Closed Won,USD 1000\nA2,Closed Won,USD 2000\n"
                 "A3,Closed Won,JPY 1500000\n")
    res = load(path, crm="salesforce")
    assert res.tables.opportunities["amount"].sum() == 3000 and repaired(res, "Amount")["row"].tolist() == [4]


def test_the_converted_amount_column_is_preferred_and_said(tmp_path):
    path = write(tmp_path / "o.csv", "Opportunity ID,Stage,Opportunity Currency,Amount,Amount (converted)\n"
                 "A1,Closed Won,JPY,\"JPY 3,500,000\",\"USD 23,500.00\"\nA2,Closed Won,USD,\"USD 1,000.00\",\"USD 1,000.00\"\n"
                 "A3,Closed Won,EUR,\"EUR 2,000.00\",\"USD 2,160.00\"\n")
    res = load(path, crm="salesforce")
    assert res.tables.opportunities["amount"].tolist() == [23500.0, 1000.0, 2160.0]
    assert any("'Amount (converted)'" in n for n in res.notes) and not res.warnings
    assert "Amount (converted)" not in res.summary()["files"]["o.csv"]["unused_columns"]


# ---- stage labels ----------------------------------------------------------------------------------
def test_labels_with_no_break_or_double_spaces_are_the_plain_label(tmp_path):
    path = write(tmp_path / "o.csv", "Opportunity ID,Stage,Amount\nA1,Closed\u00a0Won,10\nA2,Closed  Won,20\n"
                 "A3,\uff23losed Lost,5\nA4,Qualification,1\n")
    res = load(path, crm="salesforce")
    assert res.tables.opportunities["outcome"].tolist() == ["won", "won", "lost", "open"]
    assert set(res.stages) == {"Closed Won", "Closed Lost", "Qualification"}
    assert any("3 stage label(s) with unusual spaces" in n for n in res.notes)


GERMAN = ("Opportunity ID;Stage;Amount;Created Date;Close Date\n"
          "A1;Geschlossen und gewonnen;1.250,00 €;03.01.2026;14.02.2026\n"
          "A2;Geschlossen und verloren;12.500,50 €;04.01.2026;15.03.2026\n"
          "A3;Qualification;900,00 €;05.01.2026;30.06.2026\n")


def test_a_german_salesforce_export_keeps_its_outcomes_and_close_dates(tmp_path):
    res = load(write(tmp_path / "o.csv", GERMAN, encoding="cp1252"), crm="salesforce")
    opp = res.tables.opportunities
    assert opp["outcome"].tolist() == ["won", "lost", "open"]
    assert opp["amount"].tolist() == [1250.0, 12500.5, 900.0]
    assert opp["closed_at"].tolist()[:2] == [pd.Timestamp("2026-02-14"), pd.Timestamp("2026-03-15")]
    assert pd.isna(opp["closed_at"].iloc[2]) and opp["expected_close_at"].iloc[2] == pd.Timestamp("2026-06-30")
    assert not res.warnings


@pytest.mark.parametrize("won, lost", [("Fermée gagnée", "Fermée perdue"), ("Cerrada ganada", "Cerrada perdida"),
                                       ("Fechada ganha", "Fechada perdida"), ("FERMEE GAGNEE", "fermée  perdue")])
def test_localised_salesforce_closed_stages(tmp_path, won, lost):
    path = write(tmp_path / "o.csv", f"Opportunity ID,Stage,Amount\nA1,{won},10\nA2,{lost},20\n")
    assert load(path, crm="salesforce").tables.opportunities["outcome"].tolist() == ["won", "lost"]


def test_hubspot_export_of_several_pipelines(tmp_path, capsys):
    rows = [("1", "Closed won (Renewals)"), ("2", "Deal Won"), ("3", "Lost"), ("4", "Closed Lost - EMEA"),
            ("5", "closedwon"), ("6", "Contract Sent"), ("7", "Churned"), ("8", "Churned")]
    text = "Record ID,Deal Stage,Amount,Create Date,Close Date\n" + "".join(
        f"{i},{stage},100,2026-01-0{i},2026-02-0{i}\n" for i, stage in rows) + "9,Contract Sent,100,2026-05-01,2026-08-01\n"
    path = write(tmp_path / "deals.csv", text)
    res = load(path, crm="hubspot")
    assert res.tables.opportunities["outcome"].tolist() == ["won", "won", "lost", "lost", "won"] + ["open"] * 4
    # 'Churned' is not a label we know: its deals closed in the past, so it is said, with the fix; 'Contract Sent'
    # is a known open stage (its close date is an expected one)
    (warning,) = res.warnings
    assert "2 deals have a close date in the past but a stage we read as open" in warning
    assert "'Churned' (2)" in warning and "Contract Sent" not in warning and "map them" in warning
    code, out, _ = check(["check", str(path), "--crm", "hubspot"], capsys)
    assert "WARNING: deals.csv: 2 deals have a close date" in out


# ---- structure -------------------------------------------------------------------------------------
def test_a_very_wide_export_is_read_by_name_whatever_the_column(tmp_path):
    names = [f"Custom {k}" for k in range(2000)]
    names[0], names[1], names[1605], names[1606] = "Opportunity ID", "Stage", "Amount", "Lead Source"
    cells = [""] * 2000
    cells[0], cells[1], cells[1605], cells[1606] = "A1", "Closed Won", "1200", "Referral"
    path = write(tmp_path / "wide.csv", ",".join(names) + "\n" + ",".join(cells) + "\n")
    res = load(path, crm="salesforce")
    opp = res.tables.opportunities
    assert opp["amount"].tolist() == [1200.0] and opp["lead_source"].tolist() == ["Referral"]
    assert "amount" not in res.summary()["missing_columns"]


def test_a_repeated_header_row_is_rejected_as_such(tmp_path):
    head = "Opportunity ID,Stage,Amount\n"
    path = write(tmp_path / "o.csv", head + "A1,Closed Won,10\n" + head + "A2,Closed Lost,20\n")
    res = load(path, crm="salesforce")
    assert res.tables.opportunities["opportunity_id"].tolist() == ["A1", "A2"]
    (row,) = res.rejected.itertuples()
    assert row.row == 3 and "the header row again" in row.reason


def test_a_file_cut_in_its_last_row_rejects_that_row(tmp_path):
    path = tmp_path / "o.csv"
    path.write_bytes(b"Opportunity ID,Stage,Amount,Created Date,Close Date\r\nA1,Closed Won,10,2026-01-02,2026-02-01\r\n"
                     b"A2,Closed Lo")
    res = load(path, crm="salesforce")
    assert res.tables.opportunities["opportunity_id"].tolist() == ["A1"]
    (row,) = res.rejected.itertuples()
    assert row.row == 3 and "the file ends in the middle of this row" in row.reason
    whole = write(tmp_path / "p.csv", "Opportunity ID,Stage\nA1,Closed Won")   # no final line break, but whole
    assert load(whole, crm="salesforce").rejected.empty


def test_line_breaks_and_the_end_of_a_file_read_a_block_at_a_time(tmp_path, monkeypatch):
    """The fast reader's checks count line breaks and read the end of the file in blocks, not the whole file: the
    same answers as on the whole bytes, across block edges and past NUL padding at the end."""
    from sim.crm import files
    monkeypatch.setattr(files._FileBytes, "BLOCK", 3)
    for data in (b"a,b\r\n1,2\r\n3,4", b"a,b\n1,2\n" + b"\x00" * 5, b"\n\n\r", b"x", b"a,b\n1,2\n3" + b"\x00" * 70_000):
        path = tmp_path / "f.csv"
        path.write_bytes(data)
        some = files._FileBytes(path)
        assert [some.count(b) for b in (b"\n", b"\r", b"\x00")] == [data.count(b) for b in (b"\n", b"\r", b"\x00")]
        assert some.tail(4) == data[-4:] and some.tail(1 << 20) == data
    padded = tmp_path / "padded.csv"   # a cut last row behind 70,000 NUL bytes is still found
    rows = "".join(f"A{i},Closed Won,10\n" for i in range(600)).encode()
    padded.write_bytes(b"Opportunity ID,Stage,Amount\n" + rows + b"B,Closed" + b"\x00" * 70_000)
    res = load(padded, crm="salesforce")
    assert len(res.tables.opportunities) == 600 and "the file ends in the middle" in res.rejected["reason"].iloc[-1]


def test_formula_cells_without_a_saved_value_are_listed(tmp_path):
    from openpyxl import Workbook
    book = Workbook()
    sheet = book.active
    sheet.append(["Opportunity ID", "Stage", "Amount", "Owner"])
    for i in range(1, 5):
        sheet.append([f"A{i}", "Closed Won", f"=B{i}*0+100" if i % 2 else 250, "Ann"])
    book.save(tmp_path / "deals.xlsx")      # openpyxl writes formulas without calculating them
    res = load(tmp_path / "deals.xlsx", crm="salesforce")
    opp = res.tables.opportunities
    assert opp["amount"].isna().tolist() == [True, False, True, False]
    listed = repaired(res, "Amount")
    assert listed["row"].tolist() == [2, 4] and listed["value"].tolist() == ["=B1*0+100", "=B3*0+100"]
    assert "formula with no saved value" in listed["reason"].iloc[0]


def test_history_rows_after_the_close_or_before_creation(tmp_path):
    write(tmp_path / "opportunities.csv", "Opportunity ID,Stage,Amount,Created Date,Close Date\n"
          "A1,Closed Won,10,2026-02-01,2026-05-10\n")
    write(tmp_path / "history.csv", "Opportunity ID,Stage Name,Created Date\n"
          "A1,Prospecting,2026-01-15 09:00\nA1,Negotiation/Review,2026-04-01 10:00\n"
          "A1,Closed Won,2026-05-10 16:00\nA1,Negotiation/Review,2026-06-02 08:00\n")
    res = load(tmp_path, crm="salesforce")
    hist = res.tables.stage_history
    assert hist["stage"].tolist() == ["Prospecting", "Negotiation/Review"]
    assert hist["entered_at"].iloc[0] == pd.Timestamp("2026-02-01")            # moved to the creation
    assert hist["exited_at"].iloc[-1] == pd.Timestamp("2026-05-10 16:00")      # ends when won, not in June
    assert res.tables.opportunities["stage"].tolist() == ["Negotiation/Review"]   # the last stage before the win
    (late,) = res.rejected.itertuples()
    assert late.row == 5 and "after the deal closed (2026-05-10)" in late.reason
    (early,) = res.repaired.itertuples()
    assert early.row == 2 and "before the deal was created (2026-02-01)" in early.reason


# ---- long cells ------------------------------------------------------------------------------------
def test_a_one_megabyte_cell_in_a_date_or_amount_column_is_a_repair_not_a_hang(tmp_path, capsys):
    """The date-layout patterns once grew with the square of a cell's length (200 KB: 9 minutes). A cell longer
    than any date or amount is now not searched at all; `benchmarks/bench_long_cells.py` holds the 1-second goal,
    this bound only catches a return of the quadratic cost (which would take hours here)."""
    import time
    big = "2026-01-05 " + "notes " * 175_000
    path = write(tmp_path / "o.csv", "Opportunity ID,Stage,Amount,Created Date,Close Date\n"
                 f"A1,Closed Won,\"1 {big}\",\"{big}\",2026-02-01\nA2,Closed Lost,20,2026-01-03,2026-02-02\n")
    start = time.perf_counter()
    res = load(path, crm="salesforce")
    assert time.perf_counter() - start < 8
    opp = res.tables.opportunities
    assert pd.isna(opp["created_at"].iloc[0]) and pd.isna(opp["amount"].iloc[0])
    assert sorted(repaired(res, "Created Date")["row"]) == [2] and sorted(repaired(res, "Amount")["row"]) == [2]


# ---- wrappers around real exports ------------------------------------------------------------------
def test_a_report_title_and_filter_block_above_the_header_are_skipped_and_said(tmp_path):
    path = write(tmp_path / "report.csv", '"Pipeline by Stage"\n\n"Filtered By:"\n"  Close Date equals THIS YEAR"\n\n'
                 "Opportunity ID,Stage,Amount\nA1,Closed Won,10\nA2,Closed Lost,20\n,,\n")
    res = load(path, crm="salesforce")
    assert res.tables.opportunities["opportunity_id"].tolist() == ["A1", "A2"]
    notes = res.summary()["files"]["report.csv"]["notes"]
    assert any("5 line(s) above the header skipped" in n and "Pipeline by Stage" in n for n in notes)
    (blank,) = res.rejected.itertuples()
    assert blank.row == 9          # rows are still numbered as the file shows them


def test_excels_sep_line_names_the_delimiter_and_is_skipped(tmp_path):
    path = write(tmp_path / "o.csv", "sep=;\nOpportunity ID;Stage;Amount\nA1;Closed Won;1.200,50\nA2;Qualification;3\n")
    res = load(path, crm="salesforce")
    assert res.tables.opportunities["amount"].tolist() == [1200.5, 3.0]
    assert any("Excel's delimiter line" in n for n in res.summary()["files"]["o.csv"]["notes"])


def test_lock_files_and_readmes_in_an_export_folder_are_listed_not_fatal(tmp_path, capsys):
    write(tmp_path / "opportunities.csv", "Opportunity ID,Stage,Amount\nA1,Closed Won,10\n")
    (tmp_path / "~$opportunities.xlsx").write_bytes(b"\x00\x01locked by ann")
    write(tmp_path / "README.txt", "This folder holds the Q3 export.\nAsk Ann before sharing.\n")
    write(tmp_path / "notes.pdf", "%PDF-1.4")
    res = load(tmp_path, crm="salesforce")
    assert res.tables.opportunities["opportunity_id"].tolist() == ["A1"]
    not_read = res.summary()["files_not_read"]
    assert [n.split(":")[0] for n in not_read] == ["notes.pdf", "~$opportunities.xlsx", "README.txt"]
    code, out, _ = check(["check", str(tmp_path), "--crm", "salesforce"], capsys)
    assert code == 0 and "file not read: README.txt: its header" in out and "Office lock file" in out


def test_a_folder_with_no_export_at_all_still_says_why(tmp_path):
    write(tmp_path / "README.txt", "nothing here\n")
    with pytest.raises(ExportError, match="no opportunities/deals file found.*README.txt not read"):
        load(tmp_path, crm="salesforce")


def test_a_synth_export_folder_loads_without_its_marker_listed(tmp_path, capsys):
    assert main(["synth", "--crm", "hubspot", "--out", str(tmp_path / "ex")]) == 0
    res = load(tmp_path / "ex", crm="hubspot")
    assert not res.not_read


# ---- calibrate -------------------------------------------------------------------------------------
def test_calibrating_on_only_open_deals_says_closed_deals_are_needed(tmp_path, capsys):
    rows = "".join(f"A{i},Qualification,1000,2026-0{1 + i % 9}-0{1 + i % 9},2026-12-01,Referral,Ann\n" for i in range(39))
    write(tmp_path / "o.csv", "Opportunity ID,Stage,Amount,Created Date,Close Date,Lead Source,Opportunity Owner\n" + rows)
    code, _, err = check(["calibrate", str(tmp_path), "--crm", "salesforce", "-o", str(tmp_path / "c.yaml")], capsys)
    assert code == 2 and "calibration needs closed deals" in err and "39 open" in err
    assert "fewer than 2 positive amounts" not in err and not (tmp_path / "c.yaml").exists()


def test_an_unreadable_column_of_a_preset_export_does_not_blame_a_mapping(tmp_path):
    path = write(tmp_path / "o.csv", "Opportunity ID,Stage,Amount\nA1,Closed Won,lots\nA2,Closed Lost,some\n")
    (warning,) = load(path, crm="salesforce").warnings
    assert "mapping points" not in warning and "Check that 'Amount' holds amount values" in warning


def test_a_padded_title_line_is_skipped_but_a_wide_malformed_row_never_hides_the_header(tmp_path):
    padded = write(tmp_path / "p.csv", "Pipeline by Stage,,\nFiltered By:,Stage equals Closed Won,\n,,\n"
                   "Opportunity ID,Stage,Amount\nA1,Closed Won,10\nA2,Closed Won,20\nA3,Closed Won,30\n")
    assert load(padded, crm="salesforce").tables.opportunities["opportunity_id"].tolist() == ["A1", "A2", "A3"]
    wide = write(tmp_path / "w.csv", "Opportunity ID,Stage,Amount\nA1,Closed Won,10\nA2,x,y,z,1,2,3,4,5,6\n"
                 "A3,Closed Won,30\n")
    res = load(wide, crm="salesforce")
    assert res.tables.opportunities["opportunity_id"].tolist() == ["A1", "A3"]
    assert "malformed CSV line 3" in res.rejected["reason"].iloc[0]
