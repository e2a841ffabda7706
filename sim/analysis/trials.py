"""Trial conversion: how often a trial or pilot turns into a purchase, by trial type, engagement and support.

Trials are rows of the canonical `activities` table whose `kind` names a trial (`TRIAL_TYPES` maps the
words CRMs use to "free trial" / "paid pilot"; pass your own mapping), with `outcome` saying whether it
converted (`CONVERTED` / `NOT_CONVERTED` words; anything else is undecided and left out of the rates, unless
the deal's own outcome is given: then a won deal's trial converted and a lost one's did not) and
`duration_minutes` the customer's hands-on time (engagement, as a usage log shows it). Support sessions are
rows of kind ``support`` for the same opportunity. The simulator writes exactly these rows; an export's
activity log or a subscription table (`from_subscriptions`) gives the same shape.

A warning that belongs next to every number here: in your own data, buyers chose whether to start a trial
or pay for a pilot. A higher conversion for paid pilots can be who agreed to pay (screening) as much as what
paying did to them (investment); only an experiment, or the simulator's what-if, separates the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..core.schema import MissingColumns, require
from ..core.stats import wilson_ci

TRIAL_TYPES = {"trial": "free trial", "free trial": "free trial", "pilot": "paid pilot", "paid pilot": "paid pilot"}
CONVERTED = ("converted", "won", "yes", "true", "paid", "purchased")
NOT_CONVERTED = ("not converted", "lost", "no", "false", "expired", "churned", "cancelled")


def converted(outcome: pd.Series) -> pd.Series:
    """1.0 where the outcome says the trial converted, 0.0 where it says it did not, NaN otherwise (undecided)."""
    text = outcome.astype("string").str.strip().str.lower()
    return pd.Series(np.select([text.isin(CONVERTED).fillna(False).to_numpy(bool),
                                text.isin(NOT_CONVERTED).fillna(False).to_numpy(bool)], [1.0, 0.0], np.nan),
                     index=outcome.index)


def trials(activities: pd.DataFrame, types: Mapping[str, str] = TRIAL_TYPES,
           opportunities: pd.DataFrame | None = None) -> pd.DataFrame:
    """The trial rows of `activities`: opportunity, account, start, `trial_type`, `engagement_hours` (from
    `duration_minutes`, NaN if absent) and `converted` (1 / 0 / NaN undecided). Needs `kind`, and `outcome`
    unless `opportunities` is given.

    A CRM usually logs the trial as an activity and records the sale on the deal, so the trial's own row has no
    result. With `opportunities` (`opportunity_id`, `outcome`), a trial whose outcome says neither converted nor
    not converted takes its deal's: won is converted, lost is not, open is undecided (`attrs["from_deal"]`
    counts them). The simulator writes the same rule into its rows, so both readings agree on simulated data.
    """
    deals = None
    if opportunities is not None:
        require(opportunities, ["opportunity_id", "outcome"], "trial conversion")
        require(activities, ["kind", "opportunity_id"], "trial conversion")
        deals = opportunities.drop_duplicates("opportunity_id").set_index("opportunity_id")["outcome"]
    else:
        require(activities, ["kind", "outcome"], "trial conversion")
    kind = activities["kind"].astype("string").str.strip().str.lower()
    lookup = {k.lower(): v for k, v in types.items()}
    rows = activities[kind.isin(list(lookup)).fillna(False).to_numpy(bool)]
    if rows.empty:
        raise MissingColumns("trial conversion", ["activities rows of kind " + " / ".join(repr(k) for k in lookup)])
    hands_on = rows["duration_minutes"] / 60.0 if "duration_minutes" in rows else pd.Series(np.nan, index=rows.index)
    outcome = rows["outcome"] if "outcome" in rows else pd.Series(None, index=rows.index, dtype="object")
    result = converted(outcome)
    from_deal = 0
    if deals is not None:
        by_deal = rows["opportunity_id"].map(deals).map({"won": 1.0, "lost": 0.0})
        fill = result.isna() & by_deal.notna()
        from_deal = int(fill.sum())
        result = result.where(~fill, by_deal)
    out = pd.DataFrame({
        "opportunity_id": rows.get("opportunity_id"),
        "account_id": rows.get("account_id"),
        "at": rows.get("at"),
        "trial_type": kind[rows.index].map(lookup),
        "engagement_hours": hands_on,
        "converted": result,
    })
    out.attrs["from_deal"] = from_deal
    return out


def with_support(trial_rows: pd.DataFrame, activities: pd.DataFrame) -> pd.DataFrame:
    """`trial_rows` with `support_hours`: the minutes of ``support`` activities on the same opportunity, in hours.
    Needs activities `opportunity_id`, `kind`, `duration_minutes`."""
    require(activities, ["opportunity_id", "kind", "duration_minutes"], "trial conversion by support")
    support = activities[activities["kind"].astype("string").str.lower() == "support"]
    if support.empty:
        raise MissingColumns("trial conversion by support", ["activities rows of kind 'support'"])
    hours = support.groupby("opportunity_id")["duration_minutes"].sum() / 60.0
    return trial_rows.assign(support_hours=trial_rows["opportunity_id"].map(hours).fillna(0.0))


def bands(values: pd.Series, edges: Sequence[float] | None = None, unit: str = "h", quantiles: int = 4) -> pd.Series:
    """Each value's band as an ordered label such as '2-10 h': the given `edges`, or `quantiles` equal-count bands."""
    if edges is None:
        x = values.astype(float)
        inner = np.nanquantile(x, np.linspace(0, 1, quantiles + 1)[1:-1]).round(1).tolist()
        low, high = np.floor(np.nanmin(x) * 10) / 10, np.ceil(np.nanmax(x) * 10) / 10
        edges = sorted({low, *[e for e in inner if low < e < high], high})
        if len(edges) < 2:
            edges = [low, low + 1.0]
    labels = [f"{lo:g}-{hi:g} {unit}" for lo, hi in zip(edges[:-1], edges[1:])]
    return pd.cut(values.astype(float), bins=list(edges), labels=labels, include_lowest=True)


