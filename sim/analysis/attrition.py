"""Rep turnover read from an export: owners who appear and disappear.

A CRM export has no HR records, but it shows when each owner opened deals. An owner who stops opening
deals for good while the rest of the team goes on is taken to have left; one whose first deal comes well
after the export starts, to have joined. So, with `quiet_days` (default 90) as the silence that counts:

- left: the owner's last created deal is more than `quiet_days` before the export's last created deal;
- joined: the owner's first created deal is more than `quiet_days` after the export's first;
- exposure: each owner's time on the team inside the export (first to last deal for a leaver, first deal to
  `quiet_days` before the export's end otherwise: a departure later than that cannot be seen), in rep-years;
- rate: leavers / rep-years, the yearly turnover as HR measures it (`AttritionPolicy.rate`), with its exact
  Poisson 95% interval;
- backfill lag: for each leaver, the days from their last deal to the next joiner's first deal (median).

What it cannot tell: voluntary from involuntary leavers, and leave or a change of territory from leaving.
Many CRMs hand a leaver's open deals to someone else and rewrite their owner, so a leaver's last deals may show
under another name: their departure then looks earlier. Read the rate as an estimate to set beside HR's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class OwnerTurnover:
    """Turnover read from an export's owners, and the table it was read from (one row per owner)."""

    rate: float                 # leavers per rep-year
    low: float                  # 95% interval of the rate (exact Poisson)
    high: float
    leavers: int
    joiners: int
    rep_years: float
    backfill_days: float        # median days from a leaver's last deal to the next joiner's first (NaN: none)
    owners: pd.DataFrame

    def summary(self) -> str:
        lag = "no joiner after a leaver" if np.isnan(self.backfill_days) else f"{self.backfill_days:.0f} days"
        return (f"{self.leavers} owners left and {self.joiners} joined over {self.rep_years:.1f} rep-years: turnover "
                f"{self.rate:.0%} a year (95% CI {self.low:.0%} to {self.high:.0%}); median backfill lag {lag}")


def owner_turnover(opportunities: pd.DataFrame, quiet_days: float = 90.0) -> OwnerTurnover:
    """Leavers, joiners, rep-years, the yearly turnover and the backfill lag, from owners and creation dates."""
    missing = [c for c in ("owner", "created_at") if c not in opportunities.columns]
    if missing:
        raise ValueError(f"owner turnover needs the columns {', '.join(missing)}; the export has none of that")
    opp = opportunities.dropna(subset=["owner", "created_at"])
    if opp.empty:
        raise ValueError("owner turnover needs deals with an owner and a creation date; there are none")
    first, last = opp["created_at"].min(), opp["created_at"].max()
    quiet = pd.Timedelta(days=quiet_days)
    if last - first <= 2 * quiet:
        raise ValueError(f"the export spans {(last - first).days} days: too short to tell leavers from a quiet spell "
                         f"of {quiet_days:g} days")
    owners = opp.groupby("owner")["created_at"].agg(first_deal="min", last_deal="max", deals="size").reset_index()
    owners["left"] = owners["last_deal"] < last - quiet
    owners["joined"] = owners["first_deal"] > first + quiet
    # only a departure more than `quiet_days` before the end can be seen: everyone's exposure stops there
    horizon = last - quiet
    until = owners["last_deal"].where(owners["left"], horizon).clip(upper=horizon)
    owners["rep_years"] = ((until - owners["first_deal"]).dt.total_seconds() / 86400 / DAYS_PER_YEAR).clip(lower=0)
    leavers, years = int(owners["left"].sum()), float(owners["rep_years"].sum())
    low = stats.chi2.ppf(0.025, 2 * leavers) / 2 / years if leavers else 0.0
    high = stats.chi2.ppf(0.975, 2 * leavers + 2) / 2 / years
    joins = np.sort(owners.loc[owners["joined"], "first_deal"].to_numpy())
    lags = []
    for gone in owners.loc[owners["left"], "last_deal"]:
        later = joins[joins > np.datetime64(gone)]
        if len(later):
            lags.append((later[0] - np.datetime64(gone)) / np.timedelta64(1, "D"))
    return OwnerTurnover(rate=leavers / years if years > 0 else np.nan, low=float(low), high=float(high),
                         leavers=leavers, joiners=int(owners["joined"].sum()), rep_years=years,
                         backfill_days=float(np.median(lags)) if lags else np.nan, owners=owners)
