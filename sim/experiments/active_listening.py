"""Principle 03, active listening, in the simulator: the same deals met by reps who talk less or more, who
ask many questions or few, with and without the mechanism (discovery rising with the customer's talk share).

Every comparison runs on common random numbers, and is judged on the new-logo cohort of the first
`COHORT_DAYS` days (the same prospects in every scenario; see `sim.analysis.meetings.new_logo_cohort`), so
paired differences are differences on the same deals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.meetings import cohort_summary, new_logo_cohort
from ..analysis.plots import bands
from ..core.stats import mean_ci, paired_diff_ci
from ..core.tables import Tables
from ..scenario import Scenario
from .replicate import replicate_each, seeds
from .simulate import SimResult, simulate

COHORT_DAYS = 270     # prospects arriving in the first nine months; most have closed by the end of a year
SEP = " · "


def listening(base: Scenario, **settings) -> Scenario:
    """`base` with the listening policy on (its defaults, changed by `settings`), other policies as they are."""
    current = base.policies.listening
    merged = {**(current.model_dump() if current is not None else {}), **settings}
    return base.replace({"policies.listening": merged})


def talk_scenarios(base: Scenario, rep_shares: Mapping[str, float], **settings) -> dict[str, Scenario]:
    """One scenario per named team average rep talk share (e.g. {"rep talks 65%": 0.65, ...})."""
    return {name: listening(base, rep_talk_share=share, **settings) for name, share in rep_shares.items()}


def listening_measure(result: SimResult) -> dict[str, float]:
    """Per run: headline metrics, the policies' metrics and the new-logo cohort's win rate, open share,
    bookings and mean days to win (a picklable `measure` for `sim.replicate_each`)."""
    cohort = new_logo_cohort(result.tables.opportunities, pd.Timestamp(result.scenario.start), COHORT_DAYS)
    return {**result.metrics, **cohort_summary(cohort)}


def pooled_tables(scenario: Scenario, years: int, seed: int) -> Tables:
    """`years` simulated runs of `scenario` pooled into one set of tables (ids prefixed by the run), to show
    what the same analysis sees on a data set that many times larger than one team's year."""
    opps, acts = [], []
    for k, s in enumerate(seeds(seed, years)):
        t = simulate(scenario, seed=s).tables
        tag = f"Y{k + 1}-"
        opps.append(t.opportunities.assign(opportunity_id=tag + t.opportunities["opportunity_id"],
                                           account_id=tag + t.opportunities["account_id"]))
        acts.append(t.activities.assign(opportunity_id=tag + t.activities["opportunity_id"],
                                        account_id=tag + t.activities["account_id"]))
    return Tables(opportunities=pd.concat(opps, ignore_index=True), activities=pd.concat(acts, ignore_index=True))


def column(runs: pd.DataFrame, scenario: str, metric: str) -> np.ndarray:
    """One metric of one scenario, in replication order (for paired comparisons)."""
    return runs[runs["scenario"] == scenario].sort_values("replication")[metric].to_numpy(dtype=float)


def effect(runs: pd.DataFrame, a: str, b: str, metrics: Sequence[str]) -> pd.DataFrame:
    """Per metric: the means under scenarios `a` and `b` and the paired difference a - b with its 95% CI."""
    rows = {}
    for m in metrics:
        x, y = column(runs, a, m), column(runs, b, m)
        diff, lo, hi = paired_diff_ci(x, y)
        rows[m] = {"a": np.nanmean(x), "b": np.nanmean(y), "diff": diff, "diff_low": lo, "diff_high": hi}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("metric")


def sweep(base: Scenario, shares: Sequence[float], questions: Mapping[str, float], n: int, seed: int,
          **kwargs) -> pd.DataFrame:
    """Rep talk share x questions per meeting: one run per (share, questions level, replication)."""
    scenarios = {f"{label}{SEP}{share:.2f}": listening(base, rep_talk_share=share, questions=q)
                 for label, q in questions.items() for share in shares}
    return replicate_each(scenarios, n, seed, measure=listening_measure, **kwargs)


def sweep_curves(runs: pd.DataFrame, metric: str = "cohort_win_rate") -> pd.DataFrame:
    """Mean and 95% CI of `metric` per questions level and rep talk share (from `sweep`)."""
    parts = runs["scenario"].str.split(SEP, n=1, expand=True, regex=False)
    runs = runs.assign(questions=parts[0], rep_talk_share=parts[1].astype(float))
    rows = [(q, share, *mean_ci(g[metric])) for (q, share), g in runs.groupby(["questions", "rep_talk_share"], sort=False)]
    out = pd.DataFrame(rows, columns=["questions", "rep_talk_share", "mean", "ci_low", "ci_high"])
    out["panel"] = metric.replace("_", " ")
    return out


def slope(runs: pd.DataFrame, level: str, low: float, high: float, metric: str = "cohort_win_rate") -> tuple[float, float, float]:
    """Paired difference in `metric` between rep talk shares `low` and `high` at one questions level (low - high)."""
    a, b = f"{level}{SEP}{low:.2f}", f"{level}{SEP}{high:.2f}"
    return paired_diff_ci(column(runs, a, metric), column(runs, b, metric))


def sweep_figure(curves: pd.DataFrame) -> Figure:
    """Cohort win rate against the team's rep talk share, one band per questions level."""
    curves = curves.assign(rep_talk_share=curves["rep_talk_share"] * 100)
    return bands(curves, x="rep_talk_share", line="questions", facet="panel", percent=True,
                 xlabel="the team's average rep talk share [% of the talking]",
                 ylabel="win rate of the new-logo cohort [%]",
                 title="Talking less wins more when the rep asks questions (mean, 95% CI)")


def headline(table: pd.DataFrame, low: float, high: float) -> str:
    """The claim in one sentence, from an `effect` table comparing rep talk `low` (a) with `high` (b)."""
    w = table.loc["cohort_win_rate"]
    return (f"Reps who talk {low:.0%} instead of {high:.0%} of the meeting win {w['a']:.1%} instead of "
            f"{w['b']:.1%} of the same new prospects: {100 * w['diff']:+.1f} points "
            f"(95% CI {100 * w['diff_low']:+.1f} to {100 * w['diff_high']:+.1f}).")
