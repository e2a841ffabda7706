"""A simulated history as a CRM would have shown it on an earlier date: successive exports with a known truth.

`as_of(tables, date)` takes the canonical tables of a whole simulated run and gives what an export taken at the
end of `date` would have held: deals created later are absent; a deal closed later is open, in the stage it was
in then, with the amount it then carried (its first estimate: the simulator signs a won deal's amount at the
close); stays in a stage that ended later are still open; later activities are absent. `playbook synth --as-of
DATE` writes these tables in a CRM's layout, so two such exports of one run differ exactly as the run did.

An open deal's expected close date as it stood (`expected_close_at`): the simulator has no close-date field, so
we assume the usual CRM habit: a deal is expected `EXPECTED_CYCLE_DAYS` after its creation, and once that date
has passed with the deal still open, its owner moves it to the end of the month after the export date. This
rule (an assumption, not a finding) is what makes deals "pushed out" between two exports.
"""

from __future__ import annotations

import pandas as pd

from ..core import schema
from ..core.tables import Tables
from .synth import EXPECTED_CYCLE_DAYS


def cutoff(date) -> pd.Timestamp:
    """The first moment after `date`'s day: an export taken at the end of `date` holds what happened before it."""
    return pd.Timestamp(date).normalize() + pd.Timedelta(days=1)


def expected_close(created: pd.Series, date) -> pd.Series:
    """The expected close date of deals open at the end of `date` (see the module text)."""
    day = pd.Timestamp(date).normalize()
    planned = (created + pd.Timedelta(days=EXPECTED_CYCLE_DAYS)).dt.normalize()
    rolled = (day.to_period("M") + 1).to_timestamp(how="end").normalize()
    return planned.where(planned > day, rolled)


def stage_at(stage_history: pd.DataFrame, when: pd.Timestamp) -> pd.Series:
    """Each deal's stage at the moment `when` (the stay it was in then), by opportunity id."""
    h = stage_history
    live = h[(h["entered_at"] < when) & (h["exited_at"].isna() | (h["exited_at"] >= when))]
    return live.sort_values("entered_at", kind="stable").drop_duplicates("opportunity_id", keep="last") \
        .set_index("opportunity_id")["stage"]


def as_of(tables: Tables, date) -> Tables:
    """The tables an export taken at the end of `date` would have held (see the module text)."""
    end = cutoff(date)
    opp = tables.opportunities
    opp = opp[opp["created_at"] < end].copy()
    still_open = opp["closed_at"].isna() | (opp["closed_at"] >= end)
    opp.loc[still_open, "outcome"] = "open"
    opp["closed_at"] = opp["closed_at"].where(~still_open)
    if "first_estimate" in opp:
        opp["amount"] = opp["amount"].where(~still_open, opp["first_estimate"])
    for col in ("loss_reason", "competitor"):
        if col in opp:
            opp[col] = opp[col].where(~still_open, None)
    hist = tables.stage_history
    hist = hist[hist["entered_at"] < end].copy()
    hist["exited_at"] = hist["exited_at"].where(hist["exited_at"] < end)
    now = stage_at(hist, end)
    opp["stage"] = opp["stage"].where(~still_open, opp["opportunity_id"].map(now))
    opp["expected_close_at"] = expected_close(opp["created_at"], date).where(still_open)
    acts = tables.activities
    acts = acts[acts["at"] < end] if len(acts) else acts
    keep = set(opp["opportunity_id"])
    hist = hist[hist["opportunity_id"].isin(keep)]
    accounts = tables.accounts
    if len(accounts) and "account_id" in opp:
        accounts = accounts[accounts["account_id"].isin(set(opp["account_id"]))]
    return Tables(opportunities=opp.reset_index(drop=True), stage_history=hist.reset_index(drop=True),
                  activities=acts.reset_index(drop=True), accounts=accounts.reset_index(drop=True),
                  forecasts=schema.empty("forecasts"))
