"""Principle 08, lunch at their office, in the simulator: the same prospects met first over lunch at their
office, at ours or on video; the closed form for champions checked against the simulation; what a meeting
costs against what it brings.

The mechanism the notebook names: the format changes the show rate and the number of attendees, and each
attendee may become a champion, P(at least one) = 1 - (1 - p)^n. The ablation gives every format the same
show rate and attendees; then only the cost differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.meetings import cohort_summary, new_logo_cohort
from ..analysis.plots import new_figure
from ..core.stats import mean_ci, paired_diff_ci, wilson_ci
from ..core.tables import Tables
from ..scenario import Scenario
from .active_listening import COHORT_DAYS, column
from .replicate import replicate_each
from .simulate import SimResult

FORMATS = ("lunch_at_their_office", "our_office", "video")


def at_least_one_champion(p: float, n) -> np.ndarray:
    """The closed form: chance that at least one of `n` engaged attendees becomes a champion, each with `p`."""
    return 1.0 - (1.0 - p) ** np.asarray(n, dtype=float)


def first_meeting(base: Scenario, **settings) -> Scenario:
    """`base` with the first-meeting policy on (its defaults, changed by `settings`)."""
    current = base.policies.first_meeting
    merged = {**(current.model_dump() if current is not None else {}), **settings}
    return base.replace({"policies.first_meeting": merged})


def equalised(base: Scenario, show_rate: float, attendees: float) -> dict:
    """The formats of `base`'s first-meeting policy (or the defaults) with one show rate and head count for
    all: the ablation (travel and food, hence cost, still differ)."""
    policy = base.policies.first_meeting or first_meeting(base).policies.first_meeting
    return {name: {**fmt.model_dump(), "show_rate": show_rate, "attendees": attendees}
            for name, fmt in policy.formats.items()}


def format_scenarios(base: Scenario, formats: Iterable[str] = FORMATS, equal: tuple[float, float] | None = None,
                     **settings) -> dict[str, Scenario]:
    """One scenario per format, every first meeting in it (`mix` off). `equal=(show_rate, attendees)` gives
    every format those (the ablation)."""
    extra = {"formats": equalised(base, *equal)} if equal is not None else {}
    return {f: first_meeting(base, format=f, mix=None, **extra, **settings) for f in formats}


def meeting_measure(result: SimResult) -> dict[str, float]:
    """Per run: headline and policy metrics, the new-logo cohort (win rate, bookings...), and the first
    meeting's cost per deal and per held meeting (a picklable `measure` for `sim.replicate_each`)."""
    out = dict(result.metrics)
    cohort = new_logo_cohort(result.tables.opportunities, pd.Timestamp(result.scenario.start), COHORT_DAYS)
    out.update(cohort_summary(cohort))
    meetings = out.get("first_meetings", 0.0)
    out["cost_per_deal"] = out.get("first_meeting_cost", np.nan) / meetings if meetings else np.nan
    held = out.get("first_meetings_held", 0.0)
    out["cost_per_held_meeting"] = out.get("first_meeting_cost", np.nan) / held if held else np.nan
    out["bookings_per_deal"] = out["cohort_bookings"] / out["cohort_deals"] if out["cohort_deals"] else np.nan
    return out


def champion_check(tables: Sequence[Tables], p: float) -> pd.DataFrame:
    """Held first meetings pooled over runs, by attendees n: meetings, champions, the simulated rate with
    its 95% Wilson CI, and the closed form 1 - (1 - p)^n (every attendee engaged) next to the mean of each
    meeting's own closed form (which lowers the chance of attendees who never spoke, when that is known).

    Reads the `truth_champion` and `truth_champion_chance` columns the simulator writes to `activities`.
    """
    acts = pd.concat([t.activities for t in tables], ignore_index=True)
    held = acts[acts["truth_champion"].notna()] if "truth_champion" in acts else acts.iloc[:0]
    n = held["attendees"].astype(int)
    g = held.groupby(n)
    out = pd.DataFrame({"meetings": g.size(), "champions": g["truth_champion"].sum().astype(int),
                        "expected": g["truth_champion_chance"].mean()})
    out["rate"] = out["champions"] / out["meetings"]
    out["ci_low"], out["ci_high"] = wilson_ci(out["champions"], out["meetings"])
    out["closed_form"] = at_least_one_champion(p, out.index.to_numpy())
    return out.rename_axis("attendees")