def conversion(trial_rows: pd.DataFrame, by: str = "trial_type", edges: Sequence[float] | None = None) -> pd.DataFrame:
    """Per group: trials, decided (converted or not), converted, conversion with its 95% Wilson interval.

    `by` is a column of `trial_rows` (``trial_type``, a plan tier...) or ``engagement_hours`` /
    ``support_hours``, which are cut into bands (`edges`, or quartiles of the data).
    """
    require(trial_rows, [by, "converted"], f"trial conversion by {by.replace('_', ' ')}")
    key = bands(trial_rows[by], edges) if by in ("engagement_hours", "support_hours") else trial_rows[by].fillna("(none)")
    frame = pd.DataFrame({"key": key, "decided": trial_rows["converted"].notna(), "converted": trial_rows["converted"].fillna(0.0)})
    g = frame.groupby("key", observed=False, sort=True)
    out = pd.DataFrame({"trials": g.size(), "decided": g["decided"].sum(), "converted": g["converted"].sum()})
    decided = out["decided"].where(out["decided"] > 0)
    out["conversion"] = out["converted"] / decided
    out["conversion_low"], out["conversion_high"] = wilson_ci(out["converted"], decided)
    out.index.name = by
    return out.astype({"decided": int, "converted": int})


def from_subscriptions(subscriptions: pd.DataFrame, usage: pd.DataFrame | None = None, within_days: int = 60,
                       source: str = "subscriptions") -> pd.DataFrame:
    """Trial rows from a subscription table (one row per subscription, trials flagged by `is_trial`).

    A trial converted when the same account starts a paid (non-trial) subscription within `within_days` after
    the trial's start. Engagement is the usage time logged against the trial subscription (`usage`: one row per
    subscription and day with `usage_duration_secs`), zero where none was logged. Extra columns of the trial
    (a plan tier, say) are kept. Needs `subscription_id`, `account_id`, `start_date`, `is_trial`.
    """
    require(subscriptions, ["subscription_id", "account_id", "start_date", "is_trial"], "trials from subscriptions")
    subs = subscriptions.copy()
    subs["is_trial"] = _flags(subs["is_trial"], source, "is_trial")
    subs["start_date"] = _dates(subs["start_date"], source, "start_date")
    trials_ = subs[subs["is_trial"]]
    if trials_.empty:
        raise MissingColumns("trials from subscriptions", ["subscriptions with is_trial true"])
    paid = subs.loc[~subs["is_trial"], ["account_id", "start_date"]].rename(columns={"start_date": "paid_start"})
    pairs = trials_[["subscription_id", "account_id", "start_date"]].merge(paid, on="account_id", how="left")
    gap = (pairs["paid_start"] - pairs["start_date"]).dt.days
    hit = pairs.assign(hit=gap.between(0, within_days)).groupby("subscription_id")["hit"].any()
    hours = pd.Series(0.0, index=trials_["subscription_id"])
    if usage is not None:
        require(usage, ["subscription_id", "usage_duration_secs"], "trial engagement from usage")
        logged = pd.to_numeric(usage["usage_duration_secs"], errors="coerce").groupby(usage["subscription_id"]).sum() / 3600.0
        hours = logged.reindex(hours.index).fillna(0.0)
    extra = [c for c in trials_.columns if c not in ("subscription_id", "account_id", "start_date", "is_trial")]
    return pd.DataFrame({
        "opportunity_id": trials_["subscription_id"].to_numpy(),
        "account_id": trials_["account_id"].to_numpy(),
        "at": trials_["start_date"].to_numpy(),
        "trial_type": "free trial",
        "engagement_hours": hours.reindex(trials_["subscription_id"]).to_numpy(),
        "converted": hit.reindex(trials_["subscription_id"]).astype(float).to_numpy(),
        **{c: trials_[c].to_numpy() for c in extra},
    })


