"""Export files read as tables of text cells, whatever arrives: CSV in any common encoding and delimiter,
Excel workbooks (every sheet), and files that are neither, which get a message instead of a traceback.

- What a file *is* comes from its first bytes, not its name: an `.xlsx` renamed `.csv` is read as the
  workbook it is (and said so); an old `.xls`, a PDF, a zip or gzip archive, or binary data gets a message
  naming the file and what to export instead.
- CSV: the fast path is pandas' C parser. A file it cannot read (a line with too many fields, an
  unterminated quote) or whose cells span lines is read again line by line, and each malformed line
  becomes a row of its own marked malformed (the loader rejects it with its line number), so the rest
  of the file still loads. Every physical line ends up in exactly one row.
- Excel: every sheet with rows is read (with openpyxl in read-only mode, as wide as its header; cells right
  of the header are not part of the table, and said), each as a table of its own; the header is a sheet's
  first non-empty row, and rows keep the sheet's row numbers. A formula cell without a saved value (a
  workbook written by a program that does not calculate) is listed, so the loader reports it as repaired.
- Every column is read, however wide the file: columns are found by name, never by position. Empty rows of a sheet are not rows, so a nearly empty sheet whose one
  cell sits at row 300,000 costs nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
MAX_COLUMNS = 16_384       # Excel's own limit: a sheet's header is read up to this many columns
MAX_LINES_PER_ROW = 100    # a quoted cell may span lines; an open quote not closed within this many is malformed
SAMPLE = 1 << 16


class ExportError(ValueError):
    """An export cannot be read at all (unknown format, unreadable file, bad mapping); the message says why."""


@dataclass(eq=False)
class RawTable:
    """One export table read as text: every cell a string ('' when empty), plus how it was decoded.

    `path` is the file; `name` is how messages call it (the file name, plus the sheet for a workbook with
    several). `rows` holds each row's number as a spreadsheet shows it (the header is row 1) when they are
    not simply 2, 3, ...; `malformed` maps a row position to why its line could not be read and the
    line's text; `sheet` is the workbook sheet it came from.
    """

    path: Path
    frame: pd.DataFrame
    encoding: str
    delimiter: str | None
    notes: list[str] = field(default_factory=list)
    name: str = ""
    rows: np.ndarray | None = None
    malformed: dict[int, tuple[str, str]] = field(default_factory=dict)
    sheet: str | None = None
    uncached: dict[str, dict[int, str]] = field(default_factory=dict)   # column -> row position -> formula with no saved value

    def __post_init__(self):
        self.name = self.name or self.path.name

    def row_numbers(self) -> np.ndarray:
        """Spreadsheet-style row numbers of the data rows (the header is row 1)."""
        return self.rows if self.rows is not None else np.arange(len(self.frame)) + 2


@dataclass
class Skipped:
    """A sheet of a workbook that was not read, and why (named in the load summary)."""

    file: str
    sheet: str
    rows: int
    why: str


# ---- what a file is --------------------------------------------------------------------------------
_MAGIC = (
    (b"PK\x03\x04", "zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
    (b"%PDF", "pdf"),
    (b"\x1f\x8b", "gzip"),
)


def sniff_kind(head: bytes) -> str:
    """'zip' (an .xlsx is one), 'ole' (old .xls), 'pdf', 'gzip', 'binary' or 'text', from the first bytes."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return "text"
    if _utf16_without_bom(head):
        return "text"
    sample = head[:8192]
    if b"\x00" in sample:
        return "binary"
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13)) + sample.count(127)
    return "binary" if sample and control / len(sample) > 0.01 else "text"


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when every other byte of the sample is NUL (ASCII text in UTF-16)."""
    sample = head[:2000]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def sniff_encoding(head: bytes) -> str:
    """The file's encoding from its first bytes: a BOM decides; else UTF-8 if it decodes, else Windows-1252."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if bom_less := _utf16_without_bom(head):
        return bom_less
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


