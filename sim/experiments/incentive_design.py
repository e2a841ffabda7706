"""Incentive design (principle 07): award rules run over several years, on common random numbers.

Every experiment here starts from a scenario (the notebook's `starting_scenario`), turns it into an
incentive world (`incentive_world`: a quota, a six-month warm-up so the team has a pipeline before the first
award year, then whole award years), and compares programmes (`programme`) replication by replication:
replication i of every programme meets the same leads, so differences are paired.

- `design`: the rule designer: no programme, your rules, and the relative version of your rules: chance of
  no winner, payout, bookings uplift against no programme, cost per extra booked unit, effort after a period
  with no winner, and how the gain spreads over top, middle and bottom reps.
- `after_no_award`: the year after an award nobody won (credibility), with its ablation (credibility off).
- `categories_vs_one`: several relative categories against one top award of the same total size, with its
  ablation (reps who respond to a prize whatever their chance).
- `standings_split`: standings shown weekly against never, for reps near the lead and far behind, with its
  ablation (the same flat response).
- `timing_cost`: deals pulled into the quota period at a discount (Oyer 1998; Larkin 2014).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..analysis import incentives as inc
from ..core.stats import mean_ci, paired_diff_ci, wilson_ci
from ..policies.incentives import IncentivePolicy, AwardRule
from ..scenario import Scenario
from .replicate import replicate_each, summarise
from .simulate import SimResult

FLAT = ((0.0, 0.6), (1.0, 0.6))   # ablation: a rep responds to a prize the same whatever their chance


# ---- scenarios ------------------------------------------------------------------------------------------
def incentive_world(scenario: Scenario, years: int = 3, quota: float | None = None, warmup_days: int = 184,
                    quota_period: str = "quarter", patience_days: float | None = 60.0) -> Scenario:
    """`scenario` run for `years` whole calendar years from its start year, after a warm-up of `warmup_days`
    (a new team starts with an empty pipeline; the warm-up fills it before the first award year).

    `quota`: each rep's yearly quota (None keeps the scenario's; a quota is needed, since effort responds to it).
    `patience_days`: buyers kept waiting for their rep go elsewhere (see `Market.patience_days`); without it a
    buyer waits forever, and a rep's extra effort only moves closes earlier instead of winning more.
    No programme runs yet; add one with `programme` or `no_programme`.
    """
    if not isinstance(years, (int, np.integer)) or not 1 <= years <= 9:
        raise ValueError(f"years: {years!r} is not allowed, must be a whole number from 1 to 9")
    if quota is None and scenario.reps.quota is None:
        raise ValueError("incentive_world needs a quota: give quota=<yearly quota per rep> (the scenario has none)")
    first = dt.date(scenario.start.year, 1, 1) if scenario.start.month == 1 and scenario.start.day == 1 \
        else dt.date(scenario.start.year + 1, 1, 1)
    start = first - dt.timedelta(days=warmup_days)
    end = dt.date(first.year + years, 1, 1)
    return scenario.replace({"start": start, "days": (end - start).days,
                             "reps.quota": quota if quota is not None else scenario.reps.quota,
                             "reps.quota_period": quota_period, "policies.incentives": None,
                             "market.patience_days": patience_days})


def award_years(scenario: Scenario) -> list[str]:
    """The whole calendar years a scenario runs (the years awards are decided and measured in)."""
    end = scenario.end
    first = scenario.start.year + (0 if (scenario.start.month, scenario.start.day) == (1, 1) else 1)
    return [str(y) for y in range(first, end.year + 1) if dt.date(y + 1, 1, 1) <= end]


def programme(world: Scenario, rules: Sequence[AwardRule | Mapping[str, Any]], standings: str = "monthly",
              **settings: Any) -> Scenario:
    """`world` running these award rules together, with standings shown `standings`; other policy settings
    (territories, response, credibility, timing) as keyword arguments. Rules without a start date start in
    the first award year (not during the warm-up)."""
    first = dt.date(int(award_years(world)[0]), 1, 1)
    plain = [r.model_dump() if isinstance(r, AwardRule) else dict(r) for r in rules]
    for r in plain:
        r.setdefault("start", None)
        if r["start"] is None:
            r["start"] = first
    return world.replace({"policies.incentives": {"rules": plain, "standings": standings, **settings}})


def no_programme(world: Scenario, **settings: Any) -> Scenario:
    """`world` with no award: reps still respond to their quota (the fair baseline for an award's uplift)."""
    return programme(world, [], "never", **settings)


def relative_version(rule: AwardRule | Mapping[str, Any]) -> dict[str, Any]:
    """The same award made relative: the same winners (1 if the rule paid everyone over its bar), the same
    size and period, and no bar, so someone always wins."""
    plain = rule.model_dump() if isinstance(rule, AwardRule) else dict(rule)
    if plain.get("kind") != "absolute":
        return plain
    return {**plain, "kind": "relative", "over_quota": None, "winners": plain.get("winners") or 1,
            "name": f"{plain['name']} (relative)"}


def flat_response(scenario: Scenario) -> Scenario:
    """Ablation: reps respond to a prize the same whatever their chance of winning it (a flat prize curve)."""
    return scenario.replace({"policies.incentives.response.prize_curve": FLAT})


def without_credibility(scenario: Scenario) -> Scenario:
    """Ablation: an award given to nobody does no damage (credibility never drops)."""
    return scenario.replace({"policies.incentives.credibility.drop": 0.0})


# ---- measures (module level, so process pools can pickle them) -----------------------------------------
def measure(result: SimResult) -> dict[str, float]:
    """Per award year and over all award years: bookings, effort, payout, awards decided and given to nobody;
    effort near the lead and far behind; reps the awards lift; bookings of top, middle and bottom reps; and the
    setting a reader needs when an award never paid: the highest absolute bar (attainment), quota and reps."""
    tables, years = result.tables, award_years(result.scenario)
    effort = tables.incentive_effort
    effort = effort[inc.year_of(effort["period"]).isin(years)]
    per_year = inc.by_year(tables.opportunities, effort, tables.incentives).reindex(years).fillna(0.0)
    out: dict[str, float] = {}
    for year, row in per_year.iterrows():
        for col in ("bookings", "effort", "payout", "decisions", "no_winner"):
            out[f"{col} {year}"] = float(row[col])
    out["bookings"] = float(per_year["bookings"].mean())
    out["effort"] = float(per_year["effort"].mean())
    out["payout"] = float(per_year["payout"].mean())
    out["decisions"] = float(per_year["decisions"].sum())
    out["no_winner"] = float(per_year["no_winner"].sum())
    out["no_winner_share"] = out["no_winner"] / out["decisions"] if out["decisions"] else np.nan
    for col in ("effort", "from_prizes"):
        for where, value in inc.effort_by_standing(effort, column=col).items():
            out[f"{col} {where}"] = value
    out["reps_lifted"] = float(inc.reps_lifted(effort))
    att = tables.attainment
    att = att[inc.year_of(att["period"]).isin(years)]
    for name, value in inc.bookings_by_tercile(att).items():
        out[f"bookings {name} third"] = value / len(years)
    after = inc.effort_after(tables.incentives, tables.incentive_effort) if len(tables.incentives) else None
    for label, nobody in (("effort after no award", True), ("effort after an award", False)):
        picked = after.loc[after["no_winner"] == nobody, "effort_next"] if after is not None else pd.Series(dtype=float)
        out[label] = float(picked.mean()) if len(picked) else np.nan
    bars = tables.incentives["bar"].dropna() if len(tables.incentives) else pd.Series(dtype=float)
    out["bar"] = float(bars.max()) if len(bars) else np.nan          # the highest absolute bar, as attainment
    out["quota"] = float(result.scenario.reps.quota) if result.scenario.reps.quota is not None else np.nan
    out["reps"] = float(result.scenario.reps.count)
    out["quarter_end_share"] = inc.period_end_share(tables.opportunities, years)
    out["pulled_in_deals"] = result.metrics.get("pulled_in_deals", 0.0) / len(years)
    out["timing_discount"] = result.metrics.get("timing_discount", 0.0) / len(years)
    return out


# ---- the rule designer -------------------------------------------------------------------------------------
def design(world: Scenario, rules: Sequence[AwardRule | Mapping[str, Any]], standings: str = "monthly", n: int = 8,
           seed: int = 0, compare_relative: bool = True, settings: Mapping[str, Any] | None = None,
           **kwargs) -> pd.DataFrame:
    """Replicate no programme, your rules, and (with `compare_relative`, when a rule is absolute) the relative
    version of your rules; one row per (programme, replication) with `measure`'s numbers. `settings`: other
    policy settings for every programme (e.g. ``{"territories": 3}``); `kwargs` go to `replicate_each`."""
    settings = dict(settings or {})
    arms = {"no programme": no_programme(world, **settings), "your rules": programme(world, rules, standings, **settings)}
    relative = [relative_version(r) for r in rules]
    if compare_relative and relative != [r.model_dump() if isinstance(r, AwardRule) else dict(r) for r in rules]:
        arms["relative version"] = programme(world, relative, standings, **settings)
    return replicate_each(arms, n, seed, measure=measure, **kwargs)


def design_summary(runs: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per programme, per award year on average: chance an award goes to nobody (Wilson interval over all the
    awards decided, counted as independent), payout (t interval, floored at 0), bookings and their uplift against
    no programme (paired), cost per extra booked unit (paired bootstrap; no interval when the uplift's own
    interval reaches zero), effort, and effort in the year after an award given to nobody or to someone; with
    the awards decided and the runs' bar, quota and team size (`measure`)."""
    base = runs[runs["scenario"] == "no programme"].sort_values("replication")
    rows = []
    for name, group in runs.groupby("scenario", sort=False):
        group = group.sort_values("replication")
        decided, missed = group["decisions"].sum(), group["no_winner"].sum()
        lo, hi = wilson_ci(missed, decided) if decided else (np.nan, np.nan)
        uplift = group["bookings"].to_numpy() - base["bookings"].to_numpy()
        row = {"programme": name, "no_winner": missed / decided if decided else np.nan,
               "no_winner_low": float(lo), "no_winner_high": float(hi), "decided": float(decided)}
        for col in ("bar", "quota", "reps"):      # what a headline says when an award never paid
            row[col] = float(group[col].mean()) if col in group and group[col].notna().any() else np.nan
        for metric in ("payout", "bookings", "effort"):
            row[metric], row[f"{metric}_low"], row[f"{metric}_high"] = mean_ci(group[metric])
        row["payout_low"] = max(row["payout_low"], 0.0)      # a t interval on 0-or-prize payouts can dip below 0
        row["uplift"], row["uplift_low"], row["uplift_high"] = paired_diff_ci(group["bookings"], base["bookings"])
        for label in ("effort after no award", "effort after an award"):
            row[label], row[f"{label} low"], row[f"{label} high"] = mean_ci(group[label])
        if name != "no programme":
            row["cost_per_extra"], row["cost_low"], row["cost_high"] = inc.ratio_ci(group["payout"], uplift, seed=seed)
            if row["uplift_low"] <= 0 <= row["uplift_high"]:     # uplift not shown: the ratio has no interval
                row["cost_low"] = row["cost_high"] = np.nan
        else:
            row["cost_per_extra"] = row["cost_low"] = row["cost_high"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("programme")


def spread_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Bookings a year of the top, middle and bottom third of reps per programme, and the paired difference
    to no programme with its 95% interval (thirds ranked within each run)."""
    rows = []
    base = runs[runs["scenario"] == "no programme"].sort_values("replication")
    for name, group in runs.groupby("scenario", sort=False):
        group = group.sort_values("replication")
        for third in ("top", "middle", "bottom"):
            col = f"bookings {third} third"
            diff, lo, hi = paired_diff_ci(group[col], base[col])
            rows.append({"programme": name, "third": third, "bookings": group[col].mean(),
                         "diff": diff, "diff_low": lo, "diff_high": hi})
    return pd.DataFrame(rows)


def yearly(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean and 95% CI of `<metric> <year>` per programme and award year."""
    rows = []
    cols = sorted(c for c in runs.columns if c.startswith(metric + " ") and c[len(metric) + 1:].isdigit())
    for name, group in runs.groupby("scenario", sort=False):
        for col in cols:
            mean, lo, hi = mean_ci(group[col])
            rows.append({"programme": name, "year": col[len(metric) + 1:], "mean": mean, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


# ---- the claims -------------------------------------------------------------------------------------------
def porsche_then_trophy(world: Scenario, over_quota: float = 0.8, award: float = 50_000.0,
                        standings: str = "monthly") -> dict[str, Scenario]:
    """The story of the source, and its ablation. "absolute bar first": in the first award year the top seller
    wins only if at least `over_quota` above quota (the Porsche), and a relative award runs every year after.
    "relative from the start": the relative award every year. "absolute bar first, credibility off": the
    first, where an award given to nobody does no damage. After the first year all three run the same rule,
    so any gap there is the first year's legacy: lower effort carried in the pipeline, and lost credibility."""
    years = award_years(world)
    if len(years) < 2:
        raise ValueError("porsche_then_trophy needs a world of at least two award years (incentive_world(years=2))")
    second = dt.date(int(years[0]) + 1, 1, 1)
    trophy = {"name": "Top seller", "kind": "relative", "award": award}
    porsche = {"name": "Porsche", "kind": "absolute", "award": award, "over_quota": over_quota, "end": second}
    bar_first = programme(world, [porsche, {**trophy, "start": second}], standings)
    return {"relative from the start": programme(world, [trophy], standings),
            "absolute bar first": bar_first,
            "absolute bar first, credibility off": without_credibility(bar_first)}


def after_no_award(world: Scenario, over_quota: float = 0.8, award: float = 50_000.0, n: int = 10, seed: int = 0,
                   **kwargs) -> pd.DataFrame:
    """`porsche_then_trophy`, replicated on common random numbers; one row per (programme, replication)."""
    return replicate_each(porsche_then_trophy(world, over_quota, award), n, seed, measure=measure, **kwargs)


ABSOLUTE, RELATIVE, NO_CREDIBILITY = "absolute bar first", "relative from the start", "absolute bar first, credibility off"


def year_after(runs: pd.DataFrame) -> pd.DataFrame:
    """From `after_no_award` runs, per award year and metric (effort, bookings): the gap of the absolute bar to
    the relative rule, the same with credibility off (the ablation), and the part credibility explains (absolute
    with minus without credibility), each paired with its 95% interval. Rows 'after' sum the years after the
    bar year. `attrs['no_winner_first_year']`: the bar year's chance of no winner (Wilson interval)."""
    years = sorted({c.split()[-1] for c in runs.columns if c.startswith("effort ") and c.split()[-1].isdigit()})
    arm = {name: g.sort_values("replication") for name, g in runs.groupby("scenario")}
    a, r, o = arm[ABSOLUTE], arm[RELATIVE], arm[NO_CREDIBILITY]
    rows = []
    for year in [*years, "after"]:
        for metric in ("effort", "bookings"):
            if year == "after":
                if metric == "effort":
                    continue
                value = {k: v[[f"bookings {y}" for y in years[1:]]].sum(axis=1).to_numpy() for k, v in arm.items()}
            else:
                value = {k: v[f"{metric} {year}"].to_numpy() for k, v in arm.items()}
            row = {"year": year, "metric": metric}
            for label, (x, y) in {"bar": (ABSOLUTE, RELATIVE), "ablation": (NO_CREDIBILITY, RELATIVE),
                                  "credibility": (ABSOLUTE, NO_CREDIBILITY)}.items():
                row[label], row[f"{label}_low"], row[f"{label}_high"] = paired_diff_ci(value[x], value[y])
            rows.append(row)
    missed, decided = a[f"no_winner {years[0]}"].sum(), a[f"decisions {years[0]}"].sum()
    lo, hi = wilson_ci(missed, decided)
    out = pd.DataFrame(rows)
    out.attrs["no_winner_first_year"] = (float(missed / decided), float(lo), float(hi))
    out.attrs["relative_no_winner"] = float(r["no_winner"].sum())
    return out


def categories_vs_one(world: Scenario, total: float = 60_000.0, territories: int = 3, n: int = 8, seed: int = 0,
                      standings: str = "monthly", **kwargs) -> pd.DataFrame:
    """One top award of `total` a year against a relative award in each of `territories` territories of
    total / territories each (the same total), and both again with a flat response (the ablation: reps respond
    to a prize whatever their chance)."""
    one = programme(world, [{"name": "Top seller", "kind": "relative", "award": total}], standings, territories=territories)
    cats = programme(world, [{"name": "Territory trophy", "kind": "categories", "by": "territory",
                              "award": total / territories}], standings, territories=territories)
    arms = {"one top award": one, "territory categories": cats,
            "one top award, flat response": flat_response(one), "territory categories, flat response": flat_response(cats)}
    return replicate_each(arms, n, seed, measure=measure, **kwargs)


def categories_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Reps lifted a month, effort and bookings: categories minus one top award (paired), with and without the
    response to chances."""
    rows = []
    for label, a, b in (("reps respond to their chance", "territory categories", "one top award"),
                        ("flat response (ablation)", "territory categories, flat response", "one top award, flat response")):
        x = runs[runs["scenario"] == a].sort_values("replication")
        y = runs[runs["scenario"] == b].sort_values("replication")
        for metric in ("reps_lifted", "effort", "bookings"):
            diff, lo, hi = paired_diff_ci(x[metric], y[metric])
            rows.append({"response": label, "metric": metric, "one top award": y[metric].mean(),
                         "categories": x[metric].mean(), "diff": diff, "diff_low": lo, "diff_high": hi})
    return pd.DataFrame(rows).set_index(["response", "metric"])


def team_world(world: Scenario, reps: int) -> Scenario:
    """`world` with `reps` reps and the lead flow scaled with them (the same work per rep)."""
    scale = reps / world.reps.count
    return world.replace({"reps.count": reps, "market.leads_per_month": world.market.leads_per_month * scale})


def standings_split(world: Scenario, award: float = 50_000.0, cadences: Sequence[str] = ("never", "weekly"),
                    n: int = 8, seed: int = 0, flat: bool = False, **kwargs) -> pd.DataFrame:
    """One top award a year with standings shown at each cadence (the first is the reference); with `flat`,
    the ablation instead: the same with a flat response (reps respond to a prize whatever their chance)."""
    arms = _standings_arms(world, award, cadences)
    if flat:
        arms = {f"{name}, flat response": flat_response(s) for name, s in arms.items()}
    return replicate_each(arms, n, seed, measure=measure, **kwargs)


def _standings_arms(world: Scenario, award: float, cadences: Sequence[str]) -> dict[str, Scenario]:
    """One top award a year with standings shown at each cadence, named "standings <cadence>"."""
    rule = [{"name": "Top seller", "kind": "relative", "award": award}]
    return {f"standings {c}": programme(world, rule, c) for c in cadences}


def split_table(runs: pd.DataFrame, reference: str = "never") -> pd.DataFrame:
    """Effort of the leader, the reps near the lead (ranks 1-2), those far behind (bottom half) and the whole team
    (its mean effort): each cadence minus `reference`, paired, with 95% intervals; for the reps' real response and
    (when run) the flat one."""
    rows = []
    names = list(dict.fromkeys(runs["scenario"]))
    for name in names:
        flat = name.endswith(", flat response")
        cadence = name.removeprefix("standings ").removesuffix(", flat response")
        ref = f"standings {reference}" + (", flat response" if flat else "")
        if cadence == reference or ref not in names:
            continue
        a = runs[runs["scenario"] == name].sort_values("replication")
        b = runs[runs["scenario"] == ref].sort_values("replication")
        for where, col in (("leader", "effort leader"), ("near", "effort near"), ("far", "effort far"), ("team", "effort")):
            diff, lo, hi = paired_diff_ci(a[col], b[col])
            rows.append({"cadence": cadence, "response": "flat (ablation)" if flat else "by chance", "where": where,
                         "effort": a[col].mean(), "reference": b[col].mean(),
                         "diff": diff, "diff_low": lo, "diff_high": hi})
    return pd.DataFrame(rows)


def standings_across(world: Scenario, teams: Sequence[int] = (8, 16), cadences: Sequence[str] = ("never", "monthly", "weekly"),
                     award: float = 50_000.0, n: int = 4, seed: int = 0, **kwargs) -> pd.DataFrame:
    """`split_table` for each team size (lead flow scaled with the team): where the near-lead gain holds. Every team
    size's runs go to `replicate_each` at once (both cores when there are enough), the same runs as one by one."""
    arms = {f"{reps} reps, {name}": sc for reps in teams
            for name, sc in _standings_arms(team_world(world, reps), award, cadences).items()}
    runs = replicate_each(arms, n, seed, measure=measure, **kwargs)
    tables = []
    for reps in teams:
        prefix = f"{reps} reps, "
        part = runs[runs["scenario"].str.startswith(prefix)].reset_index(drop=True)
        part["scenario"] = part["scenario"].str.removeprefix(prefix)
        tables.append(split_table(part).assign(team=reps))
    return pd.concat(tables, ignore_index=True)


def paired(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean per programme and the paired difference to the first programme, with 95% intervals."""
    return summarise(runs, list(metrics))[["mean", "ci_low", "ci_high", "diff", "diff_low", "diff_high"]]


def timing_cost(world: Scenario, rules: Sequence[AwardRule | Mapping[str, Any]] = (), n: int = 6, seed: int = 0,
                pull_in_days: float = 14.0, discount: float = 0.10, **kwargs) -> pd.DataFrame:
    """The same programme without and with period-end timing (deals pulled into the quota period at a
    discount); `measure` per run, including deals pulled in and the price given up, per award year."""
    base = programme(world, rules, "monthly") if rules else no_programme(world)
    timed = base.replace({"policies.incentives.timing": {"pull_in_days": pull_in_days, "discount": discount}})
    return replicate_each({"no timing": base, "pull-ins at a discount": timed}, n, seed, measure=measure, **kwargs)
