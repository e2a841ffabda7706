"""Dates in export columns: whatever layout a CRM or a spreadsheet wrote, read one way per column.

A column's layout is detected from its distinct cells: year first (`2026-01-15`, `2026/01/15`, ISO with a
time), day or month first with `-`, `/` or `.` (`15.01.2026`, `1/15/2026 9:05 AM`, `26-02-2018 19:58`),
ISO with a time zone (`2026-01-15T09:05:00+02:00`, converted to UTC), Excel serial day numbers
(`46037`, `46037.5`), compact `20260115`, and month names (`15 Jan 2026`, `Jan 15, 2026`).

Why the day/month order is decided here and not left to a general parser: `dateutil` (which pandas uses
for `format="mixed"`) decides per cell, so in one column `01-02-2018` becomes 2 January and
`13-02-2018` 13 February with no word said. Here the order is decided once per column, from the cells
that can only be read one way (a first number above 12 means day first); a column where every date fits
both orders follows the file's other date columns, else the separator's usual reading (`/` month first as
in US exports, `-` and `.` day first), and the ambiguity is reported. pandas' own parsers do the rest
where they are better than a hand list: its ISO 8601 parser for zones and fractions, its component
builder for impossible days (31/31/2026), and `dateutil` only for cells with a month name.

A cell in another layout than its column's is still read and reported (a fallback), a date outside
1900-2199 (a `9999-12-31` placeholder, a typo'd year 2300) is left empty and reported, and a cell that is
no date at all is left empty and reported: the loader lists each as a repaired value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .arrow_text import arrow_cells

EMPTY_TOKENS = ("", "-", "N/A", "n/a", "NA", "null", "NULL", "None", "#N/A")
EARLIEST = pd.Timestamp("1900-01-01")
LATEST = pd.Timestamp("2200-01-01")            # exclusive: dates from here on are placeholders or typos
RANGE_TEXT = "1900-01-01 to 2199-12-31"
EXCEL_EPOCH = pd.Timestamp("1899-12-30")       # Excel's day 0 (its 1900 leap-year bug included)
ORDERS = ("day", "month")

_TIME = (r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<F>\d{1,9}))?)?"
         r"\s*(?P<P>[AaPp]\.?[Mm]\.?)?)?")
_NUMERIC = re.compile(r"^(?P<a>\d{1,4})(?P<sep>[-/.])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})" + _TIME + r"$")
_ZONED = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})$", re.I)
_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")
_COMPACT = re.compile(r"^(?:19|20|21)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])$")
_MONTH_NAME = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\b", re.I)
_NAMED = re.compile(r"^[\w ,.:/-]{6,40}$")
_HAS_DAY_AND_YEAR = re.compile(r"(?=.*\b\d{4}\b)(?=.*(?<!\d)\d{1,2}(?:st|nd|rd|th)?\b)")   # dateutil fills a missing part from today
# The same layouts for Arrow's RE2 engine (linear in a cell's length, run over the whole column in C++). RE2 has no
# back-reference, so the second separator is its own group and checked equal afterwards. These run only on cells
# of printable ASCII, where RE2's \d, \s, \b and $ mean what Python's do; other cells go through `re`.
_NUMERIC_RE2 = (r"^(?P<a>\d{1,4})(?P<sep>[-/.])(?P<b>\d{1,2})(?P<sep2>[-/.])(?P<c>\d{1,4})"
                + _TIME.replace(r"\s", " ") + "$")
_ZONED_RE2 = "(?i)" + _ZONED.pattern.replace(r"\s", " ")
_PRINTABLE_ASCII = r"^[ -~]*$"


@dataclass
class DateColumn:
    """One column's dates: values (NaT where empty or unreadable) and what was done to which cell.

    `invalid` marks non-empty cells left empty and `fallback` cells read in another layout than the
    column's; `why` gives the reason for each of them (None elsewhere). `style` is the layout detected, for
    the summary; `order` the day/month order used ('day', 'month' or None when no cell needed one);
    `ambiguous` says every day/month cell fitted both orders; `notes` are column-level remarks.
    """

    values: pd.Series
    invalid: pd.Series
    fallback: pd.Series
    why: pd.Series
    style: str = ""
    order: str | None = None
    ambiguous: bool = False
    notes: tuple[str, ...] = ()


# ---- the order a mapping can give ---------------------------------------------------------------------
KEYWORDS = {"day-first": "day", "month-first": "month", "dd/mm": "day", "mm/dd": "month"}


def check_format(fmt: str) -> str | None:
    """Why `fmt` is not a usable date format (a strftime format or day-first / month-first), or None."""
    if not isinstance(fmt, str) or not fmt.strip():
        return "must be text such as '%d/%m/%Y', 'day-first' or 'month-first'"
    if fmt.strip().lower() in KEYWORDS:
        return None
    zoned = "%z" in fmt or "%Z" in fmt
    sample = pd.Timestamp("2026-07-15 13:45:30", tz="UTC" if zoned else None)
    try:
        text = sample.strftime(fmt)
        back = pd.to_datetime(pd.Series([text]), format=fmt, errors="raise", utc=zoned)
    except (ValueError, TypeError) as err:
        return f"{fmt!r} is not a valid date format ({err})"
    codes = set(re.findall(r"%-?(.)", fmt))
    if not ({"Y", "y"} & codes and {"m", "b", "B"} & codes and {"d", "j"} & codes) and not {"c", "x"} & codes:
        return (f"{fmt!r} does not name a year, a month and a day (strftime codes such as %Y, %m, %d); "
                "or write day-first / month-first")
    if back.iloc[0].date() != sample.date():
        return f"{fmt!r} does not read back the date it writes (2026-07-15 became {back.iloc[0]:%Y-%m-%d})"
    return None


# ---- the column --------------------------------------------------------------------------------------
def parse_dates(text: pd.Series, fmt: str | None = None, order: str | None = None) -> DateColumn:
    """Read one column of dates. `fmt` is a strftime format (or 'day-first' / 'month-first') from a mapping;
    `order` ('day' / 'month') is a hint for a column whose every date fits both orders.

    Exports repeat the same dates over and over, so only the distinct cells are parsed.
    """
    if fmt is not None and fmt.strip().lower() in KEYWORDS:
        order, fmt, forced = KEYWORDS[fmt.strip().lower()], None, True
    else:
        forced = False
    if fmt is None:
        try:
            done = _with_plain_layout(text, order, forced)
        except _NotDecided:
            done = None
        if done is not None:
            return done
    codes, uniques = pd.factorize(text.fillna("").astype(str))
    col = _parse_distinct(_stripped(uniques), fmt, order, forced)

    # each distinct cell's answer spread to its rows with one take per column (code -1, a missing cell: nothing)
    missing = codes < 0
    anywhere = bool(missing.any())

    def spread(values: np.ndarray, empty) -> np.ndarray:
        taken = values[codes] if len(values) else np.full(len(codes), empty, dtype=values.dtype)
        if anywhere:
            taken[missing] = empty
        return taken

    why = col.why.to_numpy(dtype=object)
    # missing reasons as a Series built from the objects gives them: NaN once any cell has a reason, else None
    gap = np.nan if len(codes) and pd.notna(why).any() else None
    why = np.where(pd.notna(why), why, gap) if gap is not None else why
    index = text.index
    return DateColumn(
        pd.Series(spread(col.values.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT")), index=index,
                  dtype="datetime64[ns]"),
        pd.Series(spread(col.invalid.to_numpy(dtype=bool), False), index=index, dtype=bool),
        pd.Series(spread(col.fallback.to_numpy(dtype=bool), False), index=index, dtype=bool),
        pd.Series(spread(why, gap), index=index, dtype="object"),
        col.style, col.order, col.ambiguous, col.notes,
    )


# what Python's str.strip() removes: the characters str.isspace() calls whitespace
_WHITESPACE = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace())


def _stripped(uniques) -> pd.Series:
    """The distinct cells with their surrounding whitespace removed as `str.strip` removes it (Arrow's trim with the
    same characters, on the whole array), as Python strings."""
    arr = arrow_cells(uniques)
    if arr is None:     # text UTF-8 cannot hold: Python strips it
        return pd.Series(np.asarray(uniques, dtype=object), dtype="object").str.strip()
    return pd.Series(pc.utf8_trim(arr, characters=_WHITESPACE).to_numpy(zero_copy_only=False), dtype="object")


def _parse_distinct(raw: pd.Series, fmt: str | None, order: str | None, forced: bool,
                    plain: _Plain | None = None) -> DateColumn:
    """The distinct cells `raw` read; with `plain`, the column's other cells, read already in a plain layout, count in
    the column's decisions (its layout, day/month order and style) as the cells they are (`_Plain`)."""
    cells = raw
    empty = raw.isin(EMPTY_TOKENS)
    values = pd.Series(pd.NaT, index=cells.index, dtype="datetime64[ns]")
    why = pd.Series(None, index=cells.index, dtype="object")
    fallback = pd.Series(False, index=cells.index)
    notes: list[str] = []
    todo = ~empty
    if fmt is not None:      # the mapping's format first; other layouts only as a reported fallback
        zoned = "%z" in fmt or "%Z" in fmt
        got = pd.to_datetime(raw.where(todo, None), format=fmt, errors="coerce", utc=zoned)
        if zoned:
            got = got.dt.tz_convert(None)
            notes.append("dates with a time zone were converted to UTC")
        hit = got.notna() & todo
        values, out = _in_range(got.where(hit), hit, values)
        why[out] = _out_of_range_reason(got[out])
        todo &= ~hit
    families = _families(raw.where(todo, ""))
    shapes = families["family"]
    present = shapes[todo & (shapes != "none")]
    main = present.value_counts().idxmax() if len(present) else None
    if plain is not None:
        main = plain.main(present)
    if fmt is None:
        style_family = main
    else:
        style_family = None
    # day/month order for the two-numbers-first cells, decided once for the column
    dm = todo & (shapes == "dm")
    plain_dm = plain is not None and plain.family == "dm"
    ambiguous = False
    if dm.any() or plain_dm:
        a, b = families["a"][dm], families["b"][dm]
        day_only = int(((a > 12) & (b <= 12)).sum())
        month_only = int(((b > 12) & (a <= 12)).sum())
        if plain_dm:
            day_only, month_only = plain.orders(day_only, month_only)
        if not forced and (day_only or month_only):
            order = "day" if day_only >= month_only else "month"
        elif order is None:
            sep = plain.sep if plain_dm else families["sep"][dm].value_counts().idxmax()
            order = "month" if sep == "/" else "day"
            ambiguous = True
    parsed = _by_family(raw, families, order)
    if plain is not None and main is not None:
        style = _style(main, plain.parts, order, pd.Series(True, index=plain.parts.index))
    else:
        style = fmt if fmt is not None else (_style(style_family, families, order, ~empty) if main else "no dates")
    for family in ("ymd", "dm", "zoned", "serial", "compact", "named"):
        mask = todo & (shapes == family)
        if not mask.any():
            continue
        got = parsed[family][mask]
        hit = got.notna()
        idx = got.index[hit]
        in_range = (got[hit] >= EARLIEST) & (got[hit] < LATEST)
        ok, out = idx[in_range.to_numpy()], idx[~in_range.to_numpy()]
        values[ok] = got[ok].astype("datetime64[ns]")
        why[out] = _out_of_range_reason(got[out])
        other = family != style_family
        if other and len(ok):
            fallback[ok] = True
            why[ok] = (f"not in the column's {'date_format' if fmt else 'layout'} {style}; "
                       f"read as {_describe(family, order)}: ") + values[ok].dt.strftime("%Y-%m-%d %H:%M")
        if family == "dm" and len(ok):    # cells that only read in the other order than the column's
            swapped = parsed["dm_swapped"][ok].fillna(False).astype(bool)
            if swapped.any():
                s = swapped[swapped].index
                fallback[s] = True
                why[s] = (f"day and month cannot be read {order} first like the rest of the column; read "
                          f"{'month' if order == 'day' else 'day'} first as ") + values[s].dt.strftime("%Y-%m-%d")
        if family in ("ymd", "dm") and (~hit).any():
            why[got.index[~hit]] = "no such date (a month above 12, a day past the month's end, or an hour above 23); left empty"
        todo[idx] = False
    if ((shapes == "zoned") & values.notna()).any():
        notes.append("dates with a time zone were converted to UTC")
    invalid = ~empty & values.isna()
    why[invalid & why.isna()] = "not a date in any layout the loader reads; left empty"
    return DateColumn(values, invalid, fallback & ~invalid, why.where(invalid | fallback, None), style,
                      order if dm.any() or plain_dm else None, ambiguous, tuple(notes))