# ---- reading --------------------------------------------------------------------------------------
def read_tables(path: str | Path, sheets: tuple[str, ...] | None = None,
                whole: bool = False) -> tuple[list[RawTable], list[Skipped]]:
    """Every table in a file: one for a CSV, one per sheet with rows for a workbook (only `sheets` if named).

    Returns the tables and the sheets not read (with why). Raises `ExportError` naming the file when it is
    not an export at all, and `OSError` (with the file name) when it cannot be opened. `whole`: a CSV file is
    parsed as one block by one thread (see `_arrow_csv`), for a caller reading several files at once.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "no such file", str(path))
    if path.is_dir():
        raise IsADirectoryError(21, "a folder, not a file", str(path))
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE)
    if not head.strip():
        raise ExportError(f"{path}: the file is empty")
    kind = sniff_kind(head)
    if kind == "zip":
        tables, skipped = _read_workbook(path, sheets)
        if path.suffix.lower() not in (".xlsx", ".xlsm"):
            for t in tables:
                t.notes.append(f"the file is an Excel workbook although its name ends in {path.suffix or '(nothing)'}; read as a workbook")
        return tables, skipped
    if kind == "ole":
        raise ExportError(f"{path}: an old Excel 97-2003 workbook (.xls), which the loader does not read; "
                          "open it in Excel or LibreOffice and save it as .xlsx or CSV")
    if kind in ("pdf", "gzip"):
        what = {"pdf": "a PDF document", "gzip": "a gzip-compressed file"}[kind]
        raise ExportError(f"{path}: {what}, not a CSV or Excel export; export the report as CSV or .xlsx"
                          + (" (or decompress it first)" if kind == "gzip" else ""))
    if kind == "binary":
        raise ExportError(f"{path}: binary data, not a CSV or Excel export (control bytes in its first "
                          f"{min(len(head), 8192):,} bytes); export the report from your CRM as CSV or .xlsx")
    return [_read_text(path, head, whole)], []     # `sheets` concern workbooks only


def read_table(path: str | Path) -> RawTable:
    """The one table of a file: a CSV, or a workbook's first sheet with rows (the others are noted)."""
    tables, skipped = read_tables(path)
    if not tables:
        raise ExportError(f"{path}: no sheet of the workbook has any rows")
    first = tables[0]
    others = [t.name for t in tables[1:]] + [f"{s.sheet} ({s.why})" for s in skipped]
    if others:
        first.notes.append(f"only this sheet was read; not read: {', '.join(others)}")
    return first


# ---- CSV -----------------------------------------------------------------------------------------
def _read_text(path: Path, head: bytes, whole: bool = False) -> RawTable:
    encoding = sniff_encoding(head)
    text_head = head.decode(encoding, errors="replace").lstrip("\ufeff")
    lines = text_head.splitlines()
    if len(head) == SAMPLE and len(lines) > 1:
        lines.pop()      # the sample may end inside a line
    skip, delimiter, notes = _preamble(lines[:60])
    data = _FileBytes(path)
    text = None
    try:
        frame = _fast_csv(path, encoding, delimiter, skip, whole)
    except UnicodeDecodeError:   # the sample was UTF-8 but a later byte is not
        text, encoding, note = _decode(data.all, encoding)
        notes.append(note)
        try:
            frame = _fast_csv(io.StringIO(text), None, delimiter, skip)
        except _PARSE_ERRORS:
            frame = None
    except _PARSE_ERRORS:
        frame = None
    rows = np.arange(len(frame)) + 2 + skip if frame is not None and skip else None
    if frame is not None and not _spans_lines(frame, data, encoding, skip):
        frame = _clean_header(frame)
        return RawTable(path, frame, encoding, delimiter, notes, rows=rows,
                        malformed=_cut_last_row(data, encoding, delimiter, frame))
    if text is None:
        text, encoding, note = _decode(data.all, encoding)
        notes += [note] if note else []
    frame, malformed = _careful_csv(path, text, delimiter, skip)
    rows = np.arange(len(frame)) + 2 + skip if skip else None
    malformed.update(_cut_last_row(data, encoding, delimiter, frame))
    if malformed:
        notes.append(f"{len(malformed)} malformed line(s) rejected one by one (an unterminated quote, a stray "
                     "quote, too many or too few fields); the other lines were read")
    return RawTable(path, frame, encoding, delimiter, notes, malformed=malformed, rows=rows)


_SEP_LINE = re.compile(r'^\s*"?sep=(.)"?\s*$', re.I)


def _field_count(line: str) -> int:
    """Delimiters outside quotes on a line, for the likeliest delimiter."""
    return max(_outside_quotes(line, d) for d in (",", ";", "\t", "|"))


