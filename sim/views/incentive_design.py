"""Principle 07, incentive design: what the notebook and the report show of `sim.experiments.incentive_design`'s
data — the leader's table, the headline, the figures and the sentences that state each finding with its
interval. The experiment returns data; everything written or drawn from it is here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.plots import new_figure
from ..core.amounts import in_words
from ..core.stats import verdict, with_interval
from ..experiments.incentive_design import yearly


def design_view(summary: pd.DataFrame, currency: str = "USD") -> pd.DataFrame:
    """`design_summary` as a leader reads it: one row per programme, intervals written out."""
    def pct(v, lo, hi):
        return "" if np.isnan(v) else f"{v:.0%} ({lo:.0%} to {hi:.0%})"

    def money(v, lo, hi, sign=""):
        if np.isnan(v):
            return ""
        return f"{v / 1e3:{sign},.0f}k" + ("" if np.isnan(lo) else f" ({lo / 1e3:{sign},.0f}k to {hi / 1e3:{sign},.0f}k)")

    rows = {}
    for name, r in summary.iterrows():
        cost = r["cost_per_extra"]
        rows[name] = {
            "award goes to nobody": pct(r["no_winner"], r["no_winner_low"], r["no_winner_high"]),
            f"payout a year [{currency}]": money(r["payout"], r["payout_low"], r["payout_high"]),
            f"bookings a year [{currency}]": money(r["bookings"], r["bookings_low"], r["bookings_high"]),
            "uplift against no programme": "" if name == "no programme" else money(r["uplift"], r["uplift_low"], r["uplift_high"], "+"),
            "paid per extra unit booked": "" if np.isnan(cost) else (f"{cost:.3f}" + (" (uplift not shown)" if np.isnan(r["cost_low"])
                                                                                    else f" ({r['cost_low']:.3f} to {r['cost_high']:.3f})")),
            "effort": f"{r['effort']:.3f} ({r['effort_low']:.3f} to {r['effort_high']:.3f})",
            "effort the year after no award": "" if np.isnan(r["effort after no award"]) else f"{r['effort after no award']:.3f}",
            "effort the year after an award": "" if np.isnan(r["effort after an award"]) else f"{r['effort after an award']:.3f}",
        }
    return pd.DataFrame(rows).T


def never_paid(summary: pd.DataFrame, currency: str = "USD") -> str | None:
    """Why your rules measured nothing, or None: when every award decided in every run went to nobody, the rules
    paid nothing and changed nothing, and "an award goes to nobody 100% of the time" would read as a finding
    about the rules when it is most often the quota: at this pipeline's pace the bar is out of reach. Said with
    the pace, the quota and what to change."""
    yours = summary.loc["your rules"]
    if not (yours.get("decided", 0) > 0 and yours["no_winner"] == 1.0):
        return None
    base = summary.loc["no programme"] if "no programme" in summary.index else yours
    bar = yours.get("bar", np.nan)
    text = (f"Your rules never paid in this simulation: in all {yours['decided']:.0f} award decisions nobody reached "
            f"the bar{f' of {bar:.0%} of quota' if np.isfinite(bar) else ''}, so there is no effect of theirs to measure")
    if np.isfinite(yours.get("quota", np.nan)) and yours.get("reps", 0) > 0:
        pace = base["bookings"] / yours["reps"]
        text += f". A simulated rep on this pipeline books about {in_words(pace)} {currency} a year against a quota of {in_words(yours['quota'])}"
        if np.isfinite(bar) and pace > 0:
            text += f": the bar asks for {bar * yours['quota'] / pace:,.1f} times that pace"
        text += (". If that quota is not your reps' real one, set the what-if's quota (the notebook's sim_quota) to it; "
                 "if it is, more replications (--reps) show how rarely the award pays")
    if "relative version" in summary.index:
        rel = summary.loc["relative version"]
        text += (f". The relative version (someone always wins): bookings {in_words(rel['uplift'], '+')} {currency} a year "
                 f"(95% CI {in_words(rel['uplift_low'], '+')} to {in_words(rel['uplift_high'], '+')}) for {in_words(rel['payout'])} "
                 f"paid a year")
    return text + "."


def design_headline(summary: pd.DataFrame, currency: str = "USD") -> str:
    """One sentence: your rules' chance of no winner, uplift and payout a year, with intervals (or why they
    measured nothing: `never_paid`)."""
    if (why := never_paid(summary, currency)) is not None:
        return why
    yours = summary.loc["your rules"]
    text = (f"Your rules: an award goes to nobody {yours['no_winner']:.0%} of the time "
            f"(95% CI {yours['no_winner_low']:.0%} to {yours['no_winner_high']:.0%}); bookings "
            f"{in_words(yours['uplift'], '+')} {currency} a year against no programme "
            f"(95% CI {in_words(yours['uplift_low'], '+')} to {in_words(yours['uplift_high'], '+')}) "
            f"for {in_words(yours['payout'])} paid a year")
    if "relative version" in summary.index:
        rel = summary.loc["relative version"]
        text += (f"; the relative version: nobody {rel['no_winner']:.0%}, "
                 f"{in_words(rel['uplift'], '+')} (95% CI {in_words(rel['uplift_low'], '+')} to {in_words(rel['uplift_high'], '+')})")
    return text + "."


def design_figure(runs: pd.DataFrame, summary: pd.DataFrame, currency: str = "USD"):
    """Left: bookings per award year per programme (mean, 95% CI). Right: each programme's bookings uplift
    against no programme and its payout, per year (paired 95% CI)."""
    fig, (left, right) = new_figure(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.3, 1]})
    table = yearly(runs, "bookings")
    names = list(dict.fromkeys(table["programme"]))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        rows = table[table["programme"] == name]
        x = np.arange(len(rows)) + (i - (len(names) - 1) / 2) * width
        left.bar(x, rows["mean"] / 1e6, width=width, label=name,
                 yerr=[(rows["mean"] - rows["ci_low"]) / 1e6, (rows["ci_high"] - rows["mean"]) / 1e6], capsize=3)
    left.set_xticks(np.arange(len(rows)), rows["year"])
    left.set_xlabel("award year")
    left.set_ylabel(f"bookings [million {currency}]")
    left.set_title("Bookings per year (mean, 95% CI)")
    left.legend(fontsize=8, loc="lower right")
    left.grid(axis="y", alpha=0.3)
    others = summary.drop(index="no programme")
    y = np.arange(len(others))
    right.errorbar(others["uplift"] / 1e3, y - 0.1, fmt="o", capsize=4, color="tab:green", label="bookings uplift",
                   xerr=[(others["uplift"] - others["uplift_low"]) / 1e3, (others["uplift_high"] - others["uplift"]) / 1e3])
    right.errorbar(others["payout"] / 1e3, y + 0.1, fmt="s", capsize=4, color="tab:red", label="payout",
                   xerr=[(others["payout"] - others["payout_low"]) / 1e3, (others["payout_high"] - others["payout"]) / 1e3])
    right.axvline(0, color="black", lw=0.8)
    right.set_yticks(y, others.index)
    right.set_ylim(len(others) - 0.4, -0.6)
    right.set_xlabel(f"per year against no programme [thousand {currency}]")
    right.set_title("Added bookings and payout a year (paired 95% CI)")
    right.legend(fontsize=8)
    right.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def year_after_figure(table: pd.DataFrame, currency: str = "USD"):
    """Effort (left) and bookings (right) per award year: absolute bar first minus relative from the start,
    with credibility on and off (the ablation); paired 95% intervals."""
    fig, axes = new_figure(1, 2, figsize=(12, 4.4))
    for ax, metric, scale, unit in ((axes[0], "effort", 100, "effort gap [% points of work speed]"),
                                    (axes[1], "bookings", 1e-3, f"bookings gap [thousand {currency} a year]")):
        rows = table[(table["metric"] == metric) & (table["year"] != "after")]
        for i, (label, colour, name) in enumerate((("bar", "tab:red", "credibility on"),
                                                   ("ablation", "tab:gray", "credibility off (ablation)"))):
            x = np.arange(len(rows)) + (i - 0.5) * 0.35
            ax.bar(x, rows[label] * scale, width=0.35, color=colour, label=name,
                   yerr=[(rows[label] - rows[f"{label}_low"]) * scale, (rows[f"{label}_high"] - rows[label]) * scale], capsize=3)
        ax.set_xticks(np.arange(len(rows)), [f"{y}\n{'bar year' if k == 0 else f'{k} after'}" for k, y in enumerate(rows["year"])])
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xlabel("award year")
        ax.set_ylabel(unit)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title("Effort: absolute bar first minus relative")
    axes[1].set_title("Bookings: absolute bar first minus relative")
    axes[0].legend(fontsize=8)
    fig.suptitle("After an award nobody won (paired 95% CI): the same relative rule runs in every year after the first")
    fig.tight_layout()
    return fig


def standings_figure(across: pd.DataFrame):
    """Per team size: effort of the leader, the reps near the lead and those far behind, each cadence minus
    never, with paired 95% intervals."""
    teams = list(dict.fromkeys(across["team"]))
    fig, axes = new_figure(1, len(teams), figsize=(5.6 * len(teams), 4.3), sharey=True, squeeze=False)
    wheres = ["leader", "near", "far"]
    for ax, team in zip(axes[0], teams):
        part = across[(across["team"] == team) & (across["response"] == "by chance")]
        cadences = list(dict.fromkeys(part["cadence"]))
        for i, cadence in enumerate(cadences):
            rows = part[part["cadence"] == cadence].set_index("where").loc[wheres]
            x = np.arange(len(wheres)) + (i - (len(cadences) - 1) / 2) * 0.35
            ax.bar(x, rows["diff"] * 100, width=0.35, label=f"{cadence} minus never",
                   yerr=[(rows["diff"] - rows["diff_low"]) * 100, (rows["diff_high"] - rows["diff"]) * 100], capsize=3)
        ax.set_xticks(np.arange(len(wheres)), ["the leader", "near the lead\n(ranks 1-2)", "far behind\n(bottom half)"])
        ax.axhline(0, color="black", lw=0.8)
        ax.set_title(f"A team of {team} reps, one top award")
        ax.set_xlabel("where the rep stands (bookings so far this year)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("effort against no standings [% points of work speed]")
    fig.suptitle("What showing the standings does to effort (paired 95% CI)")
    fig.tight_layout()
    return fig


# ---- sentences the notebook prints ------------------------------------------------------------------
def quota_source(judged_by) -> str:
    """Which quota the attainment was judged by (`sim.analysis.incentives.quota_spec`)."""
    return "quota: " + ("the average owner's pace" if judged_by is None else
                        f"the export's {judged_by!r} column" if isinstance(judged_by, str) else "as set in the parameters")


def attainment_line(spread: pd.DataFrame, att: pd.DataFrame, period: str) -> str:
    """The owners' attainment over the whole span: highest, median, lowest."""
    return (f"{len(spread)} owners over {att['period'].nunique()} {period}s; attainment over the whole span: "
            f"highest {spread['overall'].max():.0%} ({spread.index[0]}), median {spread['overall'].median():.0%}, "
            f"lowest {spread['overall'].min():.0%}")