# ---- plain layouts ---------------------------------------------------------------------------------------
# A timestamp column of a big export holds nearly as many distinct cells as rows, nearly all written one way
# ('1/15/2026 9:05 AM'). Cells written exactly in one of these layouts (a real year 1900-2199, numbers in range, no
# extra spaces) are read by Arrow's strptime over the whole column, checked against their own day and month; only
# the other cells go through the layouts above, and the column's decisions (its layout, order and style) count
# every cell as before (`_Plain`), or the whole column is read the general way.
PLAIN_MIN_CELLS = 10_000    # below this the general reading of the distinct cells costs less than looking for a layout
_DAY = r"(?:0?[1-9]|[12][0-9]|3[01])"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_YEAR = r"(?:19|20|21)[0-9]{2}"
_TIMES = (("", ""), (r" (?:0?[1-9]|1[0-2]):[0-5][0-9] (?:AM|PM)", " %I:%M %p"),
          (r" (?:0?[1-9]|1[0-2]):[0-5][0-9]:[0-5][0-9] (?:AM|PM)", " %I:%M:%S %p"),
          (r" (?:[01]?[0-9]|2[0-3]):[0-5][0-9]", " %H:%M"), (r" (?:[01]?[0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]", " %H:%M:%S"),
          (r"T(?:[01]?[0-9]|2[0-3]):[0-5][0-9]", "T%H:%M"), (r"T(?:[01]?[0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]", "T%H:%M:%S"))


