"""The loader's value parsers and history steps as they were before they ran on whole columns with Arrow (issue 28):
a reference used only by tests/test_crm_vectorised.py, which checks that the vectorised loader gives the same
values, rejected rows and repairs as these on the hostile fixtures.

Copied from sim/crm/dates.py, parse.py and load.py at f7de706 (pandas' `str` methods, Python's `re` per distinct
value, numpy string arrays, id look-ups by `Series.map`); the helpers they share with today's code are imported.
Not to be used by `sim`: slower by design, kept to compare against.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from sim.crm.dates import (_COMPACT, _HAS_DAY_AND_YEAR, _MONTH_NAME, _NAMED, _NUMERIC, _SERIAL, _ZONED, EARLIEST,
                           EMPTY_TOKENS, EXCEL_EPOCH, KEYWORDS, LATEST, MAX_DATE_TEXT, DateColumn, _describe, _in_range,
                           _out_of_range_reason)
from sim.crm.issues import FileReport
from sim.crm.load import TERMINAL
from sim.crm.parse import (_CURRENCY_IN_CELL, _STRINGS, _SYMBOLS, MAX_NUMBER_TEXT, Parsed,
                           _decimal_comma, _false, _one_group_of_three, _other_convention, _strict_numbers,
                           _strip_symbols, _thousands_dot, currency_code, is_empty)


# ---- dates (sim/crm/dates.py) -----------------------------------------------------------------------------
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


# ---- amounts and currencies (sim/crm/parse.py) ------------------------------------------------------------
def parse_amount(text: pd.Series) -> Parsed:
    """Money and other numbers: '$1,200.50', '1.200,50 €', 'EUR 3 400', '(250)', '12%'.

    The decimal separator is decided per column from the values that show it unambiguously
    (',' followed by 1-2 digits at the end means a decimal comma), so '1.200' in a European column is
    1200 while '1.2' in a US column is 1.2. A cell that itself shows the other convention ('1.234,56' or
    '12,5' in a decimal-point column, '1,234.56' or '12.5' in a decimal-comma column) is read by its own
    convention and reported as a fallback with the reason, never rescaled silently. Formulas ('=A1*2')
    and words are not numbers: they become empty and are reported.

    Fast path: the symbols a sample of the column uses are removed from every cell with numpy's
    compiled string functions and the rest converts in one go; only cells that still do not read as
    numbers go through the slower, stricter pattern check.
    """
    text = text.fillna("").astype(str)
    empty = text.isin(EMPTY_TOKENS)
    present = text[~empty]
    sample = [v for v in present.iloc[:: max(1, len(present) // 2000)].iloc[:2000].tolist() if len(v) <= MAX_NUMBER_TEXT]
    stripped = [_strip_symbols(v) for v in sample]
    european = _decimal_comma(stripped)
    by_groups = not european and _thousands_dot(stripped)   # '1.250 €', '12.500 €': dots that group thousands
    european = european or by_groups
    cells = np.asarray(text.to_numpy(dtype=object), dtype=_STRINGS)
    for symbol in [t for t in _SYMBOLS if any(t in v for v in sample)]:
        cells = np.strings.replace(cells, symbol, "")
    separated = cells
    cells = np.strings.replace(cells, "." if european else ",", "")
    if european:
        cells = np.strings.replace(cells, ",", ".")
    if any(v.lstrip().startswith("(") for v in sample):
        cells = np.strings.replace(np.strings.replace(cells, "(", "-"), ")", "")
    mismatch = pd.Series(_other_convention(separated, european), index=text.index) & ~empty
    cells[empty.to_numpy() | mismatch.to_numpy()] = "nan"
    try:    # every cell now reads as a number: one compiled conversion
        values = pd.Series(cells.astype(np.float64), index=text.index)
    except ValueError:
        values = pd.Series(pd.to_numeric(cells.astype(object), errors="coerce"), index=text.index, dtype="float64")
    values[empty | mismatch] = np.nan
    slow = values.isna() & ~empty & ~mismatch
    if slow.any():
        values[slow] = _strict_numbers(text[slow], european)
        empty = empty | (slow & is_empty(text.where(slow, "")))
    style = "decimal comma (1.234,56)" if european else "decimal point (1,234.56)"
    if by_groups:
        style = "thousands dot (1.250 = 1250: every dot is followed by three digits, and no value shows decimals)"
    why = pd.Series(None, index=text.index, dtype="object")
    grouped = _false(text)
    if not european:    # '1.250' in a decimal-point column: 1.25 by the column's rule, but 1250 was perhaps meant
        grouped = pd.Series(_one_group_of_three(separated), index=text.index) & ~empty & ~mismatch & values.notna()
        if grouped.any():
            why[grouped] = ("three digits after the dot, like a thousands separator; read as "
                            + values[grouped].map(lambda v: f"{v:g}") + " by the column's decimal point "
                            "(if a whole number was meant, correct the cell)")
    if mismatch.any():
        values[mismatch] = _strict_numbers(text[mismatch], not european)
        read = values[mismatch]
        mine = "decimal point (1,234.56)" if european else "decimal comma (1.234,56)"
        why[mismatch] = (f"written with a {mine}, unlike the rest of the column ({style}); read as "
                         + read.map(lambda v: f"{v:.2f}" if pd.notna(v) else "nothing"))
    values[np.isinf(values)] = np.nan
    invalid = ~empty & values.isna()
    fallback = (mismatch | grouped) & ~invalid
    return Parsed(values, invalid, fallback, style, ambiguous=by_groups, why=why.where(fallback, None))


def amount_currency(text: pd.Series) -> pd.Series:
    """The currency each amount cell names ('USD 1,200', '1.200 €', '¥150000'), as an ISO code; None where none.

    Columns repeat few distinct cells' shapes, so the pattern runs once per distinct value.
    """
    text = text.fillna("").astype(str)
    sample = text.iloc[:: max(1, len(text) // 2000)].iloc[:2000]
    if not sample.str.contains(r"[^\d.,\s()+\-'%]").any():   # plain numbers: no currency named in the cells
        return pd.Series(None, index=text.index, dtype="object")
    codes, uniq = pd.factorize(text)
    found = pd.Series(uniq, dtype="object").str.extract(_CURRENCY_IN_CELL, expand=False)
    table = np.append(found.map(lambda c: currency_code(c) if isinstance(c, str) else None).to_numpy(dtype=object), None)
    return pd.Series(table[codes], index=text.index, dtype="object")



# ---- history (sim/crm/load.py, _Builder methods and a function) ----------------------------------------------
def history(self, files, opps: pd.DataFrame) -> pd.DataFrame:
    """Stage stays from history files: one row per stay, consecutive rows in one stage merged."""
    known = set(opps["opportunity_id"])
    parts = []
    for raw, fmt, spec in files:
        frame = raw.frame
        cols = spec.resolve(list(frame.columns))
        alive = self.readable_rows(raw)
        out = self.columns(raw, cols, fmt, alive)
        for c, reason in (("opportunity_id", "no opportunity id"), ("stage", "no stage"), ("entered_at", "no date")):
            bad = alive & out[c].isna()
            self.flag("rejected", raw, bad, cols[c], frame[cols[c]], reason)
            alive &= ~bad
        orphan = alive & ~out["opportunity_id"].isin(known)
        self.flag("rejected", raw, orphan, cols["opportunity_id"], frame[cols["opportunity_id"]],
                  "opportunity not among the loaded opportunities")
        alive &= ~orphan
        labels = self._clean_labels(raw, cols["stage"], out["stage"], alive)
        meaning = {lab: fmt.stage_meaning(lab) for lab in pd.unique(labels[alive])}
        alive = self._history_in_lifetime(raw, cols, out, labels.map(meaning), opps, alive)
        part = pd.DataFrame({"opportunity_id": out["opportunity_id"], "stage": labels.map(meaning),
                             "entered_at": out["entered_at"],
                             "amount": out.get("amount", pd.Series(np.nan, index=frame.index)),
                             **({"expected_close_at": out["expected_close_at"]} if "expected_close_at" in out else {})})[alive]
        parts.append(part)
        self.reports.append(FileReport(raw.name, "history", len(frame), int(alive.sum()), raw.encoding,
                                       raw.delimiter, cols, [c for c in frame.columns if c not in cols.values()], raw.notes))
    rows = pd.concat(parts, ignore_index=True).sort_values(["opportunity_id", "entered_at"], kind="stable")
    self.first_amounts = rows.dropna(subset=["amount"]).groupby("opportunity_id")["amount"].first()
    # a new stay starts where the stage differs from the previous row of the same deal
    new_deal = rows["opportunity_id"].ne(rows["opportunity_id"].shift())
    new_stay = new_deal | rows["stage"].ne(rows["stage"].shift())
    stays = rows[new_stay].copy()
    nxt_same = stays["opportunity_id"].eq(stays["opportunity_id"].shift(-1))
    stays["exited_at"] = stays["entered_at"].shift(-1).where(nxt_same)
    if "closed_at" in opps and opps["closed_at"].notna().any():   # the last stay of a closed deal ends at its close
        closed = opps.set_index("opportunity_id")["closed_at"]
        last = ~nxt_same
        stays.loc[last, "exited_at"] = stays.loc[last, "opportunity_id"].map(closed)
    stays = stays[~stays["stage"].isin(TERMINAL)]
    # a close date before the stay began (date-only close vs timed stage change) ends the stay as it began
    early = stays["exited_at"] < stays["entered_at"]
    stays.loc[early, "exited_at"] = stays.loc[early, "entered_at"]
    # (added with the loader's carrying of them: the amount and expected close of the row that began each stay)
    dated = [c for c in ("amount", "expected_close_at") if c in stays and rows[c].notna().any()]
    return stays[["opportunity_id", "stage", "entered_at", "exited_at"] + dated].reset_index(drop=True)


def _history_in_lifetime(self, raw: RawTable, cols: dict[str, str], out: dict[str, pd.Series], stages: pd.Series,
                         opps: pd.DataFrame, alive: pd.Series) -> pd.Series:
    """Stage changes outside the deal's life, compared by day (a close date has no time of day): one to an open
    stage after the deal closed is rejected (the deal ended at its close; a deal won in May does not end in
    Negotiation); one before the deal was created is read as entered at its creation. Both listed."""
    entered, ids = out["entered_at"], out["opportunity_id"]
    by_id = opps.drop_duplicates("opportunity_id").set_index("opportunity_id")
    if "closed_at" in by_id:
        closed = ids.map(by_id["closed_at"]).astype("datetime64[ns]")
        late = alive & closed.notna() & (entered.dt.normalize() > closed.dt.normalize()) & ~stages.isin(TERMINAL)
        self.flag("rejected", raw, late, cols["entered_at"], raw.frame[cols["entered_at"]],
                  "a stage change after the deal closed (" + closed[late].dt.strftime("%Y-%m-%d") + "); not used")
        alive = alive & ~late
    if "created_at" in by_id:
        created = ids.map(by_id["created_at"]).astype("datetime64[ns]")
        early = alive & created.notna() & (entered.dt.normalize() < created.dt.normalize())
        self.flag("repaired", raw, early, cols["entered_at"], raw.frame[cols["entered_at"]],
                  "before the deal was created (" + created[early].dt.strftime("%Y-%m-%d")
                  + "); read as entered when it was created")
        out["entered_at"] = entered.where(~early, created)
    return alive


def _complete_from_history(opps: pd.DataFrame, history: pd.DataFrame, first_amounts: pd.Series, known=None) -> pd.DataFrame:
    """Fill what only the history knows: the first estimate, and the last stage of a closed deal (`known`, the positions
    the vectorised loader passes, is not used here)."""
    if history.empty:
        return opps
    opps = opps.copy()
    if len(first_amounts) and ("first_estimate" not in opps or opps["first_estimate"].isna().all()):
        opps["first_estimate"] = opps["opportunity_id"].map(first_amounts).astype("float64")
    last_stage = history.groupby("opportunity_id", sort=False)["stage"].last()
    fill = opps["stage"].isna()
    opps.loc[fill, "stage"] = opps.loc[fill, "opportunity_id"].map(last_stage)
    return opps


