"""Second place in the tables: whom we lose to, and which lost accounts we win later.

Reads canonical tables only, so it runs the same on a CRM export and on a simulated run (principle 09):

- `losses_by_competitor`: lost deals and lost amount per competitor (needs a `competitor` column, which
  Salesforce's competitor field or a mapping provides);
- `win_backs`: accounts whose first closed deal was lost and that won a later deal: how many, how long it
  took, and (when the export records it) by the competitor that won the first round;
- `returns_by_reason`: on an account-lifecycle export (`orbit_history`), customers who left and came back,
  by why they left (a churn to a competitor against one over price, say).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..core.schema import require
from ..core.stats import wilson_ci
from .orbits import stays

NOT_RECORDED = "(not recorded)"


def losses_by_competitor(opportunities: pd.DataFrame) -> pd.DataFrame:
    """Per competitor: lost deals, share of all losses, lost amount (first estimate where there is no amount).

    Losses with no competitor recorded get their own row, so the shares add up to one.
    """
    require(opportunities, ["outcome", "competitor"], "losses by competitor")
    lost = opportunities[opportunities["outcome"] == "lost"]
    value = lost["amount"] if "amount" in lost else pd.Series(np.nan, index=lost.index)
    if "first_estimate" in lost:
        value = value.fillna(lost["first_estimate"])
    table = (lost.assign(competitor=lost["competitor"].fillna(NOT_RECORDED), value=value)
             .groupby("competitor").agg(lost_deals=("outcome", "size"), lost_amount=("value", "sum")))
    table["share_of_losses"] = table["lost_deals"] / table["lost_deals"].sum()
    return table.sort_values("lost_deals", ascending=False)[["lost_deals", "share_of_losses", "lost_amount"]]


def win_backs(opportunities: pd.DataFrame) -> dict:
    """Accounts lost first and won later: rate, lag and, where recorded, the competitor of the first loss.

    An account is *lost* when its first closed deal was lost (it was never a customer before); it is *won
    back* when a deal created after that loss closed as won. The lag runs from the loss's close to the
    win's close. Returns ``summary`` (one row: lost accounts, won back, rate with its 95% Wilson interval,
    median and quartile lag in days), ``accounts`` (one row per won-back account) and ``by_competitor``
    (the same rate per competitor of the first loss, or None when the data has no competitor column).
    Recent losses have had less time to come back: read the rate as "so far".
    """
    require(opportunities, ["account_id", "outcome", "created_at", "closed_at"], "win-backs")
    opp = opportunities.dropna(subset=["account_id", "closed_at"])
    closed = opp[opp["outcome"].isin(["won", "lost"])].sort_values(["account_id", "closed_at"], kind="stable")
    first = closed.groupby("account_id").head(1)
    first_lost = first[first["outcome"] == "lost"].set_index("account_id")
    won = opp[opp["outcome"] == "won"][["account_id", "created_at", "closed_at", "opportunity_id"]
                                       if "opportunity_id" in opp else ["account_id", "created_at", "closed_at"]]
    later = won.merge(first_lost[["closed_at"]].rename(columns={"closed_at": "lost_at"}),
                      left_on="account_id", right_index=True)
    later = later[later["created_at"] >= later["lost_at"]]
    back = later.sort_values("closed_at", kind="stable").groupby("account_id").head(1).set_index("account_id")
    back = back.assign(lag_days=(back["closed_at"] - back["lost_at"]).dt.total_seconds() / 86400)
    if "competitor" in first_lost:
        back["first_lost_to"] = first_lost.loc[back.index, "competitor"].fillna(NOT_RECORDED)
    n, k = len(first_lost), len(back)
    lo, hi = wilson_ci(k, n) if n else (np.nan, np.nan)
    lag = back["lag_days"]
    summary = pd.DataFrame([{
        "lost_accounts": n, "won_back": k, "rate": k / n if n else np.nan, "rate_low": float(lo),
        "rate_high": float(hi), "median_lag_days": float(lag.median()) if k else np.nan,
        "p25_lag_days": float(lag.quantile(0.25)) if k else np.nan,
        "p75_lag_days": float(lag.quantile(0.75)) if k else np.nan,
    }])
    by = None
    if "competitor" in first_lost and first_lost["competitor"].notna().any():
        rival = first_lost["competitor"].fillna(NOT_RECORDED)
        got = rival.index.isin(back.index)
        by = pd.DataFrame({"competitor": rival.to_numpy(), "won_back": got}).groupby("competitor")["won_back"] \
            .agg(lost_accounts="size", won_back="sum")
        lo_, hi_ = wilson_ci(by["won_back"], by["lost_accounts"])
        by["rate"], by["rate_low"], by["rate_high"] = by["won_back"] / by["lost_accounts"], lo_, hi_
        by = by.sort_values("lost_accounts", ascending=False)
    return {"summary": summary, "accounts": back, "by_competitor": by}


def returns_by_reason(orbit_history: pd.DataFrame, left: str, back: Sequence[str]) -> pd.DataFrame:
    """Accounts that left (entered orbit `left`, e.g. churned) and came back later (entered one of `back`),
    by why they left (the stimulus of that stay): left, came back, rate with its 95% Wilson interval, and the
    median days until they came back. Each account counts once, by its first departure.
    """
    h = stays(orbit_history, "returns by reason")
    gone = h[h["orbit"] == left].groupby("account_id").head(1)
    reason = gone["stimulus"].fillna(NOT_RECORDED) if "stimulus" in gone else pd.Series(NOT_RECORDED, index=gone.index)
    gone = gone.assign(reason=reason.to_numpy())[["account_id", "entered_at", "reason"]]
    returns = h[h["orbit"].isin(list(back))][["account_id", "entered_at"]].rename(columns={"entered_at": "back_at"})
    pairs = gone.merge(returns, on="account_id", how="left")
    pairs = pairs[pairs["back_at"].isna() | (pairs["back_at"] > pairs["entered_at"])]
    first_back = pairs.groupby("account_id")["back_at"].min()
    gone = gone.set_index("account_id").assign(back_at=first_back)
    gone["days"] = (gone["back_at"] - gone["entered_at"]).dt.total_seconds() / 86400
    table = gone.groupby("reason").agg(left=("entered_at", "size"), came_back=("back_at", "count"),
                                       median_days_back=("days", "median"))
    lo, hi = wilson_ci(table["came_back"], table["left"])
    table["rate"], table["rate_low"], table["rate_high"] = table["came_back"] / table["left"], lo, hi
    return table.sort_values("left", ascending=False)[["left", "came_back", "rate", "rate_low", "rate_high", "median_days_back"]]


def win_back_headline(back: dict) -> str:
    """A `win_backs` result in one sentence: how many accounts lost first were won back so far (95% Wilson CI),
    how long after the loss, and, where competitors are recorded, from whose customers most came back."""
    s = back["summary"].iloc[0]
    if not s["lost_accounts"]:
        return "No account in this data lost its first closed deal, so there is nothing to win back yet."
    text = (f"Of {s['lost_accounts']:,.0f} accounts whose first closed deal was lost, {s['won_back']:,.0f} were won "
            f"back so far ({s['rate']:.0%}, 95% CI {s['rate_low']:.0%}-{s['rate_high']:.0%})")
    if s["won_back"]:
        text += f", a median {s['median_lag_days']:.0f} days after the loss"
    by = back.get("by_competitor")
    if by is not None and s["won_back"]:
        by = by[by.index != NOT_RECORDED]
        if len(by) and by["won_back"].max() > 0:
            best = by.sort_values(["rate", "lost_accounts"], ascending=False).iloc[0]
            text += (f"; most often from accounts lost to {best.name} ({best['won_back']:,.0f} of "
                     f"{best['lost_accounts']:,.0f}, {best['rate']:.0%})")
    return text + "."