def _filled_cells(line: str) -> int:
    """Non-empty cells of a line, split on its likeliest delimiter."""
    d = sniff_delimiter(line)
    try:
        return sum(1 for cell in next(csv.reader([line], delimiter=d), []) if cell.strip())
    except csv.Error:
        return len([c for c in line.split(d) if c.strip()])


def _outside_quotes(line: str, d: str) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == d and not quoted:
            count += 1
    return count


def _preamble(lines: list[str]) -> tuple[int, str, list[str]]:
    """(lines above the header to skip, the delimiter, what was done), for the wrappers real exports carry:
    Excel's `sep=;` first line (it names the delimiter), and a report's title and "Filtered By" block above the
    header (lines of one or two filled cells before the first line with as many delimiters as most lines)."""
    notes: list[str] = []
    skip = 0
    forced = None
    if lines and (m := _SEP_LINE.match(lines[0])):
        forced, skip = m.group(1), 1
        notes.append(f"line 1 ({lines[0].strip()!r}) is Excel's delimiter line: read as the delimiter and skipped")
    counts = [_field_count(line) for line in lines[skip:]]
    filled = [_filled_cells(line) for line in lines[skip:]]
    usual = pd.Series([c for c in counts if c >= 2]).mode()
    # the header: the first line with the delimiters most lines have and cells filled; above it only lines of one
    # or two filled cells (a title, 'Filtered By:' and its conditions, perhaps padded with empty cells)
    header = 0
    if len(usual):
        typical = max(2.0, float(np.median([f for c, f in zip(counts, filled) if c == usual.iloc[0]])))
        header = next((i for i, (c, f) in enumerate(zip(counts, filled)) if c == usual.iloc[0] and f >= typical), 0)
    if header and all(f <= 2 for f in filled[:header]):
        shown = [line.strip().strip('",;') for line in lines[skip:skip + header] if line.strip().strip('",;')]
        notes.append(f"{header} line(s) above the header skipped (a report title or filter block"
                     + (f": {'; '.join(repr(s[:60]) for s in shown[:3])}" if shown else "") + ")")
        skip += header
    first = lines[skip] if skip < len(lines) else (lines[0] if lines else "")
    return skip, forced or sniff_delimiter(first), notes


def _cut_last_row(data: _FileBytes, encoding: str, delimiter: str, frame: pd.DataFrame) -> dict[int, tuple[str, str]]:
    """The last row, when the file stops in the middle of it: no line break at the end and fewer fields than the
    header (a download or copy cut off). Its cells would load as a deal with nothing else; it is rejected."""
    if len(frame) == 0:
        return {}
    tail = data.tail(1 << 16)
    end = tail.rstrip(b"\x00") or data.all.rstrip(b"\x00")     # (a tail of NULs only: the whole file's end)
    if end.endswith((b"\n", b"\r")):
        return {}
    if encoding.startswith("utf-16") and len(tail) % 2:
        tail = tail[1:]
    text = tail.decode(encoding.replace("-sig", ""), errors="replace")
    line = _LINE_END.split(text)[-1]
    try:
        fields = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return {}
    if not line or len(fields) >= frame.shape[1]:
        return {}
    return {len(frame) - 1: (f"the file ends in the middle of this row ({len(fields)} of the header's {frame.shape[1]} "
                             "fields, no line break after it): the file was cut off; the row was not read", line)}


_PARSE_ERRORS = (pd.errors.ParserError, csv.Error, ValueError, OverflowError)


def _fast_csv(path, encoding: str | None, delimiter: str, skip: int = 0, whole: bool = False) -> pd.DataFrame:
    if isinstance(path, Path) and encoding in ("utf-8", "utf-8-sig") and not skip:
        frame = _arrow_csv(path, delimiter, whole) if whole else _arrow_csv(path, delimiter)
        if frame is not None:
            return frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.read_csv(
            path, sep=delimiter, encoding=encoding, dtype=str, keep_default_na=False, na_filter=False,
            skip_blank_lines=False, engine="c", on_bad_lines="error", skiprows=skip,
        )


WHOLE_BLOCK_MAX = 1 << 30    # bytes: the largest block Arrow's reader is given (its block size is a 32-bit number)