def clear_chance_lines(chances: dict[str, dict[str, dict[str, float]]], bar: float, period: str) -> str:
    """How often anyone (and the top seller) clears `bar`, per award length, with the bootstrap interval.
    `chances[label][who]` is `sim.analysis.incentives.chance_anyone_clears` for that award length and who."""
    words = {"anyone": "anyone clears", "top": "the top seller clears"}
    return "\n".join(f"{label}: {words[who]} {bar:.0%} of quota in {c['chance']:.0%} of award periods "
                     f"(95% interval {c['ci_low']:.0%} to {c['ci_high']:.0%}, {c['periods']:.0f} {period}s of data)"
                     for label, by_who in chances.items() for who, c in by_who.items())


def no_winner_sentence(after: pd.DataFrame) -> str:
    """How often the high bar went to nobody in the first year, and how often the relative prize did."""
    share, low, high = after.attrs["no_winner_first_year"]
    return (f"The 180% bar went to nobody in {share:.0%} of first years (95% interval {low:.0%} to {high:.0%}); "
            f"the relative prize went to nobody {after.attrs['relative_no_winner']:.0f} times.")


def _shown(low: float, high: float) -> str:
    return verdict(low, high, below="shown", above="shown", neither="not shown at this number of replications")


def year_after_sentences(after: pd.DataFrame) -> str:
    """Effort the year after the bar year, and bookings over the years after, against the relative rule."""
    second = sorted(after["year"].unique())[:2][1]
    e = after.set_index(["year", "metric"]).loc[(second, "effort")]
    b = after.set_index(["year", "metric"]).loc[("after", "bookings")]
    return (f"The year after the bar year ({second}), effort is {e['bar']:+.3f} against the relative rule "
            f"(95% CI {e['bar_low']:+.3f} to {e['bar_high']:+.3f}, {_shown(e['bar_low'], e['bar_high'])}); "
            f"with credibility off it is {e['ablation']:+.3f} ({e['ablation_low']:+.3f} to {e['ablation_high']:+.3f}).\n"
            f"Bookings over the years after: {b['bar'] / 1e3:+,.0f}k against the relative rule "
            f"(95% CI {b['bar_low'] / 1e3:+,.0f}k to {b['bar_high'] / 1e3:+,.0f}k, {_shown(b['bar_low'], b['bar_high'])}); "
            f"with credibility off {b['ablation'] / 1e3:+,.0f}k ({b['ablation_low'] / 1e3:+,.0f}k to {b['ablation_high'] / 1e3:+,.0f}k).")


