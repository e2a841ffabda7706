"""Customer orbits in the tables: where accounts sit, how they move, and what a new customer costs.

Everything reads canonical tables only (`orbit_history`, `tickets`, `opportunities`, `costs`), so it runs the
same on a simulated run and on an export: the simulator's orbits are Awareness ... Zealots (principle 02); an
account-lifecycle export has the orbits it can observe (trial, customer, expanded, churned, reactivated — see
`sim.crm.lifecycle`). Orbit names are arguments, never assumed.

- `occupancy`: accounts in each orbit at the end of each month (or quarter)
- `flows`, `movement`: moves between orbits in a window, and per quarter
- `time_between`: days from an account's first entry into one orbit to its first later entry into another
  (time to expansion, reactivation lag) and the share that got there
- `churn_after_support`: how often customers churn within some days of a slow ticket, against a fast one
- `referral_performance`: referral-sourced deals' win rate and cycle against the rest
- `cost_of_sales`: cost per new customer and per booked currency unit, every hour and every unit of money
  counted, referral and expansion revenue credited
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..core.periods import labels
from ..core.schema import require
from ..core.stats import days_to_win_words, wilson_ci
from .plots import new_figure

NEW = "(new)"


def stays(orbit_history: pd.DataFrame, analysis: str = "orbits") -> pd.DataFrame:
    """The stays in time order per account, with `exited_at` filled from the next stay where it is missing,
    and `came_from` (the previous orbit, or '(new)' for an account's first stay)."""
    require(orbit_history, ["account_id", "orbit", "entered_at"], analysis)
    h = orbit_history.sort_values(["account_id", "entered_at"], kind="stable").reset_index(drop=True)
    nxt = h.groupby("account_id")["entered_at"].shift(-1)
    exited = h["exited_at"] if "exited_at" in h else pd.Series(pd.NaT, index=h.index)
    h = h.assign(exited_at=exited.fillna(nxt))
    prev = h.groupby("account_id")["orbit"].shift(1)
    return h.assign(came_from=prev.fillna(NEW))


def occupancy(orbit_history: pd.DataFrame, freq: str = "month", order: Sequence[str] | None = None,
              start=None, end=None) -> pd.DataFrame:
    """Accounts in each orbit at the end of each period (rows: the period labels, columns: orbits).

    An account counts in an orbit at an instant when it entered before and had not left by then.
    `order`: the orbits to show, in that order (default: as they appear); `start`/`end` bound the periods.
    """
    h = stays(orbit_history, "orbit occupancy")
    lo = pd.Timestamp(start) if start is not None else h["entered_at"].min()
    hi = pd.Timestamp(end) if end is not None else max(h["entered_at"].max(), h["exited_at"].max())
    step = {"month": "MS", "quarter": "QS"}[freq]
    ends = pd.date_range(lo.to_period("M").to_timestamp(), hi, freq=step)[1:]
    if len(ends) == 0 or ends[-1] < hi:
        ends = ends.append(pd.DatetimeIndex([hi]))
    names = list(order) if order is not None else list(dict.fromkeys(h["orbit"]))
    entered, exited = h["entered_at"].to_numpy(), h["exited_at"].to_numpy()
    out = {}
    for orbit in names:
        mask = (h["orbit"] == orbit).to_numpy()
        e, x = entered[mask], exited[mask]
        out[orbit] = [int(((e < t) & ((x >= t) | pd.isna(x))).sum()) for t in ends.to_numpy()]
    index = labels(pd.Series(ends - pd.Timedelta(days=1)), freq).rename("period")
    return pd.DataFrame(out, index=pd.Index(index, name="period"))


def flows(orbit_history: pd.DataFrame, start=None, end=None) -> pd.DataFrame:
    """Moves between orbits that happened in [start, end): from, to, moves, and the most common stimulus.

    An account's first stay counts as a move from '(new)'. Sorted by moves, largest first.
    """
    h = stays(orbit_history, "orbit flows")
    when = h["entered_at"]
    keep = pd.Series(True, index=h.index)
    if start is not None:
        keep &= when >= pd.Timestamp(start)
    if end is not None:
        keep &= when < pd.Timestamp(end)
    h = h[keep]
    stim = h["stimulus"].fillna("(not recorded)") if "stimulus" in h else pd.Series("(not recorded)", index=h.index)
    g = h.assign(stimulus=stim).groupby(["came_from", "orbit"], sort=False)
    out = g.size().rename("moves").to_frame()
    out["main_stimulus"] = g["stimulus"].agg(lambda s: s.value_counts().index[0])
    out = out.reset_index().rename(columns={"came_from": "from", "orbit": "to"})
    return out.sort_values("moves", ascending=False, kind="stable").reset_index(drop=True)


def movement(orbit_history: pd.DataFrame, period: str = "quarter") -> pd.DataFrame:
    """Moves per period between orbits (rows: 'from -> to', columns: periods), new accounts included."""
    h = stays(orbit_history, "movement between orbits")
    h = h.assign(period=labels(h["entered_at"], period), move=h["came_from"] + " -> " + h["orbit"])
    return h.pivot_table(index="move", columns="period", values="account_id", aggfunc="count", fill_value=0)


def time_between(orbit_history: pd.DataFrame, first: str, then: str) -> dict:
    """Days from each account's first entry into `first` to its first later entry into `then`.

    Returns the per-account days (`days`, only accounts that got there), how many entered `first`
    (`accounts`), how many then reached `then` (`reached`, with its share and 95% Wilson interval) and the
    median and quartiles of the days. Accounts still on their way are not counted as never getting there:
    read `share` as "so far".
    """
    h = stays(orbit_history, f"time from {first} to {then}")
    start = h[h["orbit"] == first].groupby("account_id")["entered_at"].min()
    later = h[h["orbit"] == then].merge(start.rename("first_at"), left_on="account_id", right_index=True)
    later = later[later["entered_at"] > later["first_at"]]
    reached = later.groupby("account_id").agg(first_at=("first_at", "first"), then_at=("entered_at", "min"))
    days = ((reached["then_at"] - reached["first_at"]).dt.total_seconds() / 86400).rename("days")
    n, k = len(start), len(days)
    lo, hi = wilson_ci(k, n) if n else (np.nan, np.nan)
    q = days.quantile([0.25, 0.5, 0.75]) if k else pd.Series([np.nan] * 3, index=[0.25, 0.5, 0.75])
    return {"days": days, "accounts": n, "reached": k, "share": k / n if n else np.nan,
            "share_low": float(lo), "share_high": float(hi),
            "median_days": float(q[0.5]), "p25_days": float(q[0.25]), "p75_days": float(q[0.75])}


def churn_after_support(tickets: pd.DataFrame, orbit_history: pd.DataFrame, churned: str,
                        slow_minutes: float | None = None, within_days: float = 90.0) -> pd.DataFrame:
    """Share of tickets followed by the account's churn within `within_days`, for slow and fast first answers.

    A ticket is slow when its first answer took more than `slow_minutes` (default: the median of the data).
    Rows: slow, fast; columns: tickets, churned_after, share with its 95% Wilson interval, and the
    threshold used. Tickets opened later than `within_days` before the data ends are left out (their
    window is not over).
    """
    require(tickets, ["account_id", "opened_at", "first_response_minutes"], "churn after slow support")
    h = stays(orbit_history, "churn after slow support")
    t = tickets.dropna(subset=["account_id", "opened_at", "first_response_minutes"])
    horizon = max(h["entered_at"].max(), t["opened_at"].max())
    t = t[t["opened_at"] <= horizon - pd.Timedelta(days=within_days)]
    threshold = float(t["first_response_minutes"].median()) if slow_minutes is None else float(slow_minutes)
    churns = h.loc[h["orbit"] == churned, ["account_id", "entered_at"]].rename(columns={"entered_at": "churned_at"})
    pairs = t[["account_id", "opened_at"]].reset_index().merge(churns, on="account_id", how="left")
    gap = (pairs["churned_at"] - pairs["opened_at"]).dt.total_seconds() / 86400
    pairs["hit"] = (gap >= 0) & (gap <= within_days)
    hit = pairs.groupby("index")["hit"].any().reindex(t.index, fill_value=False)
    slow = t["first_response_minutes"] > threshold
    rows = []
    for name, mask in (("slow", slow), ("fast", ~slow)):
        n, k = int(mask.sum()), int(hit[mask].sum())
        lo, hi = wilson_ci(k, n)
        rows.append({"answer": name, "tickets": n, "churned_after": k, "share": k / n if n else np.nan,
                     "share_low": float(lo), "share_high": float(hi), "slow_above_minutes": threshold})
    return pd.DataFrame(rows).set_index("answer")


def referral_performance(opportunities: pd.DataFrame, referral_sources: Sequence[str] | None = None) -> pd.DataFrame:
    """Referral-sourced deals against the rest: closed deals, win rate with its 95% Wilson CI, median days to win.

    `referral_sources`: the lead sources that are referrals (default: every source whose name contains
    'referr', any case). Rows: referral, other.
    """
    require(opportunities, ["lead_source", "outcome"], "referral deals' win rate and cycle")
    opp = opportunities
    sources = opp["lead_source"].dropna().unique()
    chosen = set(referral_sources) if referral_sources is not None else {s for s in sources if "referr" in str(s).lower()}
    is_ref = opp["lead_source"].isin(chosen)
    rows = []
    for name, mask in (("referral", is_ref), ("other", ~is_ref & opp["lead_source"].notna())):
        part = opp[mask]
        won, lost = int((part["outcome"] == "won").sum()), int((part["outcome"] == "lost").sum())
        lo, hi = wilson_ci(won, won + lost)
        cycle = np.nan
        if {"created_at", "closed_at"} <= set(part.columns) and won:
            w = part[part["outcome"] == "won"]
            cycle = float(((w["closed_at"] - w["created_at"]).dt.total_seconds() / 86400).median())
        rows.append({"deals": "referral" if name == "referral" else "other", "closed": won + lost,
                     "win_rate": won / (won + lost) if won + lost else np.nan, "win_rate_low": float(lo),
                     "win_rate_high": float(hi), "median_days_to_win": cycle})
    out = pd.DataFrame(rows).set_index("deals")
    out.attrs["sources"] = sorted(chosen)
    return out


def cost_of_sales(costs: pd.DataFrame, opportunities: pd.DataFrame, hourly_cost: float,
                  existing_sources: Sequence[str] = ("Existing customer",), start=None, end=None) -> dict[str, float]:
    """What selling cost, per new customer and per booked currency unit, from the cost ledger and the deals.

    Cost: all money spent plus every paid rep hour at `hourly_cost` (`paid_hours`; where a ledger has no
    payroll rows, the hours used instead). New customers: accounts whose first won deal in the window is
    not from an existing customer (`existing_sources`, e.g. expansion deals); referred accounts count.
    Bookings: every won amount in the window, expansions and referrals included. [start, end) bounds both
    the costs (by month) and the deals (by close date).
    """
    require(costs, ["month", "spend"], "cost of sales")
    require(opportunities, ["account_id", "outcome", "closed_at", "amount", "lead_source"], "cost of sales")
    c, o = costs, opportunities
    if start is not None:
        c, o = c[c["month"] >= pd.Timestamp(start)], o[o["closed_at"] >= pd.Timestamp(start)]
    if end is not None:
        c, o = c[c["month"] < pd.Timestamp(end)], o[o["closed_at"] < pd.Timestamp(end)]
    paid = c["paid_hours"].sum() if "paid_hours" in c and c["paid_hours"].fillna(0).sum() > 0 else None
    used = c["rep_hours"].fillna(0).sum() if "rep_hours" in c else 0.0
    hours = float(paid if paid is not None else used)
    money = float(c["spend"].fillna(0).sum())
    total = money + hourly_cost * hours
    won = o[o["outcome"] == "won"]
    first_wins = won.sort_values("closed_at", kind="stable").groupby("account_id").head(1)
    new = first_wins[~first_wins["lead_source"].isin(list(existing_sources))]
    booked = float(won["amount"].sum())
    return {"cost": total, "marketing": money, "rep_hours": hours, "new_customers": float(len(new)),
            "bookings": booked,
            "expansion_bookings": float(won.loc[won["lead_source"].isin(list(existing_sources)), "amount"].sum()),
            "cost_per_new_customer": total / len(new) if len(new) else np.nan,
            "cost_per_booked": total / booked if booked > 0 else np.nan}


def cost_by_orbit(costs: pd.DataFrame, hourly_cost: float, order: Sequence[str] | None = None) -> pd.DataFrame:
    """Money and the cost of rep hours used, per orbit and activity (payroll left out: it is not aimed at an orbit)."""
    require(costs, ["activity", "spend", "rep_hours"], "cost by orbit")
    c = costs[costs["activity"] != "payroll"].assign(orbit=costs["orbit"].fillna("(no orbit)"))
    c = c.assign(cost=c["spend"].fillna(0) + hourly_cost * c["rep_hours"].fillna(0))
    table = c.pivot_table(index="orbit", columns="activity", values="cost", aggfunc="sum", fill_value=0.0)
    if order is not None:
        table = table.reindex([o for o in order if o in table.index] + [o for o in table.index if o not in order])
    return table


def occupancy_figure(table: pd.DataFrame, title: str, unit: str = "accounts"):
    """Accounts in each orbit at the end of each period (the output of `occupancy`), one line per orbit."""
    fig, ax = new_figure(figsize=(9, 4.2))
    x = np.arange(len(table))
    colours = plt.get_cmap("tab10" if len(table.columns) <= 10 else "tab20")
    for i, orbit in enumerate(table.columns):
        ax.plot(x, table[orbit], marker="o", markersize=3, lw=1.8, color=colours(i), label=orbit)
    step = max(1, len(x) // 12)
    ax.set_xticks(x[::step], table.index[::step], rotation=45, ha="right")
    ax.set_xlabel("end of period")
    ax.set_ylabel(f"{unit} in the orbit [count]")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="upper left")
    fig.tight_layout()
    return fig


def referral_headline(table: pd.DataFrame) -> str:
    """A `referral_performance` table in one sentence: how referral deals win (95% Wilson CI) and how fast,
    against the other deals."""
    def said(row: pd.Series) -> str:
        days = days_to_win_words(row["median_days_to_win"])
        return (f"{row['win_rate']:.0%} of their closed deals (95% CI {row['win_rate_low']:.0%}-"
                f"{row['win_rate_high']:.0%}, {row['closed']:,.0f} closed){days}")
    ref, other = table.loc["referral"], table.loc["other"]
    if not ref["closed"]:
        return (f"No closed deal in this data came from a referral source; the other deals win {said(other)}.")
    if not other["closed"]:
        return f"Referral deals win {said(ref)}; no other deal has closed."
    return f"Referral deals win {said(ref)}; the other deals win {said(other)}."