def _arrow_csv(path: Path, delimiter: str, whole: bool = False) -> pd.DataFrame | None:
    """The file read by Arrow's multi-threaded CSV reader into the same text columns pandas' C parser gives (pandas'
    own `str` columns, Arrow-backed): every cell text, '' when empty. None when Arrow cannot read it the same way (a
    row of another width, a blank line, a header with repeated or empty names, bytes that are not UTF-8): pandas'
    parser then reads it as before.

    `whole`: the file parsed as one block (up to `WHOLE_BLOCK_MAX` bytes), so by one thread and into columns of one
    piece each, with no copy to join the pieces; for files read two at a time, each on its own core (`sim.crm.load`).
    The same parser reads the same cells either way."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    try:
        with pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16, use_threads=False),
                            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                                             ignore_empty_lines=False)) as head:
            names = head.schema.names   # the header, from the first block only
    except (pa.ArrowException, OSError, ValueError):
        return None
    if len(set(names)) != len(names) or any(not n for n in names):
        return None
    try:
        block = {"block_size": int(min(path.stat().st_size + 1, WHOLE_BLOCK_MAX))} if whole else {}
        table = pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(use_threads=True, **block),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.large_string() for n in names}, strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False))
    except (pa.ArrowException, OSError, ValueError):
        return None
    columns = {}
    for name in names:    # each column held in one piece (later steps read it whole without joining its pieces)
        column = table.column(0)
        columns[name] = (column if column.num_chunks == 1 else pa.chunked_array([column.combine_chunks()])).to_pandas()
        table = table.remove_column(0)    # (its pieces freed as it is joined)
    return pd.DataFrame(columns)


def _spans_lines(frame: pd.DataFrame, data: _FileBytes, encoding: str, skip: int = 0) -> bool:
    """Whether some record took more than one line: a quoted multi-line cell, or an open quote that ran on
    (pandas then reads on to the next quote without a word). Checked by counting line breaks."""
    if encoding.startswith("utf-16"):
        return any(frame[c].str.contains("[\r\n]", regex=True).any() for c in frame.columns)
    breaks = data.count(b"\n") or data.count(b"\r")
    lines = breaks + (0 if data.tail(1).endswith((b"\n", b"\r")) else 1)
    return len(frame) != lines - 1 - skip


class _FileBytes:
    """A text file's bytes as the checks of the fast reader need them: its line breaks counted and its tail read a
    block at a time, without holding the whole file; the whole file (`all`) only for the careful reader."""

    BLOCK = 1 << 22

    def __init__(self, path: Path):
        self.path = path
        self._all: bytes | None = None

    @property
    def all(self) -> bytes:
        if self._all is None:
            self._all = self.path.read_bytes()
        return self._all

    def count(self, byte: bytes) -> int:
        """How many times the one byte `byte` occurs in the file."""
        if self._all is not None:
            return self._all.count(byte)
        n, buf, code = 0, bytearray(self.BLOCK), byte[0]
        with open(self.path, "rb", buffering=0) as fh:
            while got := fh.readinto(buf):
                n += int(np.count_nonzero(np.frombuffer(buf, dtype=np.uint8, count=got) == code))
        return n

    def tail(self, size: int) -> bytes:
        """The file's last `size` bytes (all of it when shorter)."""
        if self._all is not None:
            return self._all[-size:]
        with open(self.path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - size))
            return fh.read()


def _decode(data: bytes, encoding: str) -> tuple[str, str, str]:
    """The whole file as text; UTF-8 that breaks later on is Windows-1252, and failing that Latin-1."""
    try:
        return data.decode(encoding), encoding, ""
    except UnicodeDecodeError as err:
        where = err.start
    for other in ("cp1252", "latin-1"):
        if other == encoding:
            continue
        try:
            return data.decode(other), other, (f"not valid {encoding} at byte {where:,}; read as "
                                               f"{'Windows-1252' if other == 'cp1252' else 'Latin-1'}: check accented letters")
        except UnicodeDecodeError:
            continue
    raise ExportError("cannot decode the file as text")   # latin-1 decodes any bytes: not reached


_LINE_END = re.compile(r"\r\n|\n|\r")


