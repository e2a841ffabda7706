"""Incentive design in numbers: what awards cost and how often nobody wins, read from tables.

Two halves, both on tables only (so they run on a CRM export and on a simulated run alike):

* the programme's own tables (`incentives`, `incentive_effort`, written by `sim.policies.incentives`): awards
  decided and paid, the chance an award goes to nobody, effort per year and after a period with no winner,
  effort by where a rep stands, how many reps an award lifts, and how bookings spread over top, middle and
  bottom reps;
* an export's owners and closed-won amounts: each owner's attainment per period (quotas from a number, a
  mapping of owner to quota, or a column), and for any absolute bar a leader types in, the chance that anyone
  clears it, by bootstrap over the periods, with a figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..core import quota as quotas
from ..core.periods import Period, period_bounds
from ..core.schema import MissingColumns, require
from .plots import new_figure

QuotaSpec = float | Mapping[str, float] | str | None


# ---- the programme's tables ----------------------------------------------------------------------------
def _present(df: pd.DataFrame, columns: list[str], analysis: str) -> None:
    """Like `require`, for columns that may rightly be all empty (`winner` when nobody won anything)."""
    absent = [c for c in columns if c not in df.columns]
    if absent:
        raise MissingColumns(analysis, absent)


def award_summary(incentives: pd.DataFrame) -> pd.DataFrame:
    """Per rule: award decisions, how many went to nobody, that share, winners and the total paid."""
    require(incentives, ["period", "rule", "payout"], "award summary")
    _present(incentives, ["winner"], "award summary")
    key = ["rule", "period"] + (["category"] if "category" in incentives else [])
    decided = incentives.groupby(key, dropna=False, sort=False).agg(
        nobody=("winner", lambda w: bool(w.isna().all())), winners=("winner", "count"), payout=("payout", "sum"))
    out = decided.groupby(level="rule", sort=False).agg(
        decisions=("nobody", "size"), no_winner=("nobody", "sum"), winners=("winners", "sum"), payout=("payout", "sum"))
    out["no_winner_share"] = out["no_winner"] / out["decisions"]
    return out


def year_of(labels: pd.Series) -> pd.Series:
    """The calendar year (as text) of period labels such as 2026, 2026-Q1 or 2026-01."""
    return labels.astype(str).str[:4]


def by_year(opportunities: pd.DataFrame, effort: pd.DataFrame, incentives: pd.DataFrame) -> pd.DataFrame:
    """Per calendar year: bookings (won amount closed in it), mean effort over reps and months, award
    decisions, decisions with no winner, and payout."""
    require(opportunities, ["outcome", "amount", "closed_at"], "incentives by year")
    require(effort, ["period", "effort"], "incentives by year")
    won = opportunities[opportunities["outcome"].eq("won") & opportunities["closed_at"].notna()]
    bookings = won.groupby(won["closed_at"].dt.year.astype(str))["amount"].sum()
    out = pd.DataFrame({"bookings": bookings, "effort": effort.groupby(year_of(effort["period"]))["effort"].mean()})
    if len(incentives):
        decided = incentives.groupby(["rule", "period", "category"], dropna=False, sort=False).agg(
            nobody=("winner", lambda w: bool(w.isna().all())), payout=("payout", "sum")).reset_index()
        years = year_of(decided["period"])
        out["decisions"] = decided.groupby(years).size()
        out["no_winner"] = decided.groupby(years)["nobody"].sum()
        out["payout"] = decided.groupby(years)["payout"].sum()
    for col in ("decisions", "no_winner", "payout"):
        out[col] = out[col].fillna(0.0) if col in out else 0.0
    out.index.name = "year"
    return out.fillna({"bookings": 0.0})


def effort_after(incentives: pd.DataFrame, effort: pd.DataFrame) -> pd.DataFrame:
    """For each award decided: was it given to nobody, and the team's mean effort over the next period of the
    same length (the year after a yearly award). Periods whose next period is not in the effort table drop out."""
    require(incentives, ["period", "rule"], "effort after an award")
    _present(incentives, ["winner"], "effort after an award")
    require(effort, ["period", "effort"], "effort after an award")
    decided = incentives.groupby(["rule", "period"], sort=False)["winner"].apply(lambda w: bool(w.isna().all()))
    months = pd.PeriodIndex(effort["period"], freq="M").to_timestamp()
    last = months.max()
    rows = []
    for (rule, period), nobody in decided.items():
        start, end = period_bounds(period)
        following = end + (end - start)
        if following - pd.Timedelta(days=1) > last + pd.offsets.MonthEnd(0):
            continue
        inside = (months >= end) & (months < following)
        rows.append({"rule": rule, "period": period, "no_winner": nobody,
                     "effort_next": float(effort.loc[inside, "effort"].mean())})
    return pd.DataFrame(rows, columns=["rule", "period", "no_winner", "effort_next"])


def effort_by_standing(effort: pd.DataFrame, near: int = 2, column: str = "effort") -> dict[str, float]:
    """Mean `column` of rep-months by where the rep stood at the month's start (rank by bookings so far this
    year): the leader (rank 1), near the lead (ranks 1 to `near`) and far behind (the bottom half of the team).
    Months without a rank (January) are left out."""
    require(effort, ["period", "owner", "rank", column], "effort by standing")
    ranked = effort.dropna(subset=["rank"])
    team = ranked.groupby("period")["owner"].transform("size")
    rank = ranked["rank"]
    return {"leader": float(ranked.loc[rank == 1, column].mean()),
            "near": float(ranked.loc[rank <= near, column].mean()),
            "far": float(ranked.loc[rank > team / 2, column].mean())}


def reps_lifted(effort: pd.DataFrame, by: float = 0.05) -> float:
    """How many reps the awards lift in a typical month: the number of reps whose effort from prizes is at
    least `by` that month (0.05 = 5% faster), averaged over the months."""
    require(effort, ["period", "owner", "from_prizes"], "reps lifted")
    if effort.empty:
        return 0.0
    return float((effort["from_prizes"] >= by).groupby(effort["period"]).sum().mean())


def bookings_by_tercile(attainment: pd.DataFrame) -> dict[str, float]:
    """Bookings of the top, middle and bottom third of reps (ranked by their own bookings in the table)."""
    require(attainment, ["owner", "bookings"], "bookings by tercile")
    ranked = attainment.groupby("owner")["bookings"].sum().sort_values(ascending=False).to_numpy()
    parts = np.array_split(ranked, 3)
    return {name: float(part.sum()) for name, part in zip(("top", "middle", "bottom"), parts)}


def period_end_share(opportunities: pd.DataFrame, years: Sequence[str] | None = None, days: int = 14) -> float:
    """Share of won bookings that closed in the last `days` days of a calendar quarter (of `years`, if given):
    about 15% with 14 days when closes are spread evenly; more when deals are timed to quarter ends (Oyer 1998)."""
    require(opportunities, ["outcome", "amount", "closed_at"], "bookings at quarter ends")
    won = opportunities[opportunities["outcome"].eq("won") & opportunities["closed_at"].notna()]
    if years is not None:
        won = won[won["closed_at"].dt.year.astype(str).isin(list(years))]
    if won.empty or won["amount"].sum() <= 0:
        return np.nan
    quarter_end = won["closed_at"].dt.to_period("Q").dt.end_time.dt.normalize()
    late = (quarter_end - won["closed_at"].dt.normalize()).dt.days < days
    return float(won.loc[late, "amount"].sum() / won["amount"].sum())


def ratio_ci(numerator, denominator, n_boot: int = 4000, seed: int = 0,
             confidence: float = 0.95) -> tuple[float, float, float]:
    """mean(numerator) / mean(denominator) with a paired percentile bootstrap interval over replications.

    Used for cost per extra booked unit (payout / bookings uplift). When the denominator's own interval
    reaches zero the ratio is unbounded, and NaN is returned for the interval rather than a misleading range.
    """
    a, b = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(f"ratio_ci needs two paired samples of the same length >= 2, got {len(a)} and {len(b)}")
    point = a.mean() / b.mean() if b.mean() != 0 else np.nan
    idx = np.random.default_rng(seed).integers(0, len(a), size=(n_boot, len(a)))
    denoms = b[idx].mean(axis=1)
    lo_q, hi_q = np.quantile(denoms, [(1 - confidence) / 2, (1 + confidence) / 2])
    if lo_q <= 0 <= hi_q:
        return (float(point), np.nan, np.nan)
    ratios = a[idx].mean(axis=1) / denoms
    lo, hi = np.quantile(ratios, [(1 - confidence) / 2, (1 + confidence) / 2])
    return (float(point), float(lo), float(hi))


# ---- the export half -----------------------------------------------------------------------------------
def owner_attainment(opportunities: pd.DataFrame, quota: QuotaSpec = None, period: Period = "quarter") -> pd.DataFrame:
    """Each owner's quota, bookings and attainment per period, over the span of the export's closes.

    `quota` is each owner's yearly quota: a number (the same for everyone), a mapping of owner to quota, the
    name of a column holding each owner's yearly quota (one value per owner), or None for "what the average
    owner booked per year" (attainment 1 = an average owner's pace). Periods run from the first won close to
    the last close; a period only partly covered carries that share of the quota.
    """
    require(opportunities, ["owner", "outcome", "amount", "closed_at"], "attainment per owner")
    opp = opportunities
    won = opp[opp["outcome"].eq("won") & opp["closed_at"].notna()]
    if won.empty:
        raise ValueError("no won deal with a close date in the data: attainment needs closed-won amounts")
    start = won["closed_at"].min().normalize()
    end = opp["closed_at"].max().normalize() + pd.Timedelta(days=1)
    owners = sorted(opp["owner"].dropna().unique())
    per_owner = _quotas(opp, owners, quota, float(won["amount"].sum()), (end - start).days / 365.25)
    table = quotas.attainment(opp, 1.0, period, start=start, end=end)
    table["quota"] = table["quota"] * table["owner"].map(per_owner)
    table["attainment"] = table["bookings"] / table["quota"]
    return table


def quota_spec(opportunities: pd.DataFrame, quota: QuotaSpec = None) -> QuotaSpec:
    """The quota `owner_attainment` should judge by: `quota` when given, else the export's own ``quota`` column
    (each owner's yearly quota, e.g. Salesforce's ``Owner Annual Quota``) when it holds any value, else None
    (the average owner's pace)."""
    if quota is not None:
        return quota
    if "quota" in opportunities and opportunities["quota"].notna().any():
        return "quota"
    return None


def _quotas(opp: pd.DataFrame, owners: list[str], quota: QuotaSpec, booked: float, years: float) -> dict[str, float]:
    """Each owner's yearly quota from a number, a mapping, a column, or the average owner's pace."""
    if quota is None:
        return dict.fromkeys(owners, booked / len(owners) / years)
    if isinstance(quota, str):
        if quota not in opp.columns:
            raise ValueError(f"quota column {quota!r} is not in the data (columns: {', '.join(map(str, opp.columns))})")
        values = pd.to_numeric(opp[quota], errors="coerce").groupby(opp["owner"]).agg(["min", "max"])
        for owner, row in values.iterrows():
            if not row["min"] == row["max"]:
                raise ValueError(f"quota column {quota!r}: owner {owner!r} has "
                                 + ("no numeric quota" if pd.isna(row["min"]) else f"several quotas ({row['min']:,.0f} to {row['max']:,.0f})")
                                 + "; give one yearly quota per owner")
        quota = values["min"].to_dict()
    if isinstance(quota, Mapping):
        missing = [o for o in owners if o not in quota]
        if missing:
            raise ValueError(f"quota mapping has no quota for owner(s) {', '.join(map(repr, missing[:10]))}"
                             + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""))
        bad = [o for o in owners if not (isinstance(quota[o], (int, float)) and np.isfinite(quota[o]) and quota[o] > 0)]
        if bad:
            raise ValueError(f"quota for owner {bad[0]!r} is {quota[bad[0]]!r}; a quota must be a positive amount")
        return {o: float(quota[o]) for o in owners}
    if not (isinstance(quota, (int, float)) and np.isfinite(quota) and quota > 0):
        raise ValueError(f"quota: {quota!r} is not allowed, must be a positive yearly amount, a mapping of owner to "
                         "quota, a column name, or None")
    return dict.fromkeys(owners, float(quota))


