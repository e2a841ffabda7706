"""Reading messy export files and their values: encodings, delimiters, currency strings, dates.

Everything here works on whole columns (pandas vectorised string and datetime routines), never row by
row in Python, so a million-row export reads in seconds. Each parser returns the parsed values plus
what it had to do: which values could not be read (they become empty and are reported as repairs by the
loader) and which were read by a fallback rule (also reported), so nothing changes silently.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")


class ExportError(ValueError):
    """An export cannot be read at all (unknown format, unreadable file, bad mapping); the message says why."""


@dataclass(eq=False)
class RawTable:
    """One export file read as text: every cell a string ('' when empty), plus how it was decoded."""

    path: Path
    frame: pd.DataFrame
    encoding: str
    delimiter: str | None
    notes: list[str] = field(default_factory=list)

    def row_numbers(self) -> np.ndarray:
        """Spreadsheet-style row numbers of the data rows (the header is row 1)."""
        return self.frame.index.to_numpy() + 2


# ---- files ---------------------------------------------------------------------------------------
def sniff_encoding(head: bytes) -> str:
    """The file's encoding from its first bytes: a BOM decides; else UTF-8 if it decodes, else Windows-1252."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # a multi-byte character cut at the end of the sample is still UTF-8
        if err.start < len(head) - 3:
            return "cp1252"
    return "utf-8"