def _careful_csv(path: Path, text: str, delimiter: str, skip: int = 0) -> tuple[pd.DataFrame, dict[int, tuple[str, str]]]:
    """Read `text` record by record; a malformed line becomes an empty row of its own, marked malformed.

    A record may span lines only inside a properly closed quote; an open quote not closed within
    `MAX_LINES_PER_ROW` lines (or before the end), stray characters after a closing quote, or more fields
    than the header make that one line malformed, and reading resumes on the next line.
    """
    text = text.lstrip("\ufeff")
    lines = _LINE_END.split(text)[skip:]
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise ExportError(f"{path}: the file is empty")
    header, used, err = _record(lines, 0, delimiter)
    if header is None:
        raise ExportError(f"{path}: line 1, the header, is not a valid CSV line ({err}); fix it in the file")
    width = len(header)
    records, malformed = [], {}
    i = used
    while i < len(lines):
        fields, used, err = _record(lines, i, delimiter)
        if fields is not None and len(fields) > width:
            fields, err = None, f"{len(fields)} fields where the header has {width}"
        if fields is None:
            malformed[len(records)] = (f"malformed CSV line {i + 1 + skip}: {err}; the line was not read", lines[i])
            records.append([""] * width)
            i += 1
            continue
        records.append(fields + [""] * (width - len(fields)))
        i += used
    frame = pd.DataFrame(records, columns=_unique([h.strip() for h in header]), dtype=object)
    return _clean_header(frame), malformed


def _record(lines: list[str], start: int, delimiter: str) -> tuple[list[str] | None, int, str]:
    """The record beginning at line `start`: its fields and how many lines it used, or None and why."""
    buffer = lines[start]
    if '"' not in buffer:
        return buffer.split(delimiter), 1, ""
    for used in range(1, MAX_LINES_PER_ROW + 1):
        try:
            rows = list(csv.reader([buffer], delimiter=delimiter, strict=True))
            if len(rows) != 1:
                raise csv.Error("not one record")
            return rows[0], used, ""
        except csv.Error as err:
            if "unexpected end of data" not in str(err) and "newline inside string" not in str(err):
                if used > 1:
                    return None, 1, "a quote opened on this line is not closed on it, and reading on does not give a valid row"
                return None, 1, "a character after a closing quote (a quote inside a quoted cell must be doubled)"
            if start + used >= len(lines):
                return None, 1, "a quote opened on this line is never closed"
            buffer += "\n" + lines[start + used]
    return None, 1, f"a quote opened on this line is not closed within {MAX_LINES_PER_ROW} lines"


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        out.append(n if k == 0 else f"{n}.{k}")
        seen[n] = k + 1
    return out


def _clean_header(frame: pd.DataFrame) -> pd.DataFrame:
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    return frame