def attainment_spread(attainment: pd.DataFrame) -> pd.DataFrame:
    """Per owner: periods, median, lowest and highest attainment, and attainment over the whole span."""
    require(attainment, ["owner", "period", "quota", "bookings", "attainment"], "attainment spread")
    g = attainment.groupby("owner")
    out = pd.DataFrame({"periods": g.size(), "median": g["attainment"].median(), "lowest": g["attainment"].min(),
                        "highest": g["attainment"].max(), "overall": g["bookings"].sum() / g["quota"].sum()})
    return out.sort_values("overall", ascending=False)


def _matrix(attainment: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Bookings and quota as (owner, period) arrays, and the period labels."""
    require(attainment, ["owner", "period", "quota", "bookings"], "chance anyone clears a bar")
    booked = attainment.pivot_table(index="owner", columns="period", values="bookings", aggfunc="sum", fill_value=0.0)
    quota = attainment.pivot_table(index="owner", columns="period", values="quota", aggfunc="sum", fill_value=0.0)
    return booked.to_numpy(), quota.reindex_like(booked).to_numpy(), list(booked.columns)


def _clears(booked: np.ndarray, quota: np.ndarray, bars: np.ndarray, who: str) -> np.ndarray:
    """For award periods given as (owner, draw) sums: does anyone (or the top by bookings) clear each bar?"""
    with np.errstate(invalid="ignore", divide="ignore"):
        att = np.where(quota > 0, booked / quota, 0.0)                      # (owner, draw)
    if who == "anyone":
        best = att.max(axis=0)
    else:
        best = att[booked.argmax(axis=0), np.arange(att.shape[1])]
    return best[None, :] >= bars[:, None]                                  # (bar, draw)


def clear_chances(attainment: pd.DataFrame, bars: Sequence[float], periods_per_award: int = 1, who: str = "anyone",
                  n_boot: int = 1000, draws: int = 400, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """For each bar (attainment, e.g. 1.3 = 130% of quota): the chance that anyone (`who="anyone"`), or the
    rep with the most bookings (`who="top"`, the Porsche rule), clears it in an award period, with a bootstrap
    interval over the periods.

    An award period is `periods_per_award` of the table's periods (4 quarters = a year): it is built by drawing
    that many periods with replacement and summing each owner's bookings and quotas over them (the team's
    periods are drawn together, so a good or bad period for everyone stays one). With 1, the chance is simply
    the share of periods in which someone cleared the bar. The interval resamples the periods themselves.
    Periods are treated as independent: a rep's streaks from one period to the next are not kept.
    """
    if who not in ("anyone", "top"):
        raise ValueError(f"who: {who!r} is not allowed, must be 'anyone' or 'top'")
    if not isinstance(periods_per_award, (int, np.integer)) or periods_per_award < 1:
        raise ValueError(f"periods_per_award: {periods_per_award!r} is not allowed, must be a whole number >= 1")
    booked, quota, labels = _matrix(attainment)
    if len(labels) < 2:
        raise ValueError(f"the data has {len(labels)} period(s); a bootstrap over periods needs at least 2")
    bars = np.asarray(bars, dtype=float)
    rng = np.random.default_rng(seed)
    n = len(labels)

    def chance(periods: np.ndarray, k_draws: int) -> np.ndarray:
        if periods_per_award == 1:
            return _clears(booked[:, periods], quota[:, periods], bars, who).mean(axis=1)
        pick = periods[rng.integers(0, len(periods), size=(k_draws, periods_per_award))]
        return _clears(booked[:, pick].sum(axis=2), quota[:, pick].sum(axis=2), bars, who).mean(axis=1)

    point = chance(np.arange(n), 20 * draws)
    boots = np.array([chance(rng.integers(0, n, size=n), draws) for _ in range(n_boot)])
    lo, hi = np.quantile(boots, [(1 - confidence) / 2, (1 + confidence) / 2], axis=0)
    return pd.DataFrame({"bar": bars, "chance": point, "ci_low": lo, "ci_high": hi, "periods": n})


def chance_anyone_clears(attainment: pd.DataFrame, bar: float, **kwargs) -> dict[str, float]:
    """`clear_chances` for one bar: {'chance', 'ci_low', 'ci_high', 'periods'}."""
    row = clear_chances(attainment, [bar], **kwargs).iloc[0]
    return {k: float(row[k]) for k in ("chance", "ci_low", "ci_high", "periods")}


def attainment_figure(attainment: pd.DataFrame, curve: pd.DataFrame, bar: float, period_name: str = "period",
                      top_curve: pd.DataFrame | None = None):
    """Left: each owner's attainment per period (one dot per period, owners sorted by overall attainment), the
    bar drawn across. Right: the chance that anyone clears a bar, against the bar, with its bootstrap band."""
    spread = attainment_spread(attainment)
    owners = list(spread.index)
    fig, (left, right) = new_figure(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1.5, 1]})
    pos = {o: i for i, o in enumerate(owners)}
    x = attainment["owner"].map(pos).to_numpy()
    left.scatter(x, attainment["attainment"] * 100, s=12, alpha=0.55, color="tab:blue", label=f"one {period_name}")
    left.scatter(range(len(owners)), spread["overall"] * 100, marker="_", s=160, color="black", label="whole span")
    left.axhline(bar * 100, color="tab:red", ls="--", label=f"bar {bar:.0%}")
    left.axhline(100, color="gray", lw=0.8, ls=":")
    left.set_xticks(range(len(owners)), owners, rotation=90, fontsize=7 if len(owners) > 15 else 8)
    left.set_xlabel("owner (sorted by attainment over the whole span)")
    left.set_ylabel(f"attainment per {period_name} [% of quota]")
    left.set_title(f"Attainment per owner and {period_name}")
    left.legend(fontsize=8, loc="upper right")
    left.grid(axis="y", alpha=0.3)
    right.plot(curve["bar"] * 100, curve["chance"] * 100, color="tab:blue", label="anyone clears it")
    right.fill_between(curve["bar"] * 100, curve["ci_low"] * 100, curve["ci_high"] * 100, color="tab:blue", alpha=0.2,
                       label="95% bootstrap interval")
    if top_curve is not None:
        right.plot(top_curve["bar"] * 100, top_curve["chance"] * 100, color="tab:orange", ls="-.",
                   label="the top by bookings clears it")
    right.axvline(bar * 100, color="tab:red", ls="--", label=f"your bar {bar:.0%}")
    right.set_xlabel(f"absolute bar [% of quota in one award {period_name}]")
    right.set_ylabel(f"chance someone wins [% of award {period_name}s]")
    right.set_ylim(-2, 102)
    right.set_title("How often an absolute bar has a winner")
    right.legend(fontsize=8, loc="lower left")
    right.grid(alpha=0.3)
    fig.tight_layout()
    return fig



def attainment_headline(spread: pd.DataFrame, clears: Mapping[str, float], bar: float, period: str = "quarter",
                        who: str = "anyone") -> str:
    """The data's side of the incentive rules in one sentence: how far apart owners' attainment sits over the
    whole span (an `attainment_spread`), and how often `who` cleared an absolute `bar` in one `period` (a
    `chance_anyone_clears` result, with its bootstrap interval) — a bar rarely cleared is an award with no winner."""
    top, low = spread["overall"].idxmax(), spread["overall"].idxmin()
    whom = "someone" if who == "anyone" else "the top seller"
    return (f"Over the whole span, attainment runs from {spread.loc[low, 'overall']:.0%} ({low}) to "
            f"{spread.loc[top, 'overall']:.0%} ({top}) of quota across {len(spread)} owners; {whom} cleared "
            f"{bar:.0%} of quota in {clears['chance']:.0%} of {period}s (95% interval {clears['ci_low']:.0%} to "
            f"{clears['ci_high']:.0%}, {clears['periods']:.0f} {period}s of data).")
