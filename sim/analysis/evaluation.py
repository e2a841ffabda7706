"""Where deals are lost, and why: loss reasons, the stage of loss, and what a bug in evaluation did to a deal.

Everything here reads the canonical tables only, so it runs on a CRM export and on a simulated run alike.
CRMs spell loss reasons their own way ("Product issue", "Technical fit", "Bug"), so a reason counts as a
bug when it contains one of `BUG_WORDS` (case-insensitive; pass your own words). The stage of loss is the
`stage` of a lost deal: the last stage it was in (the loaders fill it from the stage history when the
export's own stage column only says "Closed Lost").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..core.schema import MissingColumns, require
from ..core.stats import wilson_ci

BUG_WORDS = ("bug", "defect", "crash", "error", "broken", "quality", "technical", "product issue", "stability")
NO_REASON = "(no reason given)"
DAY = pd.Timedelta(days=1)


def is_bug(reasons: pd.Series, words: Sequence[str] = BUG_WORDS) -> pd.Series:
    """Whether each loss reason reads as a bug (contains one of `words`, case-insensitive); False where empty."""
    pattern = "|".join(re.escape(w.lower()) for w in words)
    return reasons.fillna("").astype(str).str.lower().str.contains(pattern, regex=True)


def _lost(opportunities: pd.DataFrame, analysis: str, extra: list[str]) -> pd.DataFrame:
    require(opportunities, ["outcome", *extra], analysis)
    lost = opportunities[opportunities["outcome"] == "lost"]
    if lost.empty:
        raise MissingColumns(analysis, ["lost deals (outcome 'lost')"])
    return lost


def loss_reasons(opportunities: pd.DataFrame, words: Sequence[str] = BUG_WORDS) -> pd.DataFrame:
    """Per loss reason: lost deals, their share of all losses with a 95% Wilson interval, and whether it reads
    as a bug. Lost deals without a reason are counted as such, not dropped. Needs `outcome`, `loss_reason`."""
    lost = _lost(opportunities, "loss reasons", ["loss_reason"])
    reasons = lost["loss_reason"].fillna(NO_REASON).astype(str).str.strip().replace("", NO_REASON)
    out = reasons.value_counts().rename("lost").to_frame()
    out.index.name = "loss_reason"
    out["share"] = out["lost"] / len(lost)
    out["share_low"], out["share_high"] = wilson_ci(out["lost"], len(lost))
    out["bug"] = is_bug(pd.Series(out.index.where(out.index != NO_REASON, ""), index=out.index), words)
    return out


def stage_of_loss(opportunities: pd.DataFrame, stages: Sequence[str] | None = None,
                  words: Sequence[str] = BUG_WORDS) -> pd.DataFrame:
    """Per stage (pipeline order if `stages` is given): deals lost there, those lost to a bug, the bug share of
    that stage's losses (95% Wilson) and the stage's share of all bug losses. Needs `outcome`, `stage`, `loss_reason`."""
    lost = _lost(opportunities, "stage of loss", ["stage", "loss_reason"])
    bug = is_bug(lost["loss_reason"], words)
    stage = lost["stage"].fillna("(stage unknown)")
    out = pd.DataFrame({"lost": stage.value_counts(), "lost_to_bugs": stage[bug].value_counts()}).fillna(0).astype(int)
    order = [s for s in (stages or []) if s in out.index] + [s for s in out.index if s not in (stages or [])]
    out = out.reindex(order)
    out.index.name = "stage"
    out["bug_share"] = out["lost_to_bugs"] / out["lost"]
    out["bug_share_low"], out["bug_share_high"] = wilson_ci(out["lost_to_bugs"], out["lost"])
    total = out["lost_to_bugs"].sum()
    out["share_of_bug_losses"] = out["lost_to_bugs"] / total if total else np.nan
    return out


def bug_outcomes(activities: pd.DataFrame) -> pd.DataFrame:
    """What came of each bug a customer met (activities of kind ``bug``): count and share per outcome, with the
    rep minutes spent. Needs `kind`, `outcome` (and `duration_minutes` for the minutes)."""
    require(activities, ["kind", "outcome"], "bug outcomes")
    bugs = activities[activities["kind"].astype(str).str.lower() == "bug"]
    if bugs.empty:
        raise MissingColumns("bug outcomes", ["activities rows of kind 'bug'"])
    minutes = bugs["duration_minutes"] if "duration_minutes" in bugs else pd.Series(np.nan, index=bugs.index)
    frame = pd.DataFrame({"outcome": bugs["outcome"].fillna("(not recorded)"), "minutes": minutes})
    out = frame.groupby("outcome").agg(bugs=("minutes", "size"), rep_minutes=("minutes", "sum"))
    out["share"] = out["bugs"] / out["bugs"].sum()
    return out.sort_values("bugs", ascending=False)


def bug_stage(tables, default: str | None = None, kinds: Sequence[str] = ("bug",)) -> str:
    """The stage in which customers met bugs: the stage most deals were in when a ``bug`` activity was logged
    (from the stage history), so a CRM whose evaluation stage has another name needs no setting. Returns
    `default` when the data cannot say (no bug rows, no stage history, no dates); without a default, raises
    `MissingColumns` naming what is missing. `kinds`: the activity kinds to place (e.g. trials: trial, pilot)."""
    act, hist = tables.activities, tables.stage_history
    try:
        require(act, ["opportunity_id", "kind", "at"], "stage of the bugs")
        require(hist, ["opportunity_id", "stage", "entered_at"], "stage of the bugs")
        bugs = act.loc[act["kind"].astype(str).str.lower().isin(kinds), ["opportunity_id", "at"]].dropna()
        if bugs.empty:
            raise MissingColumns("stage of the bugs", [f"activities rows of kind {' or '.join(map(repr, kinds))}"])
        stays = hist[["opportunity_id", "stage", "entered_at"]].assign(
            exited_at=hist["exited_at"] if "exited_at" in hist else pd.NaT)
        both = bugs.merge(stays, on="opportunity_id")
        # a date-only bug (a task's date) counts from the start of the day the stay began
        inside = (both["at"] >= both["entered_at"].dt.normalize()) & (both["exited_at"].isna() | (both["at"] < both["exited_at"]))
        found = both.loc[inside].drop_duplicates(["opportunity_id", "at"], keep="last")["stage"]
        if found.empty:
            raise MissingColumns("stage of the bugs", ["stage_history stays holding the bugs' dates"])
        return str(found.value_counts().idxmax())
    except MissingColumns:
        if default is None:
            raise
        return default


def bug_impact(tables, stage: str = "Evaluation of Options") -> pd.DataFrame:
    """Closed deals that reached `stage`, split by whether their customer met a bug (activities of kind ``bug``):
    deals, win rate (95% Wilson), median days from creation to win and median signed / first estimate of won deals.

    Only deals that reached the stage are compared, so deals lost before anyone evaluated do not flatter the
    bug-free side. Needs stage_history (`opportunity_id`, `stage`), activities (`opportunity_id`, `kind`) and
    opportunities (`opportunity_id`, `outcome`, `created_at`, `closed_at`; `amount`, `first_estimate` for the price).
    """
    opp, hist, act = tables.opportunities, tables.stage_history, tables.activities
    require(opp, ["opportunity_id", "outcome", "created_at", "closed_at"], "bug impact")
    require(hist, ["opportunity_id", "stage"], "bug impact")
    require(act, ["opportunity_id", "kind"], "bug impact")
    reached = set(hist.loc[hist["stage"] == stage, "opportunity_id"])
    if not reached:
        raise MissingColumns("bug impact", [f"stage_history rows of stage {stage!r}"])
    bugged = set(act.loc[act["kind"].astype(str).str.lower() == "bug", "opportunity_id"].dropna())
    if not bugged:
        raise MissingColumns("bug impact", ["activities rows of kind 'bug'"])
    deals = opp[opp["opportunity_id"].isin(reached) & opp["outcome"].isin(["won", "lost"])]
    won = deals["outcome"] == "won"
    cycle = ((deals["closed_at"] - deals["created_at"]) / DAY).where(won)
    price = (deals["amount"] / deals["first_estimate"]).where(won) if {"amount", "first_estimate"} <= set(deals) else np.nan
    frame = pd.DataFrame({"group": np.where(deals["opportunity_id"].isin(bugged), "met a bug", "no bug"),
                          "won": won, "cycle": cycle, "price": price})
    out = frame.groupby("group").agg(deals=("won", "size"), won=("won", "sum"),
                                     median_days_to_win=("cycle", "median"), median_price_ratio=("price", "median"))
    out["win_rate"] = out["won"] / out["deals"]
    out["win_rate_low"], out["win_rate_high"] = wilson_ci(out["won"], out["deals"])
    return out.reindex(["no bug", "met a bug"])[["deals", "won", "win_rate", "win_rate_low", "win_rate_high",
                                                 "median_days_to_win", "median_price_ratio"]]


def data_headline(stage: str, impact: pd.DataFrame | None = None, losses: pd.DataFrame | None = None) -> str:
    """What the data says about bugs, in one sentence: from `bug_impact` (closed deals that reached `stage`, with
    and without a bug: win rate with its 95% Wilson CI, median signed / first estimate), else from
    `stage_of_loss` (the share of `stage`'s losses that were bugs, with its interval)."""
    if impact is not None:
        hit, clean = impact.loc["met a bug"], impact.loc["no bug"]
        price = (f", and signed a median {hit['median_price_ratio']:.0%} of their first estimate against "
                 f"{clean['median_price_ratio']:.0%}" if hit["median_price_ratio"] == hit["median_price_ratio"]
                 and clean["median_price_ratio"] == clean["median_price_ratio"] else "")
        return (f"Of the closed deals that reached {stage}, those whose customer met a bug won {hit['win_rate']:.0%} "
                f"(95% CI {hit['win_rate_low']:.0%}-{hit['win_rate_high']:.0%}, {hit['deals']:,.0f} deals) against "
                f"{clean['win_rate']:.0%} ({clean['win_rate_low']:.0%}-{clean['win_rate_high']:.0%}, "
                f"{clean['deals']:,.0f} deals) for those that met none{price}.")
    if losses is not None:
        total = int(losses["lost_to_bugs"].sum())
        if stage in losses.index:
            row = losses.loc[stage]
            return (f"{total:,} of {int(losses['lost'].sum()):,} lost deals name a bug as the reason; in {stage}, bugs "
                    f"are {row['bug_share']:.0%} of the losses (95% CI {row['bug_share_low']:.0%}-"
                    f"{row['bug_share_high']:.0%}, {row['lost']:,.0f} deals lost there).")
        return f"{total:,} of {int(losses['lost'].sum()):,} lost deals name a bug as the reason."
    raise ValueError("data_headline needs bug_impact or stage_of_loss")
