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
    first_empty = frame.iloc[:, 0] == ""
    blank = pd.Series(False, index=frame.index)
    if first_empty.any():
        blank[first_empty] = (frame[first_empty] == "").all(axis=1)
    return blank


# ---- values ----------------------------------------------------------------------------------------
@dataclass
class Parsed:
    """Parsed values of one column: `values`, and masks of cells that were unreadable or read by a fallback."""

    values: pd.Series
    invalid: pd.Series          # non-empty cells that could not be read (now empty)
    fallback: pd.Series         # cells read by a second rule (another date format, a formula's number...)
    style: str = ""             # what was detected, for the summary
    ambiguous: bool = False     # e.g. every date fits both day/month and month/day


EMPTY_TOKENS = ("", "-", "N/A", "n/a", "NA", "null", "NULL", "None", "#N/A")


def is_empty(text: pd.Series) -> pd.Series:
    """Cells that hold nothing: blank, or a spreadsheet's placeholder for nothing ('N/A', '-', 'null')."""
    return text.str.strip().isin(EMPTY_TOKENS)


# A number with optional currency (symbol or 3-letter code) before or after, thousands separators
# (, . space '), a sign or accounting parentheses, or a trailing %. Anything else (words, formulas) is not.
_NUMBER_TEXT = (r"\s*\(?\s*[-+]?\s*(?:US\$|\$|€|£|¥|[A-Z]{3})?\s*[-+]?\d[\d.,'\s\u00a0\u202f]*"
                r"\s*(?:€|£|\$|¥|[A-Z]{3}|%)?\s*\)?\s*")
_KEEP_NUMBER_CHARS = r"[^\d.,()+\-]"


_SYMBOLS = ("US$", "$", "€", "£", "¥", "USD", "EUR", "GBP", "CHF", "JPY", "CAD", "AUD", "%", " ", "\u00a0", "\u202f", "'")
_STRINGS = np.dtypes.StringDType()


