"""Rejected and repaired rows, and what happened to each file: shared by every loader, so all files read the same way.

Each issue is one row of `ISSUE_COLUMNS`: the file, its row number as a spreadsheet shows it, the column,
the value as it was, and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import parse
from .arrow_text import arrow_cells
from .parse import RawTable

ISSUE_COLUMNS = ["file", "row", "column", "value", "reason"]
SHOWN_LINE = 200           # characters of a malformed line shown as its value


class IssueLog:
    """The rejected and repaired rows a loader has met so far."""

    def __init__(self) -> None:
        self._issues: dict[str, list[pd.DataFrame]] = {"rejected": [], "repaired": []}

    def flag(self, which: str, raw: RawTable, mask: pd.Series, column: str, values: pd.Series, reason) -> None:
        """Record one issue per True in `mask` (reason: a string or a Series of strings)."""
        if not mask.any():
            return
        positions = np.flatnonzero(mask.to_numpy())
        idx = mask.index[positions]
        self._issues[which].append(pd.DataFrame({
            "file": raw.name,
            "row": raw.row_numbers()[positions],
            "column": column,
            "value": _shown(values.reindex(idx).astype("object").where(lambda s: s.notna(), "").astype(str)),
            "reason": reason if isinstance(reason, str) else reason.reindex(idx).to_numpy(),
        }))

    def readable_rows(self, raw: RawTable) -> pd.Series:
        """Rows to read: not a malformed line (rejected with its line number), not blank (rejected as blank), not
        the header again (two exports pasted together). Formula cells of a workbook with no saved value are
        listed as repaired (they read as empty)."""
        frame = raw.frame
        for column, cells in raw.uncached.items():
            where = pd.Series(False, index=frame.index)
            where.iloc[list(cells)] = True
            formulas = pd.Series(list(cells.values()), index=frame.index[list(cells)])
            self.flag("repaired", raw, where, column, formulas,
                      "a formula with no saved value (the workbook was never calculated); left empty")
        malformed = pd.Series(False, index=frame.index)
        if raw.malformed:
            positions = list(raw.malformed)
            malformed.iloc[positions] = True
            why = pd.Series([raw.malformed[p][0] for p in positions], index=frame.index[positions])
            text = pd.Series([raw.malformed[p][1][:SHOWN_LINE] for p in positions], index=frame.index[positions])
            self.flag("rejected", raw, malformed, "(line)", text, why)
        blank = parse.blank_rows(frame) & ~malformed
        if blank.any():    # (the column of empty values made only when some row is blank)
            self.flag("rejected", raw, blank, "(all)", pd.Series("", index=frame.index), "blank row")
        header = repeated_header(frame) & ~malformed & ~blank
        self.flag("rejected", raw, header, "(all)", frame.iloc[:, 0] if frame.shape[1] else pd.Series("", index=frame.index),
                  "the header row again (two exports pasted into one file?); not a deal")
        return ~(malformed | blank | header)

    def issues(self, which: str) -> pd.DataFrame:
        """The "rejected" or "repaired" rows as one table (typed columns even when there are none)."""
        parts = self._issues[which]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else "object") for c in ISSUE_COLUMNS})
        return pd.concat(parts, ignore_index=True)


def _shown(values: pd.Series) -> np.ndarray:
    """Values as listed: a cell longer than `SHOWN_LINE` characters is cut there and says how long it was."""
    long = values.str.len() > SHOWN_LINE
    if long.any():
        values = values.copy()
        values[long] = values[long].map(lambda v: f"{v[:SHOWN_LINE]}... ({len(v):,} characters)")
    return values.to_numpy()


def repeated_header(frame: pd.DataFrame) -> pd.Series:
    """Rows that repeat the header: every filled cell equals its column's name, and at least two are filled
    (or the only column's). Checked on the rows whose first cell is a header name, so it costs one comparison."""
    out = pd.Series(False, index=frame.index)
    if frame.shape[1] == 0 or len(frame) == 0:
        return out
    names = [str(c).strip().lower() for c in frame.columns]
    candidates = pd.Series(_is_a_name(frame.iloc[:, 0], set(names)), index=frame.index)
    if not candidates.any():
        return out
    rows = frame[candidates].astype(str).apply(lambda col: col.str.strip().str.lower())
    same = rows.eq(pd.Series(names, index=frame.columns), axis=1)
    filled = rows.ne("")
    out[candidates] = (same | ~filled).all(axis=1) & (same.sum(axis=1) >= min(2, frame.shape[1]))
    return out


_ASCII_SPACE = "".join(ch for ch in map(chr, range(128)) if ch.isspace())


def _is_a_name(first: pd.Series, names: set[str]) -> np.ndarray:
    """Which cells, trimmed and lower-cased as Python's `str.strip().lower()` does, are among `names`.

    Only cells whose first byte could begin a name (a name's first letter in either case, whitespace, or a byte of a
    non-ASCII character; an empty cell when a name is empty) can be one: an id column has none, found from the cells'
    bytes at once. Those are then compared: ASCII cells trimmed of the ASCII characters Python calls whitespace and
    lower-cased by Arrow (for them that is what Python does), the others by Python's string methods.
    """
    cells = arrow_cells(first)
    if cells is None or cells.null_count:
        return first.astype(str).str.strip().str.lower().isin(names).to_numpy(dtype=bool)
    out = np.zeros(len(cells), dtype=bool)
    if not len(cells):
        return out
    offsets = np.frombuffer(cells.buffers()[1], dtype=np.int32)[cells.offset:cells.offset + len(cells) + 1]
    data = cells.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None and data.size else np.zeros(1, dtype=np.uint8)
    empty = offsets[1:] == offsets[:-1]
    lead = data[np.minimum(offsets[:-1], len(data) - 1)]
    firsts = {n[0] for n in names if n}
    starts = [x for x in range(128) if chr(x).lower() in firsts or chr(x) in _ASCII_SPACE]
    maybe = np.flatnonzero(np.where(empty, "" in names, np.isin(lead, starts) | (lead >= 128)))
    if not len(maybe):
        return out
    some = cells.take(pa.array(maybe))
    plain = pc.string_is_ascii(some).to_numpy(zero_copy_only=False)
    hit = pc.is_in(pc.ascii_lower(pc.utf8_trim(some, _ASCII_SPACE)), value_set=pa.array(sorted(names), type=some.type))
    out[maybe] = hit.to_numpy(zero_copy_only=False) & plain
    other = maybe[~plain]
    if len(other):
        out[other] = first.iloc[other].astype(str).str.strip().str.lower().isin(names).to_numpy(dtype=bool)
    return out


def combine_issues(*frames: pd.DataFrame) -> pd.DataFrame:
    """Rejected (or repaired) rows of several loaders as one table, in order (empty tables skipped)."""
    parts = [f for f in frames if len(f)]
    if not parts:
        return frames[0] if frames else pd.DataFrame(columns=ISSUE_COLUMNS)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


@dataclass
class FileReport:
    """What happened to one input file (opportunities, stage history or activities)."""

    file: str
    kind: str
    rows_read: int
    rows_loaded: int
    encoding: str
    delimiter: str | None
    columns: dict[str, str]
    unused: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def rows_rejected(self) -> int:
        return self.rows_read - self.rows_loaded
