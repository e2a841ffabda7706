"""Messy values: currency strings, decimal commas, formulas, date formats, encodings and delimiters."""

import numpy as np
import pandas as pd
import pytest

from sim.crm import parse


def amounts(*cells):
    return parse.parse_amount(pd.Series(list(cells), dtype="object"))


def test_currency_strings_in_us_style():
    p = amounts("$1,200.50", "USD 3,400", "(250.00)", "12", "")
    assert p.values.tolist()[:4] == [1200.5, 3400.0, -250.0, 12.0]
    assert np.isnan(p.values.iloc[4])
    assert not p.invalid.any()


def test_decimal_comma_column_reads_dots_as_thousands():
    p = amounts("1.200,50 €", "3.400", "EUR 12,5", "7 000,00")
    assert p.values.tolist() == [1200.5, 3400.0, 12.5, 7000.0]
    assert "comma" in p.style


def test_formulas_and_words_are_not_numbers():
    p = amounts("=A1*2", "about 5k", "1,000")
    assert p.invalid.tolist() == [True, True, False]
    assert p.values.iloc[2] == 1000.0


def test_dates_detected_and_other_formats_read_as_fallback():
    p = parse.parse_dates(pd.Series(["1/15/2026", "12/3/2026", "2026-02-01", "not a date", ""]))
    assert p.style == "%m/%d/%Y"
    assert p.values.iloc[0] == pd.Timestamp("2026-01-15")
    assert p.values.iloc[1] == pd.Timestamp("2026-12-03")
    assert p.values.iloc[2] == pd.Timestamp("2026-02-01") and p.fallback.iloc[2]
    assert p.invalid.tolist() == [False, False, False, True, False]


def test_day_first_dates_detected_when_a_day_exceeds_12():
    p = parse.parse_dates(pd.Series(["13/01/2026", "02/03/2026"]))
    assert p.style == "%d/%m/%Y" and not p.ambiguous
    assert p.values.iloc[1] == pd.Timestamp("2026-03-02")


def test_ambiguous_day_month_is_reported():
    p = parse.parse_dates(pd.Series(["01/02/2026", "03/04/2026"]))
    assert p.ambiguous and p.style == "%m/%d/%Y"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
@pytest.mark.parametrize("sep", [",", ";"])
def test_files_in_any_common_encoding_and_delimiter(tmp_path, encoding, sep):
    text = sep.join(["Deal ID", "Kunde", "Wert"]) + "\n" + sep.join(["D1", "Société Générale", '"1.200,50 €"']) + "\n"
    path = tmp_path / "x.csv"
    path.write_bytes(text.encode(encoding))
    raw = parse.read_table(path)
    assert list(raw.frame.columns) == ["Deal ID", "Kunde", "Wert"]
    assert raw.frame.iloc[0, 1] == "Société Générale"
    assert raw.delimiter == sep