def _flags(values: pd.Series, source: str, column: str) -> pd.Series:
    """True/false values written as booleans or words; a clear error naming the rows that are neither."""
    if values.dtype == bool:
        return values
    text = values.astype("string").str.strip().str.lower()
    out = text.map({"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False})
    bad = out.isna()
    if bad.any():
        rows = ", ".join(f"row {i}: {values[i]!r}" for i in list(values.index[bad])[:5])
        raise ValueError(f"{source}: column {column!r} must be true or false, got {rows}")
    return out.astype(bool)


def _dates(values: pd.Series, source: str, column: str) -> pd.Series:
    """Dates of a column; a clear error naming the rows that are not dates."""
    out = pd.to_datetime(values, errors="coerce")
    bad = out.isna() & values.notna()
    if bad.any():
        rows = ", ".join(f"row {i}: {values[i]!r}" for i in list(values.index[bad])[:5])
        raise ValueError(f"{source}: column {column!r} holds values that are not dates: {rows}")
    return out


def data_headline(trial_rows: pd.DataFrame) -> str:
    """Trial conversion in one sentence: the decided trials' conversion (95% Wilson CI) and, where the data
    has hands-on hours, the upper half of engagement against the lower half."""
    decided = trial_rows[trial_rows["converted"].notna()]
    if decided.empty:
        raise ValueError("no trial in the data is decided yet (converted or not): trial conversion cannot be read")

    def rate(rows: pd.DataFrame) -> str:
        k, n = int(rows["converted"].sum()), len(rows)
        lo, hi = wilson_ci(k, n)
        return f"{k / n:.0%} (95% CI {float(lo):.0%}-{float(hi):.0%}, {n:,} trials)"
    text = f"Of the decided trials, {rate(decided)} converted"
    hours = decided["engagement_hours"]
    if hours.notna().sum() >= 2 and hours.nunique() > 1:
        middle = float(hours.median())
        upper, lower = decided[hours > middle], decided[hours <= middle]
        text += (f"; buyers above the median {middle:.1f} hands-on hours converted {rate(upper)}, "
                 f"those at or below it {rate(lower)}")
    return text + "."
