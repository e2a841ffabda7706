"""Reading messy export files and their values: encodings, delimiters, currency strings, dates.

Everything here works on whole columns (pandas vectorised string and datetime routines), never row by
row in Python, so a million-row export reads in seconds. Each parser returns the parsed values plus
what it had to do: which values could not be read (they become empty and are reported as repairs by the
loader) and which were read by a fallback rule (also reported), so nothing changes silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .arrow_text import arrow_cells, one_array
from .dates import EMPTY_TOKENS, DateColumn, parse_dates
from .files import (EXCEL_SUFFIXES, TEXT_SUFFIXES, ExportError, RawTable, Skipped, read_table, read_tables,
                    sniff_delimiter, sniff_encoding)

__all__ = ["EXCEL_SUFFIXES", "TEXT_SUFFIXES", "DateColumn", "ExportError", "Parsed", "RawTable", "Skipped",
           "amount_currency", "blank_rows", "currency_code", "is_empty", "parse_amount", "parse_dates", "parse_text", "parse_text_coded", "read_table", "read_tables",
           "sniff_delimiter", "sniff_encoding"]


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
    why: pd.Series | None = None   # the reason for each fallback cell (None elsewhere)


def is_empty(text: pd.Series) -> pd.Series:
    """Cells that hold nothing: blank, or a spreadsheet's placeholder for nothing ('N/A', '-', 'null')."""
    return text.str.strip().isin(EMPTY_TOKENS)


# A number with optional currency (symbol or 3-letter code) before or after, thousands separators
# (, . space '), a sign or accounting parentheses, or a trailing %. Anything else (words, formulas) is not.
_NUMBER_TEXT = (r"\s*\(?\s*[-+]?\s*(?:US\$|\$|€|£|¥|[A-Z]{3})?\s*[-+]?\d[\d.,'\s\u00a0\u202f]*"
                r"\s*(?:€|£|\$|¥|[A-Z]{3}|%)?\s*\)?\s*")
_KEEP_NUMBER_CHARS = r"[^\d.,()+\-]"
MAX_NUMBER_TEXT = 64       # characters: no amount is written longer


_GROUPED_DOT = re.compile(r"[1-9]\d{0,2}(?:\.\d{3})+")
_GROUPED_COMMA = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+")
_SYMBOLS = ("US$", "$", "€", "£", "¥", "USD", "EUR", "GBP", "CHF", "JPY", "CAD", "AUD", "%", " ", "\u00a0", "\u202f", "'")
_STRINGS = np.dtypes.StringDType()