def categories_sentence(cats: pd.DataFrame) -> str:
    """Territory trophies against one prize of the same total: reps lifted, and the team's effort."""
    c, f = cats.loc[("reps respond to their chance", "reps_lifted")], cats.loc[("flat response (ablation)", "reps_lifted")]
    t = cats.loc[("reps respond to their chance", "effort")]
    return (f"Territory trophies lift {c['diff']:+.2f} more reps a month than one prize (95% CI {c['diff_low']:+.2f} to "
            f"{c['diff_high']:+.2f}); with a flat response {f['diff']:+.2f}. The team's mean effort differs by {t['diff']:+.3f} "
            f"({t['diff_low']:+.3f} to {t['diff_high']:+.3f}): the categories spread the pull, they do not add to it.")


def weekly_standings(across: pd.DataFrame) -> pd.DataFrame:
    """`standings_across`'s weekly rows, by team and where the rep stands."""
    return across[across["cadence"] == "weekly"].set_index(["team", "where"])


def standings_lines(across: pd.DataFrame, teams: tuple[int, ...] = (8, 16)) -> str:
    """Weekly standings against none, near the lead, far behind and for the whole team (its mean effort), per team
    size, with the 95% CI."""
    weekly = weekly_standings(across)
    lines = []
    for team in teams:
        near, far = weekly.loc[(team, "near")], weekly.loc[(team, "far")]
        near_ci = with_interval(near["diff"], near["diff_low"], near["diff_high"], "{:+.3f}")
        whole = ""
        if (team, "team") in weekly.index:
            t = weekly.loc[(team, "team")]
            whole = f", the whole team {with_interval(t['diff'], t['diff_low'], t['diff_high'], '{:+.3f}')}"
        lines.append(f"Team of {team}, weekly against never: near the lead {near_ci}, "
                     f"far behind {far['diff']:+.3f} ({far['diff_low']:+.3f} to {far['diff_high']:+.3f}){whole}.")
    return "\n".join(lines)