@dataclass(frozen=True)
class _Layout:
    family: str          # 'dm' (day or month first) or 'ymd'
    sep: str
    pattern: str         # RE2, the whole cell
    time: str            # the time's strptime format ('' for none)


_LAYOUTS = tuple([_Layout("dm", sep, f"^{_DAY}{re.escape(sep)}{_DAY}{re.escape(sep)}{_YEAR}{t}$", f)
                  for sep in "/.-" for t, f in _TIMES]
                 + [_Layout("ymd", sep, f"^{_YEAR}{re.escape(sep)}{_MONTH}{re.escape(sep)}{_DAY}{t}$", f)
                    for sep in "-/." for t, f in _TIMES if "AM" not in t])


class _NotDecided(Exception):
    """The plain cells alone cannot settle the column's decisions as the general reading would: read it that way."""


@dataclass
class _Plain:
    """The cells read in a plain layout, as they count in the column's decisions: their family, separator and
    style (`parts`: one of them as `_families` reads it), and which could be read only day first or only month
    first. Decisions they cannot settle exactly raise `_NotDecided`."""

    family: str
    sep: str
    parts: pd.DataFrame
    any_day_only: bool
    any_month_only: bool
    distinct: int            # at least this many distinct cells (distinct dates read)

    def main(self, present: pd.Series) -> str:
        """The column's layout family: the plain one, when its distinct cells outnumber the other cells of its
        family (so they settle its style) and, with them, every other family's."""
        counts = present.value_counts()
        mine = int(counts.get(self.family, 0))
        others = int(counts.drop(self.family, errors="ignore").max()) if len(counts.drop(self.family, errors="ignore")) else 0
        if not (self.distinct > mine and self.distinct + mine > others):
            raise _NotDecided
        return self.family

    def orders(self, day_only: int, month_only: int) -> tuple[int, int]:
        """The column's counts of distinct cells readable only day first / only month first, as far as they decide
        the order: the plain cells' own count matters only when the other cells show the other order."""
        if self.any_day_only and self.any_month_only:
            raise _NotDecided
        if self.any_day_only:
            if month_only:
                raise _NotDecided
            return max(day_only, 1), 0
        if self.any_month_only:
            if day_only:
                raise _NotDecided
            return 0, max(month_only, 1)
        return day_only, month_only


