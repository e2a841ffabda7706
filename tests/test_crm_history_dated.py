"""Salesforce's plain Opportunity History file dates each deal's Amount and Close Date at every change: the loader
carries them into `stage_history` (`amount`, `expected_close_at`: the values of the row that began each stay), read
by the same rules as the opportunity file (a cell that cannot be read is left empty and listed as repaired, the row
still loaded), so a pipeline as of a past date uses the values then in force, not today's."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from sim.analysis import snapshots
from sim.crm import load

OPPORTUNITIES = """Opportunity ID,Opportunity Name,Account Name,Opportunity Owner,Stage,Amount,Close Date,Created Date
006A,Deal A,Acme,Ann,Negotiation/Review,"$9,000.00",6/30/2026,1/5/2026
006B,Deal B,Beta,Bob,Closed Won,"$5,000.00",3/15/2026,1/10/2026
006C,Deal C,Gamma,Ann,Proposal/Price Quote,"$7,000.00",7/31/2026,2/1/2026
"""
# a second Qualification row for 006A: an amount and close date changed within the stay (not dated: the stay keeps
# the values it began with); 006C's first row has an amount and a close date that cannot be read
HISTORY = """Opportunity ID,Stage Name,Amount,Close Date,Created Date
006A,Qualification,"$12,000.00",3/31/2026,1/5/2026 9:00 AM
006A,Qualification,"$11,000.00",4/30/2026,1/20/2026 10:00 AM
006A,Proposal/Price Quote,"$10,000.00",5/31/2026,2/10/2026 11:00 AM
006A,Negotiation/Review,"$9,000.00",6/30/2026,3/20/2026 2:00 PM
006B,Qualification,"$4,000.00",2/28/2026,1/10/2026 9:00 AM
006B,Closed Won,"$5,000.00",3/15/2026,3/15/2026 4:00 PM
006C,Qualification,about 8k,31/31/2026,2/1/2026 9:00 AM
006C,Proposal/Price Quote,"$7,000.00",7/31/2026,3/1/2026 9:00 AM
"""


def export(tmp: Path, history: str = HISTORY) -> Path:
    (tmp / "opportunities.csv").write_text(OPPORTUNITIES)
    (tmp / "opportunity_history.csv").write_text(history)
    return tmp


@pytest.fixture
def loaded(tmp_path):
    return load(export(tmp_path), crm="salesforce")


def test_each_stay_carries_the_amount_and_close_date_it_began_with(loaded):
    stays = loaded.tables.stage_history.set_index(["opportunity_id", "stage"])
    assert stays["amount"].dtype == "float64" and stays["expected_close_at"].dtype == "datetime64[ns]"
    assert stays.loc[("006A", "Qualification"), "amount"] == 12_000.0      # not the 11,000 of the later row
    assert stays.loc[("006A", "Qualification"), "expected_close_at"] == pd.Timestamp("2026-03-31")
    assert stays.loc[("006A", "Proposal/Price Quote"), "amount"] == 10_000.0
    assert stays.loc[("006A", "Negotiation/Review"), "expected_close_at"] == pd.Timestamp("2026-06-30")
    assert stays.loc[("006B", "Qualification"), "amount"] == 4_000.0
    assert pd.isna(stays.loc[("006C", "Qualification"), "amount"])           # unreadable: empty, and listed below
    assert pd.isna(stays.loc[("006C", "Qualification"), "expected_close_at"])
    assert len(stays) == 6 and loaded.summary()["rows_rejected"] == 0


def test_unreadable_cells_of_the_history_are_listed_with_file_row_and_column(loaded):
    repaired = loaded.repaired[loaded.repaired["file"] == "opportunity_history.csv"]
    by_column = repaired.set_index("column")
    assert set(repaired["column"]) == {"Amount", "Close Date"}
    assert by_column.loc["Amount", "row"] == 8 and by_column.loc["Amount", "value"] == "about 8k"
    assert "not a number" in by_column.loc["Amount", "reason"]
    assert by_column.loc["Close Date", "row"] == 8 and by_column.loc["Close Date", "value"] == "31/31/2026"
    assert "no such date" in by_column.loc["Close Date", "reason"]


def test_a_past_pipeline_uses_the_values_then_in_force(loaded):
    then = snapshots.pipeline_at(loaded.tables, pd.Timestamp("2026-02-15")).set_index("opportunity_id")
    assert set(then.attrs["dated"]) >= {"amount", "expected_close_at"}
    assert then.loc["006A", "stage"] == "Proposal/Price Quote"
    assert then.loc["006A", "amount"] == 10_000.0                            # today it is 9,000
    assert then.loc["006A", "expected_close_at"] == pd.Timestamp("2026-05-31")
    assert then.loc["006B", "amount"] == 4_000.0 and then.loc["006B", "expected_close_at"] == pd.Timestamp("2026-02-28")
    assert then.loc["006C", "amount"] == 7_000.0     # no readable amount in its history by then: today's stands


def test_a_history_without_close_dates_dates_only_the_amount(tmp_path):
    history = pd.read_csv(io.StringIO(HISTORY), dtype=str, keep_default_na=False).drop(columns="Close Date")
    stays = load(export(tmp_path, history.to_csv(index=False)), crm="salesforce").tables.stage_history
    assert "expected_close_at" not in stays and stays["amount"].max() == 12_000.0