def parse_amount(text: pd.Series) -> Parsed:
    """Money and other numbers: '$1,200.50', '1.200,50 €', 'EUR 3 400', '(250)', '12%'.

    The decimal separator is decided per column from the values that show it unambiguously
    (',' followed by 1-2 digits at the end means a decimal comma), so '1.200' in a European column is
    1200 while '1.2' in a US column is 1.2. A cell that itself shows the other convention ('1.234,56' or
    '12,5' in a decimal-point column, '1,234.56' or '12.5' in a decimal-comma column) is read by its own
    convention and reported as a fallback with the reason, never rescaled silently. Formulas ('=A1*2')
    and words are not numbers: they become empty and are reported.

    Fast path, on whole columns: the symbols a sample of the column uses are removed from every cell with
    Arrow's compute functions (numpy's string functions for the rare cells that are not printable ASCII),
    the separators settled, and the rest converts in one go; only cells that still do not read as numbers go
    through the slower, stricter pattern check.
    """
    text = text.fillna("").astype(str)
    empty = text.isin(EMPTY_TOKENS)
    present = np.flatnonzero(~empty.to_numpy())
    picked = present[:: max(1, len(present) // 2000)][:2000]
    sample = [v for v in text.iloc[picked].tolist() if len(v) <= MAX_NUMBER_TEXT]
    stripped = [_ASCII_NOT_NUMBER.sub("", v) if v.isascii() else _strip_symbols(v) for v in sample]
    european = _decimal_comma(stripped)
    by_groups = not european and _thousands_dot(stripped)   # '1.250 €', '12.500 €': dots that group thousands
    european = european or by_groups
    joined = "\x00".join(sample)     # a symbol (no NUL in any) is in some cell exactly when it is in the joined cells
    symbols = [t for t in _SYMBOLS if t in joined]
    parens = any(v.lstrip().startswith("(") for v in sample)
    style = "decimal comma (1.234,56)" if european else "decimal point (1,234.56)"
    if by_groups:
        style = "thousands dot (1.250 = 1250: every dot is followed by three digits, and no value shows decimals)"
    plain, plain_values = _plain_amounts(text, "$" in symbols, european)
    if plain is None:
        return _read_amounts(text, empty, european, by_groups, symbols, parens, style)
    values = np.full(len(text), np.nan)
    values[plain] = plain_values
    invalid = np.zeros(len(text), dtype=bool)
    fallback = np.zeros(len(text), dtype=bool)
    why = np.full(len(text), None, dtype=object)
    rest = np.flatnonzero(~plain)
    if len(rest):    # every other cell as before: the rules are per cell once the column's convention is settled
        p = _read_amounts(text.iloc[rest], empty.iloc[rest], european, by_groups, symbols, parens, style)
        values[rest] = p.values.to_numpy()
        invalid[rest] = p.invalid.to_numpy()
        fallback[rest] = p.fallback.to_numpy()
        why[rest] = p.why.to_numpy()
    index = text.index
    return Parsed(pd.Series(values, index=index), pd.Series(invalid, index=index), pd.Series(fallback, index=index),
                  style, ambiguous=by_groups, why=pd.Series(why, index=index, dtype="object"))


# Amounts written the plain way of a column's convention: digits, grouped by threes or not, at most two decimals, a
# leading $ when the column uses it; at most 15 digits before the decimals (no overflow, nothing near MAX_AMOUNT's
# 1e15 read differently). For such a cell the rules of `_read_amounts` have nothing to say (it shows no other
# convention, no lone group of three after a dot, no symbol but the $): its number is the text without its $ and
# grouping marks, read by the same Arrow cast.
_PLAIN_POINT = r"^\$?(?:[0-9]{1,3}(?:,[0-9]{3}){1,4}|[0-9]{1,15})(?:\.[0-9]{1,2})?$"
_PLAIN_COMMA = r"^\$?(?:[0-9]{1,3}(?:\.[0-9]{3}){1,4}|[0-9]{1,15})(?:,[0-9]{1,2})?$"


def _plain_amounts(text: pd.Series, dollar: bool, european: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Which cells are plain amounts (see `_PLAIN_POINT`) and their numbers; (None, None) when the column cannot be
    held by Arrow (then every cell takes the general path)."""
    cells = arrow_cells(text)
    if cells is None:
        return None, None
    pattern = _PLAIN_COMMA if european else _PLAIN_POINT
    if not dollar:
        pattern = pattern.replace("^\\$?", "^")
    plain = pc.match_substring_regex(cells, pattern).fill_null(False)
    digits = cells if pc.all(plain).as_py() else pc.filter(cells, plain)     # (every cell plain: the column as it is)
    if dollar:
        digits = pc.replace_substring(digits, "$", "")
    digits = pc.replace_substring(digits, "." if european else ",", "")
    if european:
        digits = pc.replace_substring(digits, ",", ".")
    return plain.to_numpy(zero_copy_only=False), pc.cast(digits, pa.float64()).to_numpy(zero_copy_only=False)


def _read_amounts(text: pd.Series, empty: pd.Series, european: bool, by_groups: bool, symbols: list[str], parens: bool,
                  style: str) -> Parsed:
    """The cells of a column read by its convention (decided from the whole column: `european`, `by_groups`, the
    `symbols` and `parens` it uses), each by the rules of `parse_amount`."""
    columns = _ColumnText(text)
    numbers, other, group3 = columns.settle(symbols, european, parens)
    mismatch = pd.Series(other, index=text.index) & ~empty
    values = pd.Series(columns.to_float(numbers, empty.to_numpy() | mismatch.to_numpy()), index=text.index)
    values[empty | mismatch] = np.nan
    slow = values.isna() & ~empty & ~mismatch
    if slow.any():
        values[slow] = _strict_numbers(text[slow], european)
        empty = empty | (slow & is_empty(text.where(slow, "")))
    why = pd.Series(None, index=text.index, dtype="object")
    grouped = _false(text)
    if not european:    # '1.250' in a decimal-point column: 1.25 by the column's rule, but 1250 was perhaps meant
        grouped = pd.Series(group3, index=text.index) & ~empty & ~mismatch & values.notna()
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


_FLOAT_TEXT = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"   # what every float parser reads alike


class _ColumnText:
    """A column's cells split for the string work: the printable-ASCII cells (nearly all) as one Arrow array,
    worked on by Arrow's compute functions; the others (accents, other scripts, control characters) as a numpy
    string array, worked on as before. Cell for cell both give the same answers; Arrow's are many times faster."""

    def __init__(self, text: pd.Series):
        self.n = len(text)
        cells = arrow_cells(text)
        if cells is None:   # text UTF-8 cannot hold: numpy for every cell
            self.plain = np.zeros(self.n, dtype=bool)
        else:
            self.plain = pc.match_substring_regex(cells, r"^[ -~]*$").fill_null(False).to_numpy(zero_copy_only=False)
        self.fast = pc.filter(cells, pa.array(self.plain)) if cells is not None and self.plain.any() else None
        self.other = np.flatnonzero(~self.plain)
        self.slow = (np.asarray(text.to_numpy(dtype=object)[self.other], dtype=_STRINGS) if len(self.other)
                     else np.array([], dtype=_STRINGS))

    def settle(self, symbols: list[str], european: bool, parens: bool) -> tuple[tuple, np.ndarray, np.ndarray]:
        """Symbols removed and separators settled (the text to convert), plus per cell: shows the other decimal
        convention, and is one group of three digits after a dot ('1.250')."""
        other = np.zeros(self.n, dtype=bool)
        group3 = np.zeros(self.n, dtype=bool)
        fast = self.fast
        if fast is not None:
            for symbol in symbols:
                if symbol.isascii():
                    fast = pc.replace_substring(fast, symbol, "")
            other[self.plain] = _other_convention_arrow(fast, european)
            group3[self.plain] = _one_group_of_three_arrow(fast)
            fast = pc.replace_substring(fast, "." if european else ",", "")
            if european:
                fast = pc.replace_substring(fast, ",", ".")
            if parens:
                fast = pc.replace_substring(pc.replace_substring(fast, "(", "-"), ")", "")
        slow = self.slow
        if len(slow):
            for symbol in symbols:
                slow = np.strings.replace(slow, symbol, "")
            other[self.other] = _other_convention(slow, european)
            group3[self.other] = _one_group_of_three(slow)
            slow = np.strings.replace(slow, "." if european else ",", "")
            if european:
                slow = np.strings.replace(slow, ",", ".")
            if parens:
                slow = np.strings.replace(np.strings.replace(slow, "(", "-"), ")", "")
        return (fast, slow), other, group3

    def to_float(self, numbers: tuple, skip: np.ndarray) -> np.ndarray:
        """The settled text as numbers; `skip` cells are NaN. Cells written as plain decimals convert in Arrow; as
        before, if any other cell is not a float to numpy, the whole column is read by `pandas.to_numeric`."""
        fast, slow = numbers
        values = np.full(self.n, np.nan)
        rest_at, rest_text = [self.other], [slow]
        if fast is not None:
            where = np.flatnonzero(self.plain)
            strict = pc.match_substring_regex(fast, _FLOAT_TEXT).fill_null(False).to_numpy(zero_copy_only=False)
            strict &= ~skip[where]
            if strict.any():
                values[where[strict]] = pc.cast(pc.filter(fast, pa.array(strict)), pa.float64()).to_numpy(zero_copy_only=False)
            loose = ~strict & ~skip[where]
            if loose.any():
                rest_at.append(where[loose])
                rest_text.append(np.asarray(pc.filter(fast, pa.array(loose)).to_numpy(zero_copy_only=False), dtype=_STRINGS))
        at = np.concatenate(rest_at)
        cells = np.concatenate(rest_text) if len(at) else np.array([], dtype=_STRINGS)
        keep = ~skip[at]
        at, cells = at[keep], cells[keep]
        if not len(at):
            return values
        try:     # the cells numpy reads as floats (as every cell of the column did before)
            values[at] = cells.astype(np.float64)
        except ValueError:
            values[at] = pd.to_numeric(pd.Series(cells.astype(object)), errors="coerce").to_numpy(dtype="float64")
        return values


def _rfind(core: pa.Array, sep: str, length: np.ndarray) -> np.ndarray:
    """The last position of `sep` in each (ASCII) cell, -1 where absent."""
    first_from_end = pc.find_substring(pc.utf8_reverse(core), sep).to_numpy(zero_copy_only=False)
    return np.where(first_from_end < 0, -1, length - 1 - first_from_end)


def _other_convention_arrow(cells: pa.Array, european: bool) -> np.ndarray:
    """`_other_convention` for printable-ASCII cells, with Arrow."""
    core = pc.utf8_rtrim(cells, characters=")-+ ")
    length = pc.utf8_length(core).to_numpy(zero_copy_only=False)
    comma, point = _rfind(core, ",", length), _rfind(core, ".", length)
    if european:
        return (((point > comma) & np.isin(length - point - 1, (1, 2))) | ((comma >= 0) & (point > comma))
                | (pc.count_substring(core, ",").to_numpy(zero_copy_only=False) >= 2))
    return (((comma > point) & np.isin(length - comma - 1, (1, 2))) | ((point >= 0) & (comma > point))
            | (pc.count_substring(core, ".").to_numpy(zero_copy_only=False) >= 2))


def _one_group_of_three_arrow(cells: pa.Array) -> np.ndarray:
    """`_one_group_of_three` for printable-ASCII cells, with Arrow."""
    core = pc.utf8_trim(cells, characters="()-+ ")
    dot = pc.find_substring(core, ".").to_numpy(zero_copy_only=False)
    length = pc.utf8_length(core).to_numpy(zero_copy_only=False)
    return ((pc.count_substring(core, ".").to_numpy(zero_copy_only=False) == 1)
            & (pc.count_substring(core, ",").to_numpy(zero_copy_only=False) == 0) & (dot >= 1) & (dot <= 3)
            & (length - dot - 1 == 3) & ~pc.starts_with(core, "0").to_numpy(zero_copy_only=False))


def _thousands_dot(part: list[str]) -> bool:
    """Whether a sample without decimal evidence writes its dots as thousands separators: '1.250', '12.500.000'
    (every dot followed by exactly three digits) and never a comma-grouped value like '1,250'."""
    if any(_tail_after(v, sep) in (1, 2) or _last_two(v) for v in part for sep in ",."):
        return False    # some value shows its decimal mark: the column's convention is settled by that
    dots = sum(1 for v in part if _GROUPED_DOT.fullmatch(v))
    commas = sum(1 for v in part if _GROUPED_COMMA.fullmatch(v))
    return dots > 0 and commas == 0


def _one_group_of_three(cells: np.ndarray) -> np.ndarray:
    """Cells (symbols removed) like '1.250' or '999.000': one dot, 1-3 digits before it (not a leading 0), three after."""
    core = np.strings.strip(cells, "()-+ ")
    dot = np.strings.find(core, ".")
    return ((np.strings.count(core, ".") == 1) & (np.strings.count(core, ",") == 0) & (dot >= 1) & (dot <= 3)
            & (np.strings.str_len(core) - dot - 1 == 3) & ~np.strings.startswith(core, "0"))


_CURRENCY_IN_CELL = r"(US\$|\$|€|£|¥|\b[A-Z]{3}\b)"
_CURRENCY_RE2 = r"(?P<c>US\$|\$|€|£|¥|\b[A-Z]{3}\b)"    # the same, for printable-ASCII cells (no match: null)
_CURRENCY_SYMBOLS = {"US$": "USD", "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}


def currency_code(text: str) -> str | None:
    """A currency as its ISO code: 'usd ' -> 'USD', '€' -> 'EUR'; None for nothing."""
    text = text.strip()
    if not text:
        return None
    return _CURRENCY_SYMBOLS.get(text, text.upper())


def amount_currency(text: pd.Series) -> pd.Series:
    """The currency each amount cell names ('USD 1,200', '1.200 €', '¥150000'), as an ISO code; None where none.

    Plain amounts (digits and separators, perhaps after a $: nearly every cell of an export) are settled by one
    pattern match over the column; for the rest Arrow's RE2 finds the first currency in every printable-ASCII cell
    at once, and the other cells (where RE2's word boundaries would differ from Python's) go through `re` one
    distinct value at a time.
    """
    text = text.fillna("").astype(str)
    sample = text.iloc[:: max(1, len(text) // 2000)].iloc[:2000]
    if not sample.str.contains(r"[^\d.,\s()+\-'%]").any():   # plain numbers: no currency named in the cells
        return pd.Series(None, index=text.index, dtype="object")
    out = np.full(len(text), np.nan, dtype=object)    # missing as NaN, as `Series.map` leaves it
    todo = np.arange(len(text))
    cells = arrow_cells(text)
    if cells is not None:   # digits and separators, perhaps after a $: the $ is the first currency the pattern finds
        plain = pc.match_substring_regex(cells, r"^\$?[0-9][0-9,.]*$").fill_null(False).to_numpy(zero_copy_only=False)
        dollar = pc.starts_with(cells, "$").fill_null(False).to_numpy(zero_copy_only=False)
        out[plain & dollar] = "USD"
        todo = np.flatnonzero(~plain)
    if len(todo):
        out[todo] = _currencies(text.iloc[todo])
    found_any = pd.notna(out).any()
    if not found_any:     # as the distinct values' `map` gave it: None when no cell names a currency, else NaN
        out[:] = None
    return pd.Series(out, index=text.index, dtype="object")


def _currencies(text: pd.Series) -> np.ndarray:
    """The currency each cell names (NaN where none), by the pattern: Arrow's RE2 on printable-ASCII cells, `re` on
    the others one distinct value at a time."""
    out = np.full(len(text), np.nan, dtype=object)
    columns = _ColumnText(text)
    if columns.fast is not None:
        found = pc.struct_field(pc.extract_regex(columns.fast, _CURRENCY_RE2), "c").dictionary_encode()
        codes = found.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        names = [currency_code(c) for c in found.dictionary.to_pylist()]
        out[np.flatnonzero(columns.plain)] = np.array(names + [np.nan], dtype=object)[codes]
    if len(columns.other):
        rest = text.iloc[columns.other]
        codes, uniq = pd.factorize(rest)
        got = pd.Series(uniq, dtype="object").str.extract(_CURRENCY_IN_CELL, expand=False)
        table = np.array([currency_code(c) if isinstance(c, str) else np.nan for c in got] + [np.nan], dtype=object)
        out[columns.other] = table[codes]
    return out


def _other_convention(cells: np.ndarray, european: bool) -> np.ndarray:
    """Cells (symbols removed, separators kept) that show the other decimal convention than the column's.

    '12,5' and '1.234,56' show a decimal comma; '12.5' and '1,234.56' a decimal point; '1.234.567' dots as
    thousands (so a decimal comma) and '1,234,567' commas as thousands (a decimal point).
    """
    core = np.strings.rstrip(cells, ")-+ ")     # only what follows the last separator counts
    length = np.strings.str_len(core)
    comma, point = np.strings.rfind(core, ","), np.strings.rfind(core, ".")
    if european:   # decimal-comma column: a point shows itself as the decimal mark
        return (((point > comma) & np.isin(length - point - 1, (1, 2))) | ((comma >= 0) & (point > comma))
                | (np.strings.count(core, ",") >= 2))
    return (((comma > point) & np.isin(length - comma - 1, (1, 2))) | ((point >= 0) & (comma > point))
            | (np.strings.count(core, ".") >= 2))


_ASCII_NOT_NUMBER = re.compile(r"[^0-9,.]")    # `_strip_symbols` for ASCII text: its only digits are 0-9


def _strip_symbols(v: str) -> str:
    return "".join(ch for ch in v if ch.isdigit() or ch in ",.")


def _strict_numbers(s: pd.Series, european: bool) -> pd.Series:
    """Cells the fast path could not read: numbers only if the whole cell looks like one.

    A cell longer than `MAX_NUMBER_TEXT` is no number (a shifted row, a notes field): it is not searched, so
    the pattern's cost never grows with a long cell's length.
    """
    shaped = s.str.len().le(MAX_NUMBER_TEXT) & s.where(s.str.len().le(MAX_NUMBER_TEXT), "").str.fullmatch(_NUMBER_TEXT)
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


def parse_text(text: pd.Series) -> pd.Series:
    """Trimmed text as an object column, None for empty cells.

    Columns that repeat their values (owners, stages, sources) are trimmed once per distinct value.
    """
    return parse_text_coded(text)[0]


def _sample(text: pd.Series) -> pd.Series:
    """Up to 1,000 of the column's cells, evenly spread."""
    return text.iloc[:: max(1, len(text) // 1000)].iloc[:1000]


def read_per_value(text: pd.Series) -> bool:
    """Whether `parse_text` reads this column once per distinct value (its values repeat: a sample holds fewer than
    half as many distinct values as cells); code that reads such a column its own way must decide the same."""
    sample = _sample(text)
    return sample.nunique() < len(sample) // 2


def parse_text_coded(text: pd.Series) -> tuple[pd.Series, tuple[np.ndarray, np.ndarray] | None]:
    """`parse_text`, and for a column that repeats its values also what `pd.factorize` gives for the result (codes,
    the distinct values as an array), worked out from the distinct cells: a column of stage labels is then hashed
    once, not again by each step that groups its labels."""
    if read_per_value(text):
        codes, uniq = pd.factorize(text)
        trimmed = pd.Series(uniq, dtype="object").str.strip()
        values = trimmed.where(~trimmed.isin(EMPTY_TOKENS), None).to_numpy(dtype=object)
        table = np.append(values, None)
        return pd.Series(table[codes], index=text.index, dtype="object"), spread_codes(values, codes)
    if hasattr(text.array, "_pa_array"):    # text held in Arrow: trimmed there, each distinct value made a string once
        sample = _sample(text)
        return pd.Series(_trimmed_objects(text.array._pa_array, repeats=sample.nunique() < len(sample)),
                         index=text.index, dtype="object"), None
    trimmed = text.str.strip()
    return trimmed.astype("object").where(~trimmed.isin(EMPTY_TOKENS), None), None


def _trimmed_objects(cells: pa.ChunkedArray, repeats: bool) -> np.ndarray:
    """What `text.str.strip()` (Arrow's whitespace trim), then `.astype("object")` (NaN for a missing cell) and
    `.where(~trimmed.isin(EMPTY_TOKENS), None)` make of Arrow text, without pandas' passes over a million objects.
    With `repeats` (some values come back, as account names do), each distinct value becomes one Python string
    shared by its rows, through Arrow's dictionary encoding."""
    trimmed = pc.utf8_trim_whitespace(cells)
    tokens = pa.array(EMPTY_TOKENS, type=trimmed.type)
    if repeats:
        encoded = one_array(pc.dictionary_encode(trimmed))
        words = encoded.dictionary
        table = np.append(words.to_numpy(zero_copy_only=False).astype(object), np.nan)   # the last: a missing cell
        table[:-1][pc.is_in(words, value_set=tokens).fill_null(False).to_numpy(zero_copy_only=False)] = None
        return table[encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)]
    out = trimmed.to_numpy(zero_copy_only=False).astype(object, copy=False)
    if trimmed.null_count:
        out[pc.is_null(trimmed).to_numpy(zero_copy_only=False)] = np.nan
    out[pc.is_in(trimmed, value_set=tokens).fill_null(False).to_numpy(zero_copy_only=False)] = None
    return out


def spread_codes(table: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`pd.factorize` of the column `table[codes]` (code -1: missing), from the small `table` of objects: the distinct
    values come in the order they first appear in the column, which is the order of their first entry in `table`
    when the codes themselves number the cells in order of first appearance (as `pd.factorize` numbers them)."""
    inner, uniques = pd.factorize(np.asarray(table, dtype=object))
    return np.append(inner, -1)[codes], np.asarray(uniques, dtype=object)


def _false(like: pd.Series) -> pd.Series:
    return pd.Series(False, index=like.index)