def _with_plain_layout(text: pd.Series, order: str | None, forced: bool) -> DateColumn | None:
    """The column read with its plain layout (see `_LAYOUTS`) where its cells follow it, the others the general way;
    None when no layout fits, or when the column repeats its cells (reading its distinct cells is cheaper)."""
    if len(text) < PLAIN_MIN_CELLS:
        return None
    cells = arrow_cells(text)
    if cells is None or len(cells) == 0:
        return None
    n = len(cells)
    sample = cells.take(pa.array(np.arange(0, n, max(1, n // 2000))[:2000]))
    if len(sample) >= 100 and pc.count_distinct(sample).as_py() < 0.8 * len(sample):
        return None
    hits = [pc.sum(pc.match_substring_regex(sample, lay.pattern).fill_null(False)).as_py() or 0 for lay in _LAYOUTS]
    if max(hits) == 0:
        return None
    layout = _LAYOUTS[int(np.argmax(hits))]
    plain = pc.match_substring_regex(cells, layout.pattern).fill_null(False)
    where = np.flatnonzero(plain.to_numpy(zero_copy_only=False))
    if not len(where):
        return None
    got = cells if len(where) == n else pc.filter(cells, plain)     # (every cell plain: the column as it is)
    reading = _Readings(got, layout, order)
    read = reading.read
    if not read.any():
        return None
    plain_info = _Plain(layout.family, layout.sep, _families(pd.Series([got[int(np.argmax(read))].as_py()], dtype="object")),
                        reading.any_only("day"), reading.any_only("month"), 1)
    rest = np.ones(n, dtype=bool)
    rest[where[read]] = False
    rest_at = np.flatnonzero(rest)
    codes, uniques = pd.factorize(text.iloc[rest_at].fillna("").astype(str))
    distinct_rest = _stripped(uniques)
    try:
        col = _parse_distinct(distinct_rest, None, order, forced, plain_info)
    except _NotDecided:     # a closer count of the plain cells' distinct dates, then decide again
        plain_info.distinct = reading.distinct_dates()
        col = _parse_distinct(distinct_rest, None, order, forced, plain_info)
    values = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    invalid = np.zeros(n, dtype=bool)
    fallback = np.zeros(n, dtype=bool)
    why = np.full(n, None, dtype=object)
    if len(rest_at):
        ok = codes >= 0
        values[rest_at] = np.where(ok, col.values.to_numpy(dtype="datetime64[ns]")[codes], np.datetime64("NaT"))
        invalid[rest_at] = np.where(ok, col.invalid.to_numpy(dtype=bool)[codes], False)
        fallback[rest_at] = np.where(ok, col.fallback.to_numpy(dtype=bool)[codes], False)
        why[rest_at] = np.where(ok, col.why.to_numpy(dtype=object)[codes], None)
    mine, swapped = reading.by(col.order if layout.family == "dm" else "month")
    at = ~np.isnat(mine)
    values[where[at]] = mine[at]
    turned = ~at & ~np.isnat(swapped)
    if turned.any():    # only the other order reads them: read so, and said, as the general reading does
        cells_at = where[turned]
        values[cells_at] = swapped[turned]
        fallback[cells_at] = True
        why[cells_at] = (f"day and month cannot be read {col.order} first like the rest of the column; read "
                         f"{'month' if col.order == 'day' else 'day'} first as "
                         ) + pd.Series(swapped[turned]).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    index = text.index
    return DateColumn(pd.Series(values, index=index), pd.Series(invalid, index=index), pd.Series(fallback, index=index),
                      _reasons(why, index), col.style, col.order, col.ambiguous, col.notes)


def _reasons(why: np.ndarray, index: pd.Index) -> pd.Series:
    """The reasons as the distinct cells' reasons are spread (a Series built from the objects: missing as NaN once
    any cell has a reason, None when none has)."""
    given = pd.notna(why)
    if not given.any():
        return pd.Series(why, index=index, dtype="object")
    out = np.full(len(why), np.nan, dtype=object)
    out[given] = why[given]
    return pd.Series(out, index=index, dtype="object")


class _Readings:
    """The plain cells read month first and day first (or year first), each reading done where it is needed: the
    likelier order on every cell, the other where that one fails (and on every cell only when the column turns out
    to be in the other order)."""

    def __init__(self, cells: pa.Array, layout: _Layout, order: str | None):
        self.cells, self.layout = cells, layout
        self.a, self.b = _two_numbers(cells, layout)
        self.primary = "month" if layout.family == "ymd" else (order or ("month" if layout.sep == "/" else "day"))
        self.secondary = "day" if self.primary == "month" else "month"
        self.first = self._read(self.primary)
        self.first_ok = ~np.isnat(self.first)
        self.retry = np.flatnonzero(~self.first_ok)
        self.second_part = (self._read(self.secondary, self.retry) if layout.family == "dm"
                            else np.full(len(self.retry), np.datetime64("NaT"), dtype="datetime64[ns]"))
        self.read = self.first_ok.copy()
        self.read[self.retry[~np.isnat(self.second_part)]] = True

    def _read(self, order: str, at: np.ndarray | None = None) -> np.ndarray:
        sep, time = self.layout.sep, self.layout.time
        cells = self.cells if at is None else self.cells.take(pa.array(at))
        a, b = (self.a, self.b) if at is None else (self.a[at], self.b[at])
        if self.layout.family == "ymd":
            return _strptime(cells, f"%Y{sep}%m{sep}%d{time}", a, b)
        if order == "month":
            return _strptime(cells, f"%m{sep}%d{sep}%Y{time}", a, b)
        return _strptime(cells, f"%d{sep}%m{sep}%Y{time}", b, a)

    def any_only(self, order: str) -> bool:
        """Whether some cell reads only `order` first (a dd/mm layout; both numbers 12 or less read both ways)."""
        if self.layout.family != "dm":
            return False
        if order == self.primary:    # read so, and its other number (the day the other order would take as month) > 12
            other = self.b if self.primary == "month" else self.a
            return bool((self.first_ok & (other > 12)).any())
        return bool((~np.isnat(self.second_part)).any())

    def distinct_dates(self) -> int:
        both = self.first.copy()
        both[self.retry] = self.second_part
        return len(np.unique(both[~np.isnat(both)].view("int64")))

    def by(self, order: str) -> tuple[np.ndarray, np.ndarray]:
        """(each cell read in `order`, NaT where it cannot be; read in the other order, where it can be only so)."""
        if order == self.primary or self.layout.family == "ymd":
            swapped = np.full(len(self.first), np.datetime64("NaT"), dtype="datetime64[ns]")
            swapped[self.retry] = self.second_part
            return self.first, swapped
        mine = self._read(self.secondary)
        return mine, np.where(np.isnat(mine), self.first, np.datetime64("NaT"))


def _two_numbers(cells: pa.Array, layout: _Layout) -> tuple[np.ndarray, np.ndarray]:
    """The first two numbers of a dd/mm cell (the month and day of a year-first one), read from the cells' bytes:
    each is one digit, or two when a digit follows the first (the cells fit the layout's pattern). Held as 16-bit
    numbers, the positions as the cells' own 32-bit offsets: a timestamp column of millions of cells is read ahead in
    a second thread while the deals are parsed (`sim.crm.load._ReadAhead`), and these arrays are a large part of
    what its parsing holds at once."""
    offsets = np.frombuffer(cells.buffers()[1], dtype=np.int32)[cells.offset:cells.offset + len(cells) + 1]
    data = np.frombuffer(cells.buffers()[2], dtype=np.uint8)
    end = offsets[1:]
    at = offsets[:-1] + (5 if layout.family == "ymd" else 0)

    def number(at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        after = data[np.minimum(at + 1, len(data) - 1)]
        two = (at + 1 < end) & (after >= 48) & (after <= 57)
        first = data[at].astype(np.int16) - 48
        return np.where(two, first * 10 + after.astype(np.int16) - 48, first), at + 2 + two

    a, at = number(at)
    b, _ = number(at)
    return a, b


def _strptime(cells: pa.Array, fmt: str, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The cells read by `fmt` (NaT where they do not fit it, or where the date does not exist: strptime would carry
    a 30 February into March, so the month and day read must be the cell's own)."""
    got = pc.strptime(cells, format=fmt, unit="ns", error_is_null=True)
    same = pc.and_(pc.equal(pc.month(got), pa.array(month)), pc.equal(pc.day(got), pa.array(day)))
    out = got.to_numpy(zero_copy_only=False).astype("datetime64[ns]")
    out[~same.fill_null(False).to_numpy(zero_copy_only=False)] = np.datetime64("NaT")
    return out


def _in_range(got: pd.Series, hit: pd.Series, values: pd.Series) -> tuple[pd.Series, pd.Series]:
    ok = hit & (got >= EARLIEST) & (got < LATEST)
    values = values.copy()
    values[ok] = got[ok].astype("datetime64[ns]")
    return values, hit & ~ok


def _out_of_range_reason(got: pd.Series) -> pd.Series:
    return ("outside " + RANGE_TEXT + " (" + got.dt.strftime("%Y-%m-%d") +
            ": a placeholder for no date, or a typo); left empty")


# ---- layouts -------------------------------------------------------------------------------------------
MAX_DATE_TEXT = 64     # no date layout is longer; a longer cell (a shifted row, a notes field) is not a date


def _families(raw: pd.Series) -> pd.DataFrame:
    """Each cell's layout family and, for numeric dates, its parts as numbers.

    Columns: `family`; `a`, `b`, `c` (the three numbers of a numeric date) with their digit counts `alen`, `blen`,
    `clen` (0 where the cell is not numeric); `sep`; `H`, `M`, `S` (-1 where absent), `F` (microseconds, -1 where
    absent) and `P` ('am', 'pm' or ''). Cells of printable ASCII (nearly all) go through Arrow's RE2 engine over
    the whole column; the others (accents, other scripts' digits, control characters) through Python's `re`,
    which reads them as it always did. Only cells of at most `MAX_DATE_TEXT` characters are searched, so a
    1 MB cell costs one length check, not a pattern search over its whole text.
    """
    index = raw.index
    try:
        cells = pa.array(raw.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        short = pc.less_equal(pc.utf8_length(cells), MAX_DATE_TEXT).fill_null(False)
        plain = pc.and_(short, pc.match_substring_regex(cells, _PRINTABLE_ASCII).fill_null(False)).to_numpy(zero_copy_only=False)
        exotic = short.to_numpy(zero_copy_only=False) & ~plain
    except (pa.ArrowException, UnicodeError):   # text UTF-8 cannot hold (a lone surrogate): every cell through `re`
        cells = pa.array([""] * len(raw), type=pa.string())
        plain = np.zeros(len(raw), dtype=bool)
        exotic = (raw.str.len() <= MAX_DATE_TEXT).to_numpy(dtype=bool)
    parts = _numeric_parts(pc.filter(cells, pa.array(plain)), index[plain])
    if exotic.any():
        parts = pd.concat([parts, _numeric_parts_re(raw[exotic])]).reindex(index)
    else:
        parts = parts.reindex(index)
    numeric = parts["alen"].fillna(0).to_numpy() > 0
    parts = parts.fillna({"a": 0, "b": 0, "c": 0, "alen": 0, "blen": 0, "clen": 0, "H": -1, "M": -1, "S": -1,
                          "F": -1}).astype({k: "int64" for k in ("a", "b", "c", "alen", "blen", "clen", "H", "M", "S", "F")})
    parts["sep"] = parts["sep"].where(numeric, None)
    parts["P"] = parts["P"].where(numeric, "")
    family = np.full(len(index), "none", dtype=object)
    alen, clen = parts["alen"].to_numpy(), parts["clen"].to_numpy()
    family[numeric & (alen == 4) & (clen <= 2)] = "ymd"
    family[numeric & (alen <= 2) & np.isin(clen, (2, 4))] = "dm"
    zoned = _matches(cells, raw, plain, exotic, _ZONED_RE2, _ZONED)
    family[zoned] = "zoned"
    rest = family == "none"
    family[rest & _matches(cells, raw, plain, exotic, _SERIAL.pattern, _SERIAL)] = "serial"
    family[rest & _matches(cells, raw, plain, exotic, _COMPACT.pattern, _COMPACT)] = "compact"
    rest = (family == "none") & (plain | exotic)
    if rest.any():    # month names: few cells reach here, and the look-aheads need Python's `re`
        r = raw[rest]
        named = r.str.contains(_MONTH_NAME) & r.str.match(_NAMED) & r.str.contains(_HAS_DAY_AND_YEAR)
        family[np.flatnonzero(rest)[named.to_numpy(dtype=bool)]] = "named"
    parts["family"] = family
    return parts


def _matches(cells: pa.Array, raw: pd.Series, plain: np.ndarray, exotic: np.ndarray, re2: str,
             pattern: re.Pattern) -> np.ndarray:
    """Which cells match `pattern` from their start (RE2 on the printable-ASCII cells, `re` on the others)."""
    out = pc.match_substring_regex(cells, re2).fill_null(False).to_numpy(zero_copy_only=False) & plain
    if exotic.any():
        out[np.flatnonzero(exotic)[raw[exotic].str.match(pattern).to_numpy(dtype=bool)]] = True
    return out


_PART_COLUMNS = ["a", "b", "c", "alen", "blen", "clen", "sep", "H", "M", "S", "F", "P"]


def _numeric_parts(cells: pa.Array, index: pd.Index) -> pd.DataFrame:
    """The parts of numeric dates among printable-ASCII cells, with RE2 (rows that do not match are left out)."""
    found = pc.extract_regex(cells, _NUMERIC_RE2)
    hit = pc.and_(found.is_valid(), pc.equal(pc.struct_field(found, "sep"), pc.struct_field(found, "sep2")))
    hit = hit.fill_null(False)
    found = pc.filter(found, hit)
    where = index[hit.to_numpy(zero_copy_only=False)]

    def field(name: str) -> pa.Array:
        return pc.struct_field(found, name)

    def number(name: str, missing: int = -1) -> np.ndarray:
        f = field(name)
        return pc.if_else(pc.equal(f, ""), missing, pc.cast(pc.if_else(pc.equal(f, ""), "0", f), pa.int64())).to_numpy(zero_copy_only=False)

    f = field("F")
    micro = pc.cast(pc.utf8_rpad(pc.utf8_slice_codeunits(pc.if_else(pc.equal(f, ""), "0", f), 0, 6), 6, "0"), pa.int64())
    ampm = pc.utf8_lower(pc.replace_substring(field("P"), ".", ""))
    return pd.DataFrame({
        "a": number("a"), "b": number("b"), "c": number("c"),
        "alen": pc.utf8_length(field("a")).to_numpy(zero_copy_only=False),
        "blen": pc.utf8_length(field("b")).to_numpy(zero_copy_only=False),
        "clen": pc.utf8_length(field("c")).to_numpy(zero_copy_only=False),
        "sep": field("sep").to_numpy(zero_copy_only=False),
        "H": number("H"), "M": number("M"), "S": number("S"),
        "F": pc.if_else(pc.equal(f, ""), -1, micro).to_numpy(zero_copy_only=False),
        "P": ampm.to_numpy(zero_copy_only=False),
    }, index=where, columns=_PART_COLUMNS)


def _numeric_parts_re(raw: pd.Series) -> pd.DataFrame:
    """The same parts with Python's `re`, for cells RE2 would read differently (non-ASCII digits, other spaces)."""
    parts = raw.str.extract(_NUMERIC)
    parts = parts[parts["a"].notna()]
    frac = parts["F"].fillna("0").str.slice(0, 6).str.ljust(6, "0").astype(int)
    return pd.DataFrame({
        "a": parts["a"].astype(int), "b": parts["b"].astype(int), "c": parts["c"].astype(int),
        "alen": parts["a"].str.len(), "blen": parts["b"].str.len(), "clen": parts["c"].str.len(),
        "sep": parts["sep"],
        "H": parts["H"].fillna("-1").astype(int), "M": parts["M"].fillna("-1").astype(int),
        "S": parts["S"].fillna("-1").astype(int), "F": frac.where(parts["F"].notna(), -1),
        "P": parts["P"].fillna("").str.replace(".", "", regex=False).str.lower(),
    }, index=parts.index, columns=_PART_COLUMNS)


def _by_family(raw: pd.Series, parts: pd.DataFrame, order: str | None) -> dict[str, pd.Series]:
    """Every cell read as each family would read it (NaT where it does not fit)."""
    fam = parts["family"]
    out = {}
    nat = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]")
    ymd = fam == "ymd"
    out["ymd"] = _from_parts("a", "b", "c", parts, ymd) if ymd.any() else nat
    dm = fam == "dm"
    if dm.any():
        day, month = ("a", "b") if order != "month" else ("b", "a")
        first = _from_parts("c", month, day, parts, dm)
        other = _from_parts("c", day, month, parts, dm & first.isna())
        swapped = first.isna() & other.notna()
        out["dm"] = first.where(first.notna(), other)
        out["dm_swapped"] = swapped
    else:
        out["dm"], out["dm_swapped"] = nat, pd.Series(False, index=raw.index)
    zoned = fam == "zoned"
    if zoned.any():
        z = raw.where(zoned).str.replace(r"\s*(?:UTC|GMT)$", "Z", regex=True, flags=re.I)
        got = pd.to_datetime(z, format="ISO8601", utc=True, errors="coerce")
        out["zoned"] = got.dt.tz_convert(None)
    else:
        out["zoned"] = nat
    serial = fam == "serial"
    if serial.any():
        days = pd.to_numeric(raw.where(serial), errors="coerce")
        out["serial"] = (EXCEL_EPOCH + pd.to_timedelta(days.round(6), unit="D")).dt.round("s")
    else:
        out["serial"] = nat
    compact = fam == "compact"
    out["compact"] = pd.to_datetime(raw.where(compact), format="%Y%m%d", errors="coerce") if compact.any() else nat
    named = fam == "named"
    if named.any():
        out["named"] = pd.Series(
            pd.to_datetime(raw.where(named), format="mixed", dayfirst=order != "month", errors="coerce"),
            index=raw.index)
    else:
        out["named"] = nat
    return out


def _from_parts(year: str, month: str, day: str, parts: pd.DataFrame, mask: pd.Series) -> pd.Series:
    """Timestamps from the numbers of the parts named year, month and day (NaT for impossible ones: a 31st of
    February, an hour 25, a month 13), computed on whole columns with numpy's calendar."""
    take = mask.to_numpy(dtype=bool)
    got = np.full(len(mask), np.datetime64("NaT"), dtype="datetime64[us]")
    if not take.any():
        return pd.Series(got, index=mask.index)
    p = {k: parts[k].to_numpy()[take] for k in ("H", "M", "S", "F", "P")}
    y, ylen = parts[year].to_numpy()[take], parts[year[0] + "len"].to_numpy()[take]
    y = np.where(ylen == 2, np.where(y < 69, 2000 + y, 1900 + y), y)
    y = np.where(ylen == 3, -1, y)        # a three-digit year is no year
    hour = np.where(p["H"] < 0, 0, p["H"])
    ampm = p["P"]
    timed = ampm != ""
    bad_time = (timed & ((hour < 1) | (hour > 12))) | (hour > 23)
    hour = np.where(ampm == "pm", hour % 12 + 12, np.where(ampm == "am", hour % 12, hour))
    minute, second = np.where(p["M"] < 0, 0, p["M"]), np.where(p["S"] < 0, 0, p["S"])
    micro = np.where(p["F"] < 0, 0, p["F"])
    m, d = parts[month].to_numpy()[take], parts[day].to_numpy()[take]
    bad = bad_time | (minute > 59) | (second > 59) | (m < 1) | (m > 12) | (d < 1) | (d > 31) | (y < 1)
    yy, mm = np.clip(y, 1, 9999), np.clip(m, 1, 12)
    months = ((yy - 1970) * 12 + (mm - 1)).astype("datetime64[M]")
    first = months.astype("datetime64[D]")
    length = ((months + 1).astype("datetime64[D]") - first).astype(np.int64)
    bad |= d > length                                    # the 31st of a 30-day month, the 29th of a common February
    stamp = ((first + (np.clip(d, 1, 31) - 1)).astype("datetime64[us]")
             + ((hour * 3600 + minute * 60 + second) * 1_000_000 + micro).astype("timedelta64[us]"))
    got[np.flatnonzero(take)] = np.where(bad, np.datetime64("NaT"), stamp)
    return pd.Series(got, index=mask.index)


def _describe(family: str | None, order: str | None) -> str:
    return {
        "ymd": "year-month-day", "dm": f"{order or 'day'} first", "zoned": "ISO with a time zone",
        "serial": "an Excel serial day number", "compact": "yyyymmdd", "named": "a date with a month name",
        None: "(none)",
    }[family]


def _style(family: str | None, parts: pd.DataFrame, order: str | None, among: pd.Series) -> str:
    """The column's layout as a strftime-like format for the summary (e.g. %d-%m-%Y %H:%M)."""
    mine = among & (parts["family"] == family)
    if family in ("ymd", "dm"):
        sep = parts["sep"][mine].value_counts().idxmax()
        year = "%y" if (parts["clen" if family == "dm" else "alen"][mine] == 2).mean() > 0.5 else "%Y"
        if family == "ymd":
            date = f"%Y{sep}%m{sep}%d"
        else:
            date = sep.join(("%d", "%m") if order != "month" else ("%m", "%d")) + sep + year
        timed = (parts["H"][mine] >= 0).mean() > 0.5
        if not timed:
            return date
        ampm = (parts["P"][mine] != "").mean() > 0.5
        seconds = (parts["S"][mine] >= 0).mean() > 0.5
        return date + (" %I:%M" if ampm else " %H:%M") + (":%S" if seconds else "") + (" %p" if ampm else "")
    return {"zoned": "ISO 8601 with a time zone", "serial": "Excel serial day numbers", "compact": "%Y%m%d",
            "named": "dates with month names"}.get(family, "no dates")