def value_table(runs: pd.DataFrame, reference: str = "video", formats: Iterable[str] = FORMATS) -> pd.DataFrame:
    """Per format (means over replications): show rate, attendees, champion share, cohort win rate, first
    meeting cost per deal, cohort bookings per deal; and against `reference`, the paired difference in
    bookings per deal and in cost per deal with their 95% CIs, and the net (bookings - cost) per deal."""
    rows = {}
    for f in formats:
        row = {m: float(np.nanmean(column(runs, f, m)))
               for m in ("show_rate", "first_meeting_attendees", "champion_share", "cohort_win_rate",
                         "cost_per_held_meeting", "cost_per_deal", "bookings_per_deal")}
        gain = paired_diff_ci(column(runs, f, "bookings_per_deal"), column(runs, reference, "bookings_per_deal"))
        cost = paired_diff_ci(column(runs, f, "cost_per_deal"), column(runs, reference, "cost_per_deal"))
        net = paired_diff_ci(column(runs, f, "bookings_per_deal") - column(runs, f, "cost_per_deal"),
                             column(runs, reference, "bookings_per_deal") - column(runs, reference, "cost_per_deal"))
        row.update({"extra_bookings": gain[0], "extra_bookings_low": gain[1], "extra_bookings_high": gain[2],
                    "extra_cost": cost[0], "extra_cost_low": cost[1], "extra_cost_high": cost[2],
                    "net_gain": net[0], "net_gain_low": net[1], "net_gain_high": net[2]})
        rows[f] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("format")


def effect(runs: pd.DataFrame, a: str, b: str, metric: str = "cohort_win_rate") -> tuple[float, float, float]:
    """Paired difference a - b of `metric` with its 95% CI."""
    return paired_diff_ci(column(runs, a, metric), column(runs, b, metric))


def champion_figure(check: pd.DataFrame, p: float) -> Figure:
    """Simulated share of first meetings with a champion (95% Wilson CI) against the closed form, by attendees."""
    fig, ax = new_figure(figsize=(7.5, 4.2))
    n = check.index.to_numpy()
    ax.errorbar(n, check["rate"], yerr=[check["rate"] - check["ci_low"], check["ci_high"] - check["rate"]],
                fmt="o", capsize=4, color="tab:blue", label="simulated (95% Wilson CI)")
    grid = np.arange(1, n.max() + 1) if len(n) else np.arange(1, 2)
    ax.plot(grid, at_least_one_champion(p, grid), color="tab:orange", label=f"1 - (1 - p)^n, p = {p:g}")
    if "expected" in check:
        ax.plot(n, check["expected"], "x", color="tab:green", label="mean of each meeting's own closed form")
    ax.set_xlabel("customer attendees at the first meeting [people]")
    ax.set_ylabel("first meetings with a champion [share]")
    ax.set_title("More people in the room, more chances that one of them champions you")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def format_figure(runs: pd.DataFrame, formats: Sequence[str] = FORMATS, ablation: pd.DataFrame | None = None) -> Figure:
    """Cohort win rate per first-meeting format (mean, 95% CI), as modelled and, if given, in the ablation."""
    fig, ax = new_figure(figsize=(7.5, 3.8))
    sets = [("as modelled", runs, "tab:blue", -0.12)]
    if ablation is not None:
        sets.append(("same show rate and attendees", ablation, "tab:gray", 0.12))
    for label, data, color, shift in sets:
        stats = [mean_ci(column(data, f, "cohort_win_rate")) for f in formats]
        mean = np.array([s[0] for s in stats])
        lo, hi = np.array([s[1] for s in stats]), np.array([s[2] for s in stats])
        y = np.arange(len(formats)) + shift
        ax.errorbar(mean * 100, y, xerr=[(mean - lo) * 100, (hi - mean) * 100], fmt="o", capsize=4, color=color, label=label)
    ax.set_yticks(np.arange(len(formats)), [f.replace("_", " ") for f in formats])
    ax.invert_yaxis()
    ax.set_xlabel("win rate of the new-logo cohort [%] (mean and 95% CI over replications)")
    ax.set_ylabel("first meeting")
    ax.set_title("The first meeting's format and the win rate of the same prospects")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    fig.tight_layout()
    return fig


def headline(runs: pd.DataFrame, values: pd.DataFrame, currency: str) -> str:
    """The claim in one sentence: lunch at their office against video, win rate and net value per deal."""
    d, lo, hi = effect(runs, "lunch_at_their_office", "video")
    lunch = values.loc["lunch_at_their_office"]
    return (f"A first meeting over lunch at the prospect's office instead of a video call wins "
            f"{100 * d:+.1f} points more of the same prospects (95% CI {100 * lo:+.1f} to {100 * hi:+.1f}); "
            f"it costs {lunch['extra_cost']:,.0f} {currency} more per deal and brings "
            f"{lunch['extra_bookings']:,.0f} {currency} more bookings per deal "
            f"(95% CI {lunch['extra_bookings_low']:,.0f} to {lunch['extra_bookings_high']:,.0f}).")
