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
    codes, uniques = pd.factorize(text.fillna("").astype(str))
    cells = pd.Series(np.asarray(uniques, dtype=object), dtype="object")
    col = _parse_distinct(cells, fmt, order, forced)

    def spread(values: pd.Series, missing):
        taken = values.to_numpy()[codes] if len(values) else np.full(len(codes), missing, dtype=object)
        return pd.Series(taken, index=text.index).where(codes >= 0, missing)

    return DateColumn(
        spread(col.values, pd.NaT).astype("datetime64[ns]"), spread(col.invalid, False).astype(bool),
        spread(col.fallback, False).astype(bool), spread(col.why, None).astype("object"),
        col.style, col.order, col.ambiguous, col.notes,
    )


def _parse_distinct(cells: pd.Series, fmt: str | None, order: str | None, forced: bool) -> DateColumn:
    raw = cells.str.strip()
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
    if fmt is None:
        style_family = main
    else:
        style_family = None
    # day/month order for the two-numbers-first cells, decided once for the column
    dm = todo & (shapes == "dm")
    ambiguous = False
    if dm.any():
        a, b = families["a"][dm].astype(int), families["b"][dm].astype(int)
        day_only = int(((a > 12) & (b <= 12)).sum())
        month_only = int(((b > 12) & (a <= 12)).sum())
        if not forced and (day_only or month_only):
            order = "day" if day_only >= month_only else "month"
        elif order is None:
            seps = families["sep"][dm].value_counts()
            order = "month" if seps.idxmax() == "/" else "day"
            ambiguous = True
    parsed = _by_family(raw, families, order)
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
                      order if dm.any() else None, ambiguous, tuple(notes))


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
    """Each cell's layout family and, for numeric dates, its parts.

    Only cells of at most `MAX_DATE_TEXT` characters go through the layout patterns, so a 1 MB cell costs one
    length check, not a pattern search over its whole text (some of these searches grow with the square of it).
    """
    full = raw
    raw = raw[raw.str.len() <= MAX_DATE_TEXT]
    parts = raw.str.extract(_NUMERIC).reindex(full.index)
    family = pd.Series("none", index=full.index, dtype="object")
    numeric = parts["a"].notna()
    year_first = numeric & (parts["a"].str.len() == 4) & (parts["c"].str.len() <= 2)
    day_month = numeric & (parts["a"].str.len() <= 2) & parts["c"].str.len().isin([2, 4])
    family[year_first] = "ymd"
    family[day_month] = "dm"
    family[raw.index[raw.str.match(_ZONED)]] = "zoned"
    rest = raw[family[raw.index] == "none"]
    family[rest.index[rest.str.match(_SERIAL)]] = "serial"
    family[rest.index[rest.str.match(_COMPACT)]] = "compact"
    rest = raw[family[raw.index] == "none"]
    named = rest.str.contains(_MONTH_NAME) & rest.str.match(_NAMED) & rest.str.contains(_HAS_DAY_AND_YEAR)
    family[rest.index[named.to_numpy(dtype=bool)]] = "named"
    parts["family"] = family
    return parts


def _by_family(raw: pd.Series, parts: pd.DataFrame, order: str | None) -> dict[str, pd.Series]:
    """Every cell read as each family would read it (NaT where it does not fit)."""
    fam = parts["family"]
    out = {}
    nat = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]")
    ymd = fam == "ymd"
    out["ymd"] = _from_parts(parts["a"], parts["b"], parts["c"], parts, ymd) if ymd.any() else nat
    dm = fam == "dm"
    if dm.any():
        day, month = (parts["a"], parts["b"]) if order != "month" else (parts["b"], parts["a"])
        first = _from_parts(parts["c"], month, day, parts, dm)
        other = _from_parts(parts["c"], day, month, parts, dm & first.isna())
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


def _from_parts(year: pd.Series, month: pd.Series, day: pd.Series, parts: pd.DataFrame, mask: pd.Series) -> pd.Series:
    """Timestamps from text parts (NaT for impossible ones: a 31st of February, an hour 25, a month 13)."""
    idx = mask[mask].index
    nat = pd.Series(pd.NaT, index=mask.index, dtype="datetime64[us]")
    if not len(idx):
        return nat
    y = year[idx].astype(int)
    y = y.where(year[idx].str.len() != 2, np.where(y < 69, 2000 + y, 1900 + y))
    y = y.where(year[idx].str.len() != 3, -1)         # a three-digit year is no year
    hour = parts["H"][idx].fillna("0").astype(int)
    ampm = parts["P"][idx].fillna("").str.replace(".", "", regex=False).str.lower()
    bad_time = ((ampm != "") & ((hour < 1) | (hour > 12))) | (hour > 23)
    hour = hour.where(ampm != "pm", hour % 12 + 12).where(ampm != "am", hour % 12)
    minute = parts["M"][idx].fillna("0").astype(int)
    second = parts["S"][idx].fillna("0").astype(int)
    fraction = parts["F"][idx].fillna("0").str.slice(0, 6).str.ljust(6, "0").astype(int)
    month_n, day_n = month[idx].astype(int), day[idx].astype(int)
    bad = bad_time | (minute > 59) | (second > 59) | (month_n < 1) | (month_n > 12) | (day_n < 1) | (day_n > 31) | (y < 1)
    frame = pd.DataFrame({"year": y, "month": month_n, "day": day_n, "hour": hour, "minute": minute,
                          "second": second, "microsecond": fraction}).where(~bad, None)
    good = frame.dropna().astype(int)
    got = nat.copy()
    if len(good):
        got[good.index] = _assemble(good)
    return got


def _assemble(frame: pd.DataFrame) -> pd.Series:
    """Datetimes from whole-number parts, any year from 1 to 9999 (out-of-range ones are reported later)."""
    days = pd.to_datetime(pd.DataFrame({"year": frame["year"].clip(1, 9999), "month": frame["month"], "day": frame["day"]}),
                          errors="coerce").astype("datetime64[us]")
    delta = pd.to_timedelta(frame["hour"] * 3600 + frame["minute"] * 60 + frame["second"], unit="s") \
        + pd.to_timedelta(frame["microsecond"], unit="us")
    return days + delta


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
        year = "%y" if (parts["c" if family == "dm" else "a"][mine].str.len() == 2).mean() > 0.5 else "%Y"
        if family == "ymd":
            date = f"%Y{sep}%m{sep}%d"
        else:
            date = sep.join(("%d", "%m") if order != "month" else ("%m", "%d")) + sep + year
        timed = parts["H"][mine].notna().mean() > 0.5
        if not timed:
            return date
        ampm = parts["P"][mine].notna().mean() > 0.5
        seconds = parts["S"][mine].notna().mean() > 0.5
        return date + (" %I:%M" if ampm else " %H:%M") + (":%S" if seconds else "") + (" %p" if ampm else "")
    return {"zoned": "ISO 8601 with a time zone", "serial": "Excel serial day numbers", "compact": "%Y%m%d",
            "named": "dates with month names"}.get(family, "no dates")