def sniff_delimiter(first_line: str) -> str:
    """The delimiter of a header line: whichever of , ; tab | occurs most often outside quotes."""
    counts = {d: 0 for d in (",", ";", "\t", "|")}
    quoted = False
    for ch in first_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_table(path: str | Path) -> RawTable:
    """Read a CSV/TSV/Excel export as text cells, detecting encoding and delimiter.

    Lines are kept one-to-one with rows (blank lines become empty rows the loader reports), so a row
    number in a message is the row a spreadsheet would show.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() in EXCEL_SUFFIXES:
        return _read_excel(path)
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if not head.strip():
        raise ExportError(f"{path}: the file is empty")
    encoding = sniff_encoding(head)
    text_head = head.decode(encoding, errors="replace")
    first_line = text_head.lstrip("\ufeff").splitlines()[0] if text_head.strip() else ""
    delimiter = sniff_delimiter(first_line)
    notes = []
    try:
        frame = _read_csv(path, encoding, delimiter)
    except UnicodeDecodeError:
        # the first 64 kB were UTF-8 but a later byte is not: the file is Windows-1252 after all
        encoding = "cp1252"
        frame = _read_csv(path, encoding, delimiter)
        notes.append("not valid UTF-8 past the first 64 kB; read as Windows-1252")
    except (pd.errors.ParserError, csv.Error) as err:
        raise ExportError(f"{path}: not a readable delimited file ({err})") from None
    return RawTable(path, frame, encoding, delimiter, notes)


def _read_csv(path: Path, encoding: str, delimiter: str) -> pd.DataFrame:
    frame = pd.read_csv(
        path, sep=delimiter, encoding=encoding, dtype=str, keep_default_na=False, na_filter=False,
        skip_blank_lines=False, engine="c",
    )
    return _clean_header(frame)


def _read_excel(path: Path) -> RawTable:
    try:
        frame = pd.read_excel(path, sheet_name=0, dtype=str, keep_default_na=False, na_filter=False)
    except Exception as err:  # openpyxl raises many kinds for a broken workbook
        raise ExportError(f"{path}: not a readable Excel workbook ({err})") from None
    return RawTable(path, _clean_header(frame.astype(str)), "xlsx", None, ["first sheet of the workbook"])


def _clean_header(frame: pd.DataFrame) -> pd.DataFrame:
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    return frame


def blank_rows(frame: pd.DataFrame) -> pd.Series:
    """True for rows whose every cell is empty (blank lines, trailing ',,,' rows)."""
    if frame.shape[1] == 0:
        return pd.Series(True, index=frame.index)
    return (frame == "").all(axis=1)


# ---- values ----------------------------------------------------------------------------------------
@dataclass
class Parsed:
    """Parsed values of one column: `values`, and masks of cells that were unreadable or read by a fallback."""

    values: pd.Series
    invalid: pd.Series          # non-empty cells that could not be read (now empty)
    fallback: pd.Series         # cells read by a second rule (another date format, a formula's number...)
    style: str = ""             # what was detected, for the summary
    ambiguous: bool = False     # e.g. every date fits both day/month and month/day


def is_empty(text: pd.Series) -> pd.Series:
    return text.str.strip().isin(("", "-", "N/A", "n/a", "NA", "null", "NULL", "None", "#N/A"))


_CURRENCY = r"(?:US\$|\$|€|£|¥|USD|EUR|GBP|CHF|JPY|CAD|AUD|kr|zł)"


def parse_amount(text: pd.Series) -> Parsed:
    """Money and other numbers: '$1,200.50', '1.200,50 €', 'EUR 3 400', '(250)', '12%'.

    The decimal separator is decided per column from the values that show it unambiguously
    (',' followed by 1-2 digits at the end means a decimal comma), so '1.200' in a European column is
    1200 while '1.2' in a US column is 1.2. Formulas ('=A1*2') and words are not numbers: they become
    empty and are reported.
    """
    raw = text.str.strip()
    empty = is_empty(raw)
    plain = pd.to_numeric(raw.where(~empty, None), errors="coerce")
    todo = plain.isna() & ~empty
    if not todo.any():
        return Parsed(plain.astype("float64"), _false(text), _false(text), "plain numbers")

    s = raw[todo]
    negative = s.str.match(r"^\(.*\)$") | s.str.match(r"^-")
    s = s.str.replace(r"^\((.*)\)$", r"\1", regex=True).str.lstrip("-")
    s = s.str.replace(_CURRENCY, "", regex=True).str.replace(r"[\s\u00a0\u202f']", "", regex=True)
    s = s.str.rstrip("%").str.lstrip("-")
    comma_decimal = s.str.contains(r",\d{1,2}$") | s.str.contains(r"\.\d{3},")
    dot_decimal = s.str.contains(r"\.\d{1,2}$") | s.str.contains(r",\d{3}\.")
    european = int(comma_decimal.sum()) > int(dot_decimal.sum())
    if european:
        s = s.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        style = "decimal comma (1.234,56)"
    else:
        s = s.str.replace(",", "", regex=False)
        style = "decimal point (1,234.56)"
    number = pd.to_numeric(s.where(s.str.match(r"^\d*\.?\d+$"), None), errors="coerce")
    number = number.where(~negative, -number)
    values = plain.copy()
    values[todo] = number
    if european:
        # '3.400' read as 3.4 by the plain pass is 3400 in a decimal-comma column
        grouped = ~todo & ~empty & raw.str.match(r"^-?\d{1,3}(\.\d{3})+$")
        values[grouped] = pd.to_numeric(raw[grouped].str.replace(".", "", regex=False))
    invalid = todo & values.isna()
    return Parsed(values.astype("float64"), invalid, _false(text), style)


DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%fZ", "%m/%d/%Y", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M", "%d/%m/%Y",
    "%d/%m/%Y %H:%M", "%d.%m.%Y", "%d.%m.%Y %H:%M", "%m/%d/%y", "%d-%b-%Y", "%b %d, %Y", "%Y/%m/%d",
)
_DAY_FIRST_TWIN = {"%m/%d/%Y": "%d/%m/%Y", "%m/%d/%Y %H:%M": "%d/%m/%Y %H:%M"}


def detect_date_format(text: pd.Series, sample: int = 500) -> tuple[str | None, bool]:
    """The format that reads the most of a sample of non-empty cells; and whether day/month is ambiguous.

    When every sampled date fits both month/day and day/month, month/day wins (US exports) and the
    ambiguity is reported so the user can set `date_format` in a mapping.
    """
    cells = text[~is_empty(text)].str.strip()
    if cells.empty:
        return None, False
    cells = cells.iloc[:: max(1, len(cells) // sample)].iloc[:sample]
    scores = {f: int(pd.to_datetime(cells, format=f, errors="coerce").notna().sum()) for f in DATE_FORMATS}
    best = max(DATE_FORMATS, key=lambda f: scores[f])   # ties: earlier formats first (ISO, then US)
    if scores[best] == 0:
        return None, False
    twin = _DAY_FIRST_TWIN.get(best)
    return best, bool(twin and scores[twin] == scores[best])


def parse_dates(text: pd.Series, fmt: str | None = None) -> Parsed:
    """Dates in one column: the given or detected format for all cells, other known formats as a fallback."""
    raw = text.str.strip()
    empty = is_empty(raw)
    ambiguous = False
    if fmt is None:
        fmt, ambiguous = detect_date_format(raw)
    if fmt is None:
        invalid = ~empty
        return Parsed(pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]"), invalid, _false(text), "no dates")
    values = pd.to_datetime(raw.where(~empty, None), format=fmt, errors="coerce")
    fallback = _false(text)
    todo = values.isna() & ~empty
    for other in DATE_FORMATS:
        if not todo.any():
            break
        if other == fmt:
            continue
        got = pd.to_datetime(raw[todo], format=other, errors="coerce")
        hit = got.notna()
        if hit.any():
            idx = got.index[hit]
            values[idx] = got[hit]
            fallback[idx] = True
            todo[idx] = False
    return Parsed(values.astype("datetime64[ns]"), todo, fallback, fmt, ambiguous)


def parse_text(text: pd.Series) -> pd.Series:
    """Trimmed text, None for empty cells."""
    raw = text.str.strip()
    return raw.where(~is_empty(raw), None).astype("object")


def _false(like: pd.Series) -> pd.Series:
    return pd.Series(False, index=like.index)