# ---- Excel ---------------------------------------------------------------------------------------
def _read_workbook(path: Path, wanted: tuple[str, ...] | None) -> tuple[list[RawTable], list[Skipped]]:
    from openpyxl import load_workbook

    fh = open(path, "rb")     # a file object: openpyxl would refuse a workbook by its name (.csv)
    try:
        book = load_workbook(fh, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many kinds for a broken workbook  # noqa: BLE001
        fh.close()
        raise ExportError(f"{path}: not a readable Excel workbook ({type(err).__name__}: {err}); "
                          "open and save it again in Excel, or export CSV") from None
    try:
        names = list(book.sheetnames)
        if wanted:
            missing = [s for s in wanted if s not in names]
            if missing:
                raise ExportError(f"{path}: the mapping names sheet(s) {', '.join(missing)}, but the workbook has "
                                  f"{', '.join(names)}")
        read = []
        skipped = []
        for name in names:
            table = _read_sheet(path, book[name], name)
            if table is None:
                continue
            if wanted and name not in wanted:
                skipped.append(Skipped(path.name, name, len(table.frame), "not among the sheets the mapping names"))
                continue
            read.append(table)
    finally:
        book.close()
        fh.close()
    if len(read) > 1:    # messages name the sheet as well as the file
        for t in read:
            t.name = f"{path.name} [{t.sheet}]"
    return read, skipped


def _read_sheet(path: Path, sheet, name: str) -> RawTable | None:
    """One sheet as text cells, header = first non-empty row; None for an empty sheet."""
    notes = [f"sheet {name!r}"]
    declared = getattr(sheet, "max_column", None) or 0
    first = _header_row(sheet, min(declared, MAX_COLUMNS) if declared else MAX_COLUMNS)
    if first is None:
        return None
    width = max(len(first[1]), 1)
    if declared > width:
        notes.append(f"the sheet declares {declared:,} columns, its header has {width:,}; cells right of the header "
                     "are not part of the table and were not read")
    header, rows, numbers = None, [], []
    try:
        for number, values in enumerate(sheet.iter_rows(min_row=first[0], max_col=width, values_only=True),
                                        start=first[0]):
            if values.count(None) == len(values):   # a missing or empty row: most rows of a sparse sheet
                continue
            cells = [_cell_text(v) for v in values]
            while cells and cells[-1] == "":
                cells.pop()
            if not cells:
                continue
            if header is None:
                header = cells
                continue
            rows.append(cells)
            numbers.append(number)
    except Exception as err:  # a cell openpyxl cannot convert (a date serial out of range...)  # noqa: BLE001
        raise ExportError(f"{path}: sheet {name!r} cannot be read past row {len(rows) + 2} "
                          f"({type(err).__name__}: {err}); save the workbook again or export CSV") from None
    if header is None:
        return None
    width = max(len(header), max((len(r) for r in rows), default=0))
    header = header + [f"Unnamed: {k}" for k in range(len(header), width)]
    frame = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], columns=_unique([h.strip() for h in header]),
                         dtype=object)
    frame = _clean_header(frame)
    uncached = _uncached_formulas(path, sheet, numbers, list(frame.columns), frame)
    if uncached:
        n = sum(len(v) for v in uncached.values())
        notes.append(f"{n:,} formula cell(s) have no saved value (the workbook was written by a program that does not "
                     "calculate); listed as repaired and left empty: open and save it in Excel, or export CSV")
    return RawTable(path, frame, "xlsx", None, notes, rows=np.asarray(numbers), sheet=name, uncached=uncached)


def _header_row(sheet, width: int) -> tuple[int, list[str]] | None:
    """The sheet's first non-empty row (its number and trimmed cells), read as wide as the sheet declares."""
    try:
        for number, values in enumerate(sheet.iter_rows(max_col=width, values_only=True), start=1):
            if values.count(None) == len(values):
                continue
            cells = [_cell_text(v) for v in values]
            while cells and cells[-1] == "":
                cells.pop()
            if cells:
                return number, cells
    except Exception:  # noqa: BLE001 - the full read below says what is wrong, naming the row
        return 1, []
    return None


_FORMULA_NO_VALUE = re.compile(rb'<c r="([A-Z]{1,3})(\d+)"[^>]*?(?<!/)>\s*(?:<f[^>]*/>|<f[^>]*>([^<]*)</f>)\s*'
                               rb'(?:<v\s*/>|<v>\s*</v>)?\s*</c>')


def _uncached_formulas(path: Path, sheet, numbers: list[int], columns: list[str],
                       frame: pd.DataFrame) -> dict[str, dict[int, str]]:
    """Formula cells of the sheet with no saved value (openpyxl reads them as empty): column -> row position -> formula."""
    import zipfile
    from openpyxl.utils import column_index_from_string

    where = getattr(sheet, "_worksheet_path", None)
    if where is None:
        return {}
    try:
        with zipfile.ZipFile(path) as zf:
            xml = zf.read(where)
    except (OSError, KeyError, zipfile.BadZipFile):
        return {}
    if b"<f" not in xml:
        return {}
    position = {n: k for k, n in enumerate(numbers)}
    out: dict[str, dict[int, str]] = {}
    for match in _FORMULA_NO_VALUE.finditer(xml):
        col = column_index_from_string(match.group(1).decode()) - 1
        row = position.get(int(match.group(2)))
        if row is None or col >= len(columns) or frame.iat[row, col] != "":
            continue
        formula = (match.group(3) or b"").decode("utf-8", "replace")
        out.setdefault(columns[col], {})[row] = "=" + formula if formula else "(a shared formula)"
    return out


def _cell_text(value) -> str:
    """A workbook cell as the text a CSV export would hold (dates as ISO, whole numbers without '.0')."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") if (value.hour or value.minute or value.second) else value.strftime("%Y-%m-%d")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value).strip() if isinstance(value, str) else str(value)