def timing_sentence(timed: pd.DataFrame, paired: pd.DataFrame) -> str:
    """What pulling deals into the quarter costs (`timing_cost` runs and their `paired` table)."""
    tm = timed[timed["scenario"] == "pull-ins at a discount"]
    cost = tm["timing_discount"].sum() / tm["bookings"].sum()
    share = paired.loc[("pull-ins at a discount", "quarter_end_share"), "mean"]
    plain = paired.loc[("no timing", "quarter_end_share"), "mean"]
    return (f"Pulled-in deals a year: {tm['pulled_in_deals'].mean():.0f}; price given up: {cost:.1%} of bookings "
            f"(Larkin's estimate of the whole cost of timing: 6-8% of revenue). Share of bookings closed in the last two "
            f"weeks of a quarter: {share:.0%}, against {plain:.0%} without timing.")


def takeaway(summary: pd.DataFrame, after: pd.DataFrame, cats: pd.DataFrame, across: pd.DataFrame) -> str:
    """The notebook's takeaway, in this run's numbers."""
    second = sorted(after["year"].unique())[:2][1]
    legacy_e = after.set_index(["year", "metric"]).loc[(second, "effort")]
    yours = summary.loc["your rules"]
    c = cats.loc[("reps respond to their chance", "reps_lifted")]
    weekly = weekly_standings(across)
    return "\n".join([
        "Takeaway, in this run's numbers:",
        f"* Your rules gave an award to nobody {yours['no_winner']:.0%} of the time; the relative version "
        + (f"{summary.loc['relative version', 'no_winner']:.0%}." if "relative version" in summary.index else "is what you set."),
        f"* After a year whose prize went to nobody, the same relative rule drew {legacy_e['bar']:+.3f} effort "
        f"(95% CI {legacy_e['bar_low']:+.3f} to {legacy_e['bar_high']:+.3f}); with credibility off, {legacy_e['ablation']:+.3f}.",
        f"* Three territory trophies lifted {c['diff']:+.2f} more reps a month than one prize of the same total.",
        f"* Weekly standings: far behind {weekly.loc[(16, 'far'), 'diff']:+.3f} in a team of 16 and "
        f"{weekly.loc[(8, 'far'), 'diff']:+.3f} in a team of 8; near the lead {weekly.loc[(16, 'near'), 'diff']:+.3f} (16) and "
        f"{weekly.loc[(8, 'near'), 'diff']:+.3f} (8)."])


def size_lines(size_table: pd.DataFrame, names: list[str]) -> str:
    """Per prize size: effort, bookings uplift with its 95% CI, and what was paid per extra unit when shown."""
    lines = []
    for name in names:
        up = size_table.loc[(name, "bookings")]
        paid = size_table.loc[(name, "payout"), "mean"]
        cost = (f"{paid / up['diff']:.2f} paid per extra unit booked" if up["diff_low"] > 0 else "uplift not shown")
        lines.append(f"{name}: effort {size_table.loc[(name, 'effort'), 'diff']:+.3f}, bookings {up['diff'] / 1e3:+,.0f}k "
                     f"(95% CI {up['diff_low'] / 1e3:+,.0f}k to {up['diff_high'] / 1e3:+,.0f}k): {cost}")
    return "\n".join(lines)