def parse_amount(text: pd.Series) -> Parsed:
    """Money and other numbers: '$1,200.50', '1.200,50 €', 'EUR 3 400', '(250)', '12%'.

    The decimal separator is decided per column from the values that show it unambiguously
    (',' followed by 1-2 digits at the end means a decimal comma), so '1.200' in a European column is
    1200 while '1.2' in a US column is 1.2. Formulas ('=A1*2') and words are not numbers: they become
    empty and are reported.

    Fast path: the symbols a sample of the column uses are removed from every cell with numpy's
    compiled string functions and the rest converts in one go; only cells that still do not read as
    numbers go through the slower, stricter pattern check.
    """
    text = text.fillna("").astype(str)
    empty = text.isin(EMPTY_TOKENS)
    present = text[~empty]
    sample = present.iloc[:: max(1, len(present) // 2000)].iloc[:2000].tolist()
    european = _decimal_comma([_strip_symbols(v) for v in sample])
    cells = np.asarray(text.to_numpy(dtype=object), dtype=_STRINGS)
    for symbol in [t for t in _SYMBOLS if any(t in v for v in sample)]:
        cells = np.strings.replace(cells, symbol, "")
    cells = np.strings.replace(cells, "." if european else ",", "")
    if european:
        cells = np.strings.replace(cells, ",", ".")
    if any(v.lstrip().startswith("(") for v in sample):
        cells = np.strings.replace(np.strings.replace(cells, "(", "-"), ")", "")
    cells[empty.to_numpy()] = "nan"
    try:    # every cell now reads as a number: one compiled conversion
        values = pd.Series(cells.astype(np.float64), index=text.index)
    except ValueError:
        values = pd.Series(pd.to_numeric(cells.astype(object), errors="coerce"), index=text.index, dtype="float64")
    values[empty] = np.nan
    slow = values.isna() & ~empty
    if slow.any():
        values[slow] = _strict_numbers(text[slow], european)
        empty = empty | (slow & is_empty(text.where(slow, "")))
    values[np.isinf(values)] = np.nan
    invalid = ~empty & values.isna()
    style = "decimal comma (1.234,56)" if european else "decimal point (1,234.56)"
    return Parsed(values, invalid, _false(text), style)


def _strip_symbols(v: str) -> str:
    return "".join(ch for ch in v if ch.isdigit() or ch in ",.")


def _strict_numbers(s: pd.Series, european: bool) -> pd.Series:
    """Cells the fast path could not read: numbers only if the whole cell looks like one."""
    shaped = s.str.fullmatch(_NUMBER_TEXT)
    core = s.str.replace(_KEEP_NUMBER_CHARS, "", regex=True)
    table = str.maketrans({".": None, ",": ".", "(": "-", ")": None} if european
                          else {",": None, "(": "-", ")": None})
    return pd.to_numeric(core.where(shaped, None).str.translate(table), errors="coerce").astype("float64")


def _decimal_comma(part: list[str]) -> bool:
    """Whether a sample of numbers (digits and separators) shows a decimal comma more often than a decimal point."""
    comma = sum(1 for v in part if _tail_after(v, ",") in (1, 2) or _last_two(v) == (".", ","))
    point = sum(1 for v in part if _tail_after(v, ".") in (1, 2) or _last_two(v) == (",", "."))
    return comma > point


def _tail_after(v: str, sep: str) -> int:
    i = v.rfind(sep)
    return -1 if i < 0 or (sep == "," and "." in v[i:]) or (sep == "." and "," in v[i:]) else len(v.rstrip("-")) - i - 1


def _last_two(v: str) -> tuple[str, str] | None:
    seps = [c for c in v if c in ",."]
    return (seps[-2], seps[-1]) if len(seps) >= 2 and seps[-2] != seps[-1] else None


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
    """Dates in one column: the given or detected format for all cells, other known formats as a fallback.

    Exports repeat the same dates over and over, so only the distinct cells are parsed.
    """
    codes, uniques = pd.factorize(text)
    cells = pd.Series(uniques, dtype="object").astype(str)
    p = _parse_distinct_dates(cells, fmt)

    def spread(values: pd.Series) -> pd.Series:
        taken = values.to_numpy()[codes]
        out = pd.Series(taken, index=text.index)
        return out.where(codes >= 0, pd.NaT if values.dtype.kind == "M" else False)

    values = spread(p.values).astype("datetime64[ns]")
    return Parsed(values, spread(p.invalid).astype(bool), spread(p.fallback).astype(bool), p.style, p.ambiguous)


def _parse_distinct_dates(cells: pd.Series, fmt: str | None) -> Parsed:
    raw = cells.str.strip()
    empty = raw.isin(EMPTY_TOKENS)
    ambiguous = False
    if fmt is None:
        fmt, ambiguous = detect_date_format(raw)
    if fmt is None:
        return Parsed(pd.Series(pd.NaT, index=cells.index, dtype="datetime64[ns]"), ~empty, _false(cells), "no dates")
    values = pd.to_datetime(raw.where(~empty, None), format=fmt, errors="coerce")
    fallback = _false(cells)
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
    """Trimmed text as an object column, None for empty cells.

    Columns that repeat their values (owners, stages, sources) are trimmed once per distinct value.
    """
    sample = text.iloc[:: max(1, len(text) // 1000)].iloc[:1000]
    if sample.nunique() < len(sample) // 2:
        codes, uniq = pd.factorize(text)
        trimmed = pd.Series(uniq, dtype="object").str.strip()
        table = np.append(trimmed.where(~trimmed.isin(EMPTY_TOKENS), None).to_numpy(dtype=object), None)
        return pd.Series(table[codes], index=text.index, dtype="object")
    trimmed = text.str.strip()
    return trimmed.astype("object").where(~trimmed.isin(EMPTY_TOKENS), None)


def _false(like: pd.Series) -> pd.Series:
    return pd.Series(False, index=like.index)
