"""The values an export shows directly, each with its evidence: what `sim.calibrate` reads off the tables.

`ExportFit(tables, base).fit()` returns the base scenario's data with every value the export can show
replaced by its fit, and records an `Evidence` for every value it set or kept: lead arrivals (level,
seasonality, volatility; repeat business per customer-year), segments (shares, fit scores, deal sizes as
lognormals), lead sources (shares; their loss factors are set with the stages, by simulation), first
estimate vs signed amount, reps (owners active per month, their throughput) and the stages' first
guesses (the export's own rates, refined by `sim.experiments.stage_fit`). Rep hours, selling hours,
ramp-up, fit effects and the hidden truth are not in an export: the base's values stay, and say so.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..analysis import fit, markov
from ..analysis.fit import MONTH_DAYS, ONE_STAGE, StageStats, Window
from ..analysis.sufficiency import currency_of
from ..core.schema import require
from ..core.tables import Tables
from ..scenario import Scenario
from ..world.accounts import AccountSettings
from .stage_fit import Measure, StageFit

NOT_IN_EXPORT = "not in the export, preset value"
MIN_CLOSED_PER_SOURCE = 20      # fewer closed deals than this: a source's loss factor is not fitted
MIN_DEALS_PER_SEGMENT = 10      # fewer deals than this: a segment's sizes come from all deals
SEASON_MONTHS = 24              # full months of leads needed to fit seasonality: one year cannot tell season from trend
REPEAT_LABEL = 0.9              # a lead source at least 90% repeat business is the CRM's label for it: its few other deals
                                # (a first win lost to a broken row, say) are repeat business too, not market leads
OVERLOAD = 1.5                  # preset rep hours needing more than 1.5x the reps' selling hours cannot be the export's:
                                # a team runs a little over its hours for a while (deals queue), not half as much again
REP_HOURS_HOW = ("to supply them, time a few deals per stage (or export calls and meetings with their "
                 "durations as an activities table) and set rep_hours")


@dataclass(frozen=True)
class Evidence:
    """Where one scenario value came from: fitted from the export (with n and a 95% interval), or not."""

    path: str
    value: Any
    fitted: bool
    basis: str                    # what it was fitted from, or why it was not, in words
    n: int | None = None
    low: float | None = None
    high: float | None = None

    def note(self) -> str:
        """The YAML comment: ``fitted: <basis>; n = 545, 95% CI 0.35 to 0.43`` or ``not in the export...``."""
        if not self.fitted:
            return self.basis
        parts = [f"fitted: {self.basis}"]
        if self.n is not None:
            parts.append(f"n = {self.n:,}")
        if self.low is not None and self.high is not None:
            parts.append(f"95% CI {_fmt(self.low)} to {_fmt(self.high)}")
        return "; ".join(parts)

    @property
    def has_range(self) -> bool:
        """True when the value has an interval wide enough to vary it over (for `sim.sensitivity`)."""
        return (self.fitted and isinstance(self.value, (int, float)) and self.low is not None
                and self.high is not None and self.high > self.low)



class ExportFit:
    """Fits one export's tables onto a base scenario, collecting the evidence for every value it sets or keeps."""

    def __init__(self, tables: Tables, base: Scenario, end: dt.date | pd.Timestamp | None):
        opp = tables.opportunities
        require(opp, ["opportunity_id", "created_at", "outcome"], "calibration")
        self.notes: list[str] = []
        undated = opp["created_at"].isna()
        if undated.any():
            self.notes.append(f"{int(undated.sum()):,} deal(s) without a creation date (e.g. still prospecting) are left "
                              "out of the fit: when they arrived is unknown")
            opp = opp[~undated].reset_index(drop=True)
            tables = Tables(**{**dict(tables.items()), "opportunities": opp})
        self.tables, self.base, self.opp = tables, base, opp
        win = fit.window(tables)
        self.window = Window(win.start, pd.Timestamp(end).normalize()) if end is not None else win
        self.evidence: dict[str, Evidence] = {}
        self.one_stage = not fit.has_history(tables)
        self.stage_names = [ONE_STAGE] if self.one_stage else fit.stage_order(tables)
        self.data_stats: list[StageStats] = []
        self.source_data: pd.DataFrame | None = None
        self.total_finished = 0

    # -- evidence helpers
    def fitted(self, path: str, value: Any, basis: str, n: int | None = None, ci: tuple[float, float] | None = None) -> Any:
        lo, hi = (None, None) if ci is None or not all(map(math.isfinite, ci)) else ci
        self.evidence[path] = Evidence(path, value, True, basis, n, lo, hi)
        return value

    def kept(self, path: str, value: Any, why: str = NOT_IN_EXPORT) -> Any:
        self.evidence[path] = Evidence(path, value, False, why)
        return value

    # -- the whole fit
    def fit(self, winback_source: str | None = None) -> dict[str, Any]:
        """The base's data with every value the export shows fitted. `winback_source`: the lead source of the nurture
        policy's won-back accounts when the export shows that policy (`sim.experiments.policy_fit`): like repeat
        business, those deals are not new leads from the market, so the lead level, segments and sources leave
        them out (the policy makes them in the simulation; counted twice, they would come twice)."""
        data = self.base.to_dict()
        if (currency := currency_of(self.opp)) is not None and len(currency) <= 12:
            data["currency"] = self.fitted("currency", currency, "the export's currency (its mapping's `currency:` or "
                                           "the amounts' own symbols)", len(self.opp))
        else:
            self.kept("currency", data["currency"], f"{NOT_IN_EXPORT}: the export does not say its currency")
        self.repeat = self._repeat_business(data)
        self.new = ~self.repeat & ~self._made_in_the_simulation(data, winback_source)
        data["market"] = self._market(data["market"])
        data["segments"] = self._segments()
        data["lead_sources"] = self._sources()
        data["deal_value"] = self._deal_value()
        data["reps"] = self._reps(data["reps"])
        data["stages"] = self._stages()
        self._rep_hours(data)
        for path in ("fit_effects.on_loss", "fit_effects.on_size", "fit_effects.on_duration"):
            self.kept(path, _get(data, path), "not fitted, preset value: how much fit scores matter is a model choice; "
                                             "vary it in sim.sensitivity")
        for key in ("budget_share", "competitor_share", "on_budget", "on_power", "on_competitor", "learn_chance"):
            self.kept(f"truth.{key}", data["truth"][key], f"{NOT_IN_EXPORT}: the hidden facts behind deals are not recorded")
        self.kept("accounts.referrals_per_year", data["accounts"]["referrals_per_year"],
                  f"{NOT_IN_EXPORT}: exports do not say which customer referred a new account; they arrive as a lead source")
        return data

    # -- lead flow
    def _made_in_the_simulation(self, data: dict, winback_source: str | None) -> pd.Series:
        """True for the deals (not already counted as repeat business) of a lead source the simulation makes itself:
        the customers' repeat business (when it is fitted, or the customer-orbits policy's expansion deals when that
        policy is on), if the export's source for it holds repeat business almost only (`REPEAT_LABEL`), and the
        nurture policy's won-back accounts. As new leads from the market as well, they would
        come twice (and a scenario refuses a market source of the same name). Each source left out is noted."""
        opp = self.opp
        made = pd.Series(False, index=opp.index)
        if "lead_source" not in opp:
            return made
        sources: dict[str, str] = {}
        repeat_source = data["accounts"]["repeat_source"]
        of_source = opp["lead_source"] == repeat_source
        if of_source.any() and self.repeat[of_source].mean() >= REPEAT_LABEL:   # the CRM's label for repeat business
            orbits = (data.get("policies") or {}).get("orbits") is not None
            if orbits or data["accounts"]["repeat_per_year"] > 0:
                sources[repeat_source] = ("customers' expansion deals, which the customer-orbits policy makes" if orbits
                                          else "customers' repeat business") + " (the rest of that source's deals)"
        if winback_source:
            sources[winback_source] = "won-back accounts, which the nurture policy makes"
        for source, what in sources.items():
            mine = (opp["lead_source"] == source) & ~self.repeat
            if mine.any():
                self.notes.append(f"{int(mine.sum()):,} deal(s) of lead source {source!r} are {what}: the lead level and "
                                  "the sources leave them out")
                made |= mine
        return made

    def _repeat_business(self, data: dict) -> pd.Series:
        opp, end = self.opp, self.window.end
        repeat = fit.repeat_business(opp)
        years = fit.customer_days(opp, end) / 365.25
        limit = AccountSettings.model_fields["repeat_per_year"].metadata
        top = next((m.le for m in limit if hasattr(m, "le")), 52)
        accounts = data["accounts"]
        if "account_id" not in opp or opp["account_id"].isna().all():
            self.kept("accounts.repeat_per_year", accounts["repeat_per_year"],
                      f"{NOT_IN_EXPORT}: without account ids repeat business cannot be told from new")
            self.notes.append("no account ids: every deal is counted as a new lead; repeat business keeps the preset's rate")
            return pd.Series(False, index=opp.index)
        count = int(repeat.sum())
        rate = fit.poisson_ci(count, years) if years > 0 else (math.nan,) * 3
        if not math.isfinite(rate[0]) or rate[0] > top:
            accounts["repeat_per_year"] = 0.0
            self.fitted("accounts.repeat_per_year", 0.0,
                        f"set to 0: {count:,} deals came from accounts that had already signed, {rate[0]:,.0f} per customer-year, "
                        f"more than the {top:g} allowed: account ids here name buyers that bring many deals, so every "
                        "deal is counted as a lead instead")
            self.notes.append(f"repeat business: {count:,} deals from accounts that had already signed is more than the "
                              "simulator's customers bring; all deals are counted as leads (repeat_per_year 0)")
            return pd.Series(False, index=opp.index)
        accounts["repeat_per_year"] = round(rate[0], 3)
        self.fitted("accounts.repeat_per_year", accounts["repeat_per_year"],
                    f"{count:,} deals from accounts that had already signed, over {years:,.1f} customer-years", count,
                    (round(rate[1], 3), round(rate[2], 3)))
        if count:
            accounts["repeat_source"] = str(opp.loc[repeat, "lead_source"].mode().iloc[0]) \
                if "lead_source" in opp and opp.loc[repeat, "lead_source"].notna().any() else accounts["repeat_source"]
        return repeat

    def _market(self, market: dict) -> dict:
        """Lead level, seasonality (two years of data) and volatility, from new business per month."""
        months = fit.monthly_counts(self.opp.loc[self.new, "created_at"], fit.arrival_window(self.opp, self.window))
        full = months[months["days"] >= months.index.days_in_month]
        if months["count"].sum() == 0:
            raise ValueError("calibration needs deals created inside the window; there are none")
        trend = False
        if len(full) >= SEASON_MONTHS:
            by_month = full.groupby(full.index.month)[["count", "days"]].sum()
            rate = by_month["count"] / by_month["days"]
            market["seasonality"] = [round(float(m), 3) for m in rate / rate.mean()]
            half = np.mean([(hi - lo) / 2 / rate.mean() for _, lo, hi in
                            (fit.poisson_ci(c, d) for c, d in zip(by_month["count"], by_month["days"]))])
            self.fitted("market.seasonality", market["seasonality"],
                        f"new leads per day in each calendar month over {len(full)} full months, relative to the "
                        f"average (each month's 95% CI about +/-{half:.2f})", int(by_month["count"].sum()))
            count, exposure = float(full["count"].sum()), float((full["days"] * _season_weights(full, market["seasonality"])).sum())
            basis = f"new leads over {len(full)} full months, season taken out"
        else:
            self.kept("market.seasonality", market["seasonality"],
                      f"{NOT_IN_EXPORT}: telling the season from a trend needs two years of leads ({SEASON_MONTHS} "
                      f"full months), the export has {len(full)}")
            weight = _season_weights(months, market["seasonality"])
            g, g_lo, g_hi = fit.trend(months.assign(count=months["count"] / weight.clip(lower=1e-9)))
            trend = len(full) >= 6 and math.isfinite(g) and (g_lo > 0.02 or g_hi < -0.02)
            if trend:
                recent = full.tail(3)
                count, exposure = float(recent["count"].sum()), float((recent["days"] * weight.reindex(recent.index)).sum())
                way = "grew" if g > 0 else "fell"
                self.notes.append(f"new leads {way} {abs(g):.0%} a month over the export (95% CI {g_lo:+.0%} to "
                                  f"{g_hi:+.0%}): the lead level is the last 3 full months'")
                basis = f"new leads in the last 3 full months (the flow {way} {abs(g):.0%} a month)"
            else:
                count, exposure = float(months["count"].sum()), float((months["days"] * weight).sum())
                basis = f"new leads over {months['days'].sum():,.0f} days, season taken out"
        level = count / exposure * MONTH_DAYS
        swing = None if trend else _month_swing(full, market["seasonality"])
        per_month = level * float(full["days"].mean()) / MONTH_DAYS if len(full) else 0.0
        dispersion = 1.0 + per_month * math.expm1(swing**2) if swing is not None else None    # variance / Poisson's
        widen = math.sqrt(dispersion) if dispersion else 1.0
        _, lo, hi = fit.poisson_ci(count, exposure / MONTH_DAYS)
        market["leads_per_month"] = round(level, 2)
        self.fitted("market.leads_per_month", market["leads_per_month"],
                    basis + (" (interval widened for month-to-month swings)" if widen > 1 else ""), int(count),
                    (round(max(level - (level - lo) * widen, 0.01), 2), round(level + (hi - level) * widen, 2)))
        if swing is not None and len(full) >= 6:
            market["volatility"] = round(min(swing, 2.0), 3)
            self.fitted("market.volatility", market["volatility"],
                        f"swings of new leads from one month to the next beyond chance (log changes, season taken out) "
                        f"over {len(full)} full months", len(full))
        else:
            why = "the lead flow has a trend" if trend else f"needs 6 full months, the export has {len(full)}"
            self.kept("market.volatility", market["volatility"], f"not fitted, preset value: {why}")
        if market.get("shock") is not None:
            self.kept("market.shock", market["shock"], "preset value: a downturn is a what-if, not in the export")
        if market.get("patience_days") is not None:
            self.kept("market.patience_days", market["patience_days"], NOT_IN_EXPORT)
        return market

    # -- who buys
    def _segments(self) -> list[dict]:
        opp, base = self.opp, self.base
        new = opp[self.new]
        by_name = {s.name: s.model_dump() for s in base.segments}
        avg = {k: float(np.average([s[k] for s in by_name.values()], weights=[s["share"] for s in by_name.values()]))
               for k in ("fit_mean", "fit_sd")}
        has_seg = "segment" in opp and opp["segment"].notna().any()
        if has_seg:
            counts = new["segment"].value_counts()
            names = list(counts.index)
            missing = int(new["segment"].isna().sum())
            if missing:
                self.notes.append(f"{missing:,} new deal(s) without a segment: segment shares count the others")
        else:
            names, counts = ["All deals"], pd.Series({"All deals": len(new)})
            self.notes.append("no segment column: one segment, 'All deals'")
        out = []
        sizes = self._size_column()
        for i, name in enumerate(names):
            p = f"segments.{i}"
            known = by_name.get(name, {})
            seg = {"name": name, "share": 1.0, "fit_mean": known.get("fit_mean", round(avg["fit_mean"], 3)),
                   "fit_sd": known.get("fit_sd", round(avg["fit_sd"], 3)), "deal_size": 1.0, "size_spread": 0.5,
                   "accounts": known.get("accounts")}
            if has_seg:
                share, lo, hi = fit.share_ci(float(counts[name]), float(counts.sum()))
                seg["share"] = round(share, 4)
                self.fitted(f"{p}.share", seg["share"], f"{int(counts[name]):,} of {int(counts.sum()):,} new deals",
                            int(counts.sum()), (round(lo, 4), round(hi, 4)))
            else:
                self.fitted(f"{p}.share", 1.0, "the only segment")
            mine = opp["segment"] == name if has_seg else pd.Series(True, index=opp.index)
            self._fit_scores(seg, p, opp[mine], known)
            self._deal_size(seg, p, sizes[mine], opp[mine], sizes)
            if seg["accounts"] is not None:
                self.kept(f"{p}.accounts", seg["accounts"], NOT_IN_EXPORT + ": how many such accounts exist")
            out.append(seg)
        return out

    def _fit_scores(self, seg: dict, p: str, deals: pd.DataFrame, known: dict) -> None:
        if "fit_score" not in deals or deals["fit_score"].notna().sum() < MIN_DEALS_PER_SEGMENT:
            why = "preset value" if known else "the preset segments' average"
            self.kept(f"{p}.fit_mean", seg["fit_mean"], f"not in the export, {why}")
            self.kept(f"{p}.fit_sd", seg["fit_sd"], f"not in the export, {why}")
            return
        first = deals.sort_values("created_at").drop_duplicates("account_id") if "account_id" in deals else deals
        x = first["fit_score"].dropna().to_numpy(dtype=float)
        m, s, n = float(x.mean()), float(x.std(ddof=1)), len(x)
        half = float(stats.t.ppf(0.975, n - 1)) * s / math.sqrt(n)
        limit = math.sqrt(m * (1 - m))
        s = min(s, 0.98 * limit, 0.49)
        seg["fit_mean"], seg["fit_sd"] = round(min(max(m, 0.01), 0.99), 4), round(max(s, 0.005), 4)
        self.fitted(f"{p}.fit_mean", seg["fit_mean"], "fit scores of its accounts (first deal each)", n,
                    (round(m - half, 4), round(m + half, 4)))
        lo_s, hi_s = (s * math.sqrt((n - 1) / stats.chi2.ppf(q, n - 1)) for q in (0.975, 0.025))
        self.fitted(f"{p}.fit_sd", seg["fit_sd"], "fit scores of its accounts (first deal each)", n,
                    (round(lo_s, 4), round(min(hi_s, 0.49), 4)))

    def _size_column(self) -> pd.Series:
        """First estimates where the export has them, else won amounts (noted)."""
        opp = self.opp
        if "first_estimate" in opp and (opp["first_estimate"] > 0).sum() >= MIN_DEALS_PER_SEGMENT:
            self.size_basis = "first estimates"
            return opp["first_estimate"].where(opp["first_estimate"] > 0)
        require(opp, ["amount"], "deal sizes")
        self.size_basis = "won amounts"
        self.notes.append("no first estimates: deal sizes are fitted on won amounts, with the preset's ratio of signed "
                          "amount to first estimate taken out")
        return opp["amount"].where((opp["outcome"] == "won") & (opp["amount"] > 0))

    def _deal_size(self, seg: dict, p: str, sizes: pd.Series, deals: pd.DataFrame, all_sizes: pd.Series) -> None:
        mu, sd, n = fit.log_moments(sizes)
        basis = f"{self.size_basis} of its deals"
        if n < MIN_DEALS_PER_SEGMENT:
            mu, sd, n = fit.log_moments(all_sizes)
            basis = f"{self.size_basis} of all deals (this segment has too few)"
        if n < 2:
            raise ValueError(_too_few_sizes(self.opp, self.size_basis))
        on_size = self.base.fit_effects.on_size
        var_fit = on_size ** 2 * seg["fit_sd"] ** 2
        shift = on_size * (seg["fit_mean"] - 0.5)
        if self.size_basis == "won amounts":
            shift += math.log(self.base.deal_value.realisation_median)
            var_fit += self.base.deal_value.realisation_spread ** 2
        half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
        seg["deal_size"] = round(math.exp(mu - shift), 2)
        self.fitted(f"{p}.deal_size", seg["deal_size"], f"median of {basis} (lognormal; fit scores' part taken out)", n,
                    (round(math.exp(mu - shift - half), 2), round(math.exp(mu - shift + half), 2)))
        var_obs, lo_var, hi_var = sd ** 2, *(sd ** 2 * (n - 1) / stats.chi2.ppf(q, n - 1) for q in (0.975, 0.025))
        how = f"spread (log scale) of {basis}"
        x = sizes.dropna().to_numpy(dtype=float) if n >= MIN_DEALS_PER_SEGMENT else all_sizes.dropna().to_numpy(dtype=float)
        mean, m_lo, m_hi = (x.mean(), *(x.mean() + z * x.std(ddof=1) / math.sqrt(len(x)) for z in (-1.96, 1.96)))
        if not m_lo <= math.exp(mu + var_obs / 2) <= m_hi and mean > math.exp(mu):
            # not lognormal (a few list prices, say): a lognormal with this spread of logs would have the wrong mean,
            # and bookings are sums; set the spread so the mean matches, keep the median
            var_obs = 2 * math.log(mean / math.exp(mu))
            lo_var, hi_var = (2 * math.log(max(m, math.exp(mu) * 1.0001) / math.exp(mu)) for m in (m_lo, m_hi))
            how = (f"spread (log scale) of {basis}, set so the mean ({mean:,.0f}) matches: the sizes are not lognormal "
                   f"(their logs spread {sd:.2f}, which would make the mean {math.exp(mu + sd ** 2 / 2):,.0f})")
            self.notes.append(f"deal sizes{'' if seg['name'] == 'All deals' else ' of ' + seg['name']} are not lognormal: "
                              "the spread is set so their mean matches (see the YAML)")
        spread = math.sqrt(max(var_obs - var_fit, 0.0025))
        lo_s, hi_s = (math.sqrt(max(v - var_fit, 0.0025)) for v in (lo_var, hi_var))
        seg["size_spread"] = round(min(spread, 3.0), 4)
        self.fitted(f"{p}.size_spread", seg["size_spread"], how, n, (round(lo_s, 4), round(min(hi_s, 3.0), 4)))

    def _sources(self) -> list[dict]:
        opp, base = self.opp, self.base
        if "lead_source" not in opp or opp["lead_source"].isna().all():
            for i, s in enumerate(base.lead_sources):
                self.kept(f"lead_sources.{i}.share", s.share)
                self.kept(f"lead_sources.{i}.loss_factor", s.loss_factor)
            return [s.model_dump() for s in base.lead_sources]
        table = fit.source_win_rates(opp, self.new)
        self.source_data = table
        known = {s.name: s for s in base.lead_sources}
        total = float(table["deals"].sum())
        out = []
        for i, (name, row) in enumerate(table.iterrows()):
            share, lo, hi = fit.share_ci(float(row["deals"]), total)
            self.fitted(f"lead_sources.{i}.share", round(share, 4), f"{int(row['deals']):,} of {int(total):,} new deals",
                        int(total), (round(lo, 4), round(hi, 4)))
            k = known.get(name)
            out.append({"name": str(name), "share": round(share, 4), "loss_factor": k.loss_factor if k else 1.0,
                        "duration_factor": k.duration_factor if k else 1.0})
            self.kept(f"lead_sources.{i}.duration_factor", out[-1]["duration_factor"],
                      "not fitted, preset value" if k else "not fitted: 1 (as fast as the others)")
            if row["closed"] < MIN_CLOSED_PER_SOURCE:
                self.kept(f"lead_sources.{i}.loss_factor", out[-1]["loss_factor"],
                          f"not fitted ({int(row['closed'])} closed deals, fewer than {MIN_CLOSED_PER_SOURCE}): "
                          + ("preset value" if k else "1 (as the others)"))
        self.source_names = [s["name"] for s in out]
        return out

    def _deal_value(self) -> dict:
        opp, value = self.opp, self.base.deal_value.model_dump()
        if "first_estimate" not in opp or "amount" not in opp:
            self.kept("deal_value.realisation_median", value["realisation_median"])
            self.kept("deal_value.realisation_spread", value["realisation_spread"])
            return value
        won = opp[(opp["outcome"] == "won") & (opp["amount"] > 0) & (opp["first_estimate"] > 0)]
        mu, sd, n = fit.log_moments(won["amount"] / won["first_estimate"])
        if n < MIN_DEALS_PER_SEGMENT:
            self.kept("deal_value.realisation_median", value["realisation_median"],
                      f"not fitted ({n} won deals with both amounts), preset value")
            self.kept("deal_value.realisation_spread", value["realisation_spread"],
                      f"not fitted ({n} won deals with both amounts), preset value")
            return value
        half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
        value["realisation_median"] = round(math.exp(mu), 4)
        self.fitted("deal_value.realisation_median", value["realisation_median"],
                    "signed amount / first estimate of won deals (median, lognormal)", n,
                    (round(math.exp(mu - half), 4), round(math.exp(mu + half), 4)))
        value["realisation_spread"] = round(min(sd, 3.0), 4)
        lo_s, hi_s = (sd * math.sqrt((n - 1) / stats.chi2.ppf(q, n - 1)) for q in (0.975, 0.025))
        self.fitted("deal_value.realisation_spread", value["realisation_spread"], "spread (log scale) of that ratio", n,
                    (round(lo_s, 4), round(min(hi_s, 3.0), 4)))
        return value

    # -- the team
    def _reps(self, reps: dict) -> dict:
        opp = self.opp
        for key in ("selling_hours_per_week", "ramp_days", "ramp_start"):
            self.kept(f"reps.{key}", reps[key], f"{NOT_IN_EXPORT}: how much of a rep's week goes to selling, and how "
                      "fast new reps come up to speed, are not recorded" if key == "selling_hours_per_week" else NOT_IN_EXPORT)
        reps["hires"] = []
        if reps.get("quota") is not None:
            self.kept("reps.quota", reps["quota"], NOT_IN_EXPORT)
        if "owner" not in opp or opp["owner"].isna().all():
            self.kept("reps.count", reps["count"], f"{NOT_IN_EXPORT}: no deal owners")
            self.throughput = None
            return reps
        active = fit.active_owners(opp, self.window)
        if active.empty:
            self.kept("reps.count", reps["count"], "not fitted, preset value: the export has no full month")
            self.throughput = None
            return reps
        recent = active["owners"].tail(3)
        reps["count"] = max(1, int(round(float(recent.median()))))
        lo, hi = int(active["owners"].min()), int(active["owners"].max())
        self.fitted("reps.count", reps["count"], f"owners with a deal created or closed, per month: last 3 full months "
                    f"{', '.join(map(str, recent))}; over {len(active)} full months {lo} to {hi}", len(active),
                    (lo, hi) if hi > lo else None)
        per = active["closed"] / active["owners"].replace(0, np.nan)
        self.throughput = fit.quantile_ci(per.dropna(), 0.5) if per.notna().any() else None
        if self.throughput is not None:
            self.notes.append(f"throughput: a median {self.throughput[0]:.1f} deals closed per active owner and month "
                              f"(95% CI {self.throughput[1]:.1f} to {self.throughput[2]:.1f}, {len(active)} months)")
        return reps

    # -- stages
    def _stages(self) -> list[dict]:
        end = self.window.end
        stay = fit.stays(self.tables, end, None if self.one_stage else self.stage_names)
        self.stays = stay
        if self.one_stage:
            self.notes.append("no stage history: one stage, 'Open deal', from creation to close; its time is fitted on "
                              "won deals (when bookings land); lost deals then take as long as won ones")
        base_stages = {s.name: s for s in self.base.stages}
        out = []
        for i, name in enumerate(self.stage_names):
            st = fit.stage_stats(stay[stay["index"] == i])
            self.data_stats.append(st)
            self.total_finished += st.finished
            like = base_stages.get(name) or (self.base.stages[i] if len(self.base.stages) == len(self.stage_names) else None)
            stall_c = like.stall_chance if like else float(np.mean([s.stall_chance for s in self.base.stages]))
            stall_d = like.stall_days if like else float(np.mean([s.stall_days for s in self.base.stages]))
            median = st.median[0] if math.isfinite(st.median[0]) else (like.median_days if like else 14.0)
            spread = st.low_spread if math.isfinite(st.low_spread) else 0.5
            loss = st.loss[0] if math.isfinite(st.loss[0]) else (like.loss_chance if like else 0.1)
            hours = like.rep_hours if like else 4.0
            rep_days = hours / (self.base.reps.selling_hours_per_week / 7)
            timed = stay.loc[(stay["index"] == i) & stay["fate"].isin(["passed", "back"] if self.one_stage else
                                                                       ["passed", "back", "lost"]), "days"]
            share, m1, s1, m2, s2 = fit.two_lognormals(timed)
            if math.isfinite(share) and 0.1 < share < 0.9 and m2 - m1 > 2 * max(s1, s2):   # two humps: quick, or stalled
                median, spread, stall_c, stall_d = math.exp(m1), s1, share, math.exp(m2) - math.exp(m1)
            out.append({"name": name, "median_days": round(max(median - rep_days, 0.5 * median, 0.05), 3),
                        "spread": round(min(max(spread, 0.05), 3.0), 4), "rep_hours": hours, "loss_chance": round(min(loss, 0.95), 4),
                        "stall_chance": round(min(stall_c, 1.0), 4), "stall_days": round(max(stall_d, 0.5), 2)})
        if self.one_stage and self.stays["fate"].eq("lost").any():
            lost_days = self.stays.loc[self.stays["fate"] == "lost", "days"].median()
            self.notes.append(f"won deals took a median {self.data_stats[0].median[0]:.0f} days, lost ones "
                              f"{lost_days:.0f}: a stage history would tell the simulator where deals are lost")
        return out

    def _rep_hours(self, data: dict) -> None:
        """Rep hours are not in an export: the base's, unless the export's pace makes them impossible."""
        stages, base = data["stages"], self.base
        if self.one_stage:
            hours = _hours_per_deal(base.stages)
            stages[0]["rep_hours"] = round(hours, 2)
            origin = f"the preset's expected rep hours per deal over its stages ({hours:.1f} h)"
        else:
            origin = "the preset's" if [s["name"] for s in stages] == base.stage_names else "the preset's, by position"
        per_rep = len(self.opp) / (fit.arrival_window(self.opp, self.window).days / MONTH_DAYS) / data["reps"]["count"]
        need = _weekly_hours(per_rep, stages)
        have = data["reps"]["selling_hours_per_week"]
        base_per_rep = base.market.leads_per_month / base.reps.count
        base_load = _weekly_hours(base_per_rep, [s.model_dump() for s in base.stages]) / base.reps.selling_hours_per_week
        why = f"{NOT_IN_EXPORT}" if origin == "the preset's" else f"not in the export: {origin}"
        if need > OVERLOAD * have:
            scale = base_load * have / need
            for st in stages:
                st["rep_hours"] = round(st["rep_hours"] * scale, 3)
            why = (f"not in the export: {origin} scaled by {scale:.2f}, because at the export's pace ({per_rep:.1f} deals "
                   f"per rep and month) they would need {need:.0f} h a week per rep, far more than the {have:g} selling hours; "
                   f"scaled, reps are as busy as in the preset ({base_load:.0%} of their selling hours)")
            self.notes.append(f"rep hours per stage scaled by {scale:.2f} to fit the export's pace (see the YAML)")
        for i, st in enumerate(stages):
            self.kept(f"stages.{i}.rep_hours", st["rep_hours"], f"{why}; {REP_HOURS_HOW}")

    # -- what the stage fit needs
    def measure(self) -> Measure:
        """How to measure a simulated run exactly as this export was measured."""
        return Measure(self.window.end, tuple(self.stage_names), self.one_stage, self.source_data is not None)

    def update_sources(self, scenario: Scenario, sim_rates: dict[str, float]) -> list[dict] | None:
        """Move each lead source's loss factor so its simulated win rate comes closer to the export's.

        A loss factor scales a deal's stage loss chances, so it scales log(win rate) roughly in proportion:
        the step is log(export's rate) / log(simulated rate). The sources' share-weighted average factor is
        then set back to the base's: the overall level of losses belongs to the stages.
        """
        table = self.source_data
        if table is None:
            return None
        sources = [s.model_dump() for s in scenario.lead_sources]
        fitted = [s for s in sources if s["name"] in table.index and table.loc[s["name"], "closed"] >= MIN_CLOSED_PER_SOURCE]
        for s in fitted:
            w_data, w_sim = float(table.loc[s["name"], "win_rate"]), sim_rates.get(s["name"], math.nan)
            if 0 < w_data < 1 and 0 < w_sim < 1:
                s["loss_factor"] *= float(np.clip(math.log(w_data) / math.log(w_sim), 0.5, 2.0))
        if fitted:
            base = self.base.lead_sources
            target = float(np.average([b.loss_factor for b in base], weights=[b.share for b in base]))
            mean = float(np.average([s["loss_factor"] for s in sources], weights=[s["share"] for s in sources]))
            for s in fitted:
                s["loss_factor"] = round(float(np.clip(s["loss_factor"] * target / mean, 0.05, 5.0)), 4)
        return sources

    # -- evidence of what was set by simulation
    def description(self, base_name: str) -> str:
        w = self.window
        return (f"Fitted to an export of {len(self.opp):,} deals from {w.start:%Y-%m-%d} to {(w.end - fit.DAY):%Y-%m-%d}"
                f" ({'no stage history: one stage' if self.one_stage else f'{len(self.stage_names)} stages from stage history'}); "
                f"what the export cannot show keeps the values of the preset {base_name!r}. "
                "Each fitted value's comment gives its evidence (n, 95% CI).")

    def stage_evidence(self, scenario: Scenario, stage_fit: StageFit | None) -> None:
        """Evidence for each stage setting: the statistic it matches, n, and its interval."""
        for i, (st, d) in enumerate(zip(scenario.stages, self.data_stats)):
            p, where = f"stages.{i}", f"stays in {st.name}"
            ok = stage_fit.identified[i] if stage_fit else ()
            ci = stage_fit.intervals[i] if stage_fit else {}
            by = " (set by simulation to match)"
            basis = {
                "loss_chance": f"{d.lost:,} of {d.lost + d.passed:,} closed-out {where} were lost{by}",
                "median_days": f"median {d.median[0]:.1f} days of {d.finished:,} finished {where}, which also hold rep "
                               f"time and waiting{by}",
                "spread": f"spread of the shorter half of {where}{by}",
                "stall_chance": f"the slowest 10% of {where} took over {d.p90[0]:.0f} days, the median "
                                f"{d.median[0]:.0f}{by}",
                "stall_days": f"the slowest 5% of {where} took over {d.p95[0]:.0f} days{by}",
            }
            n = {"loss_chance": d.lost + d.passed}
            for key in ("loss_chance", "median_days", "spread", "stall_chance", "stall_days"):
                value = getattr(st, key)
                if key in ok:
                    self.fitted(f"{p}.{key}", value, basis[key], n.get(key, d.finished), ci.get(key))
                elif stage_fit is None:
                    self.kept(f"{p}.{key}", value, "not fitted: set from the export's own rates without simulation"
                              if key in ("loss_chance", "median_days", "spread") and d.finished else NOT_IN_EXPORT)
                else:
                    why = "no stay here has ended yet" if key == "loss_chance" else f"only {d.finished} finished stays"
                    self.kept(f"{p}.{key}", value, f"not fitted ({why}), preset value")

    def source_evidence(self, scenario: Scenario) -> None:
        """Evidence for each fitted lead-source loss factor: the source's win rate, carried over as it was fitted."""
        if self.source_data is None:
            return
        table = self.source_data
        for i, s in enumerate(scenario.lead_sources):
            if s.name not in table.index or table.loc[s.name, "closed"] < MIN_CLOSED_PER_SOURCE:
                continue
            row = table.loc[s.name]
            w, lo, hi = float(row["win_rate"]), float(row["ci_low"]), float(row["ci_high"])
            ci = tuple(s.loss_factor * math.log(min(max(x, 1e-6), 1 - 1e-6)) / math.log(w) if 0 < w < 1 else s.loss_factor
                       for x in (hi, lo))
            self.fitted(f"lead_sources.{i}.loss_factor", s.loss_factor,
                        f"win rate {w:.0%} of its {int(row['closed']):,} closed new deals, against the others "
                        "(set by simulation)", int(row["closed"]), (round(ci[0], 4), round(ci[1], 4)))

    def markov_notes(self, chain: markov.Chain) -> None:
        if not self.one_stage and not chain.linear:
            c = chain.counts.to_numpy()[:, : len(chain.states)]
            moves = int(c.sum() - sum(c[i, i + 1] for i in range(len(chain.states) - 1)))
            self.notes.append(f"{moves:,} stage change(s) skip a stage or go back: the Markov chain keeps them, the "
                              "simulator walks the stages in order")


# ---- helpers ------------------------------------------------------------------------------------------------
def _fmt(x: float) -> str:
    if isinstance(x, (int, np.integer)) or (abs(x) >= 100 and float(x).is_integer()):
        return f"{int(x):,}"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def _get(data: dict, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def _season_weights(months: pd.DataFrame, season: list[float] | None) -> pd.Series:
    """Per month of the window, the lead rate's seasonal multiplier (1 when flat)."""
    if season is None:
        return pd.Series(1.0, index=months.index)
    s = np.asarray(season, dtype=float)
    return pd.Series(s[months.index.month - 1] / s.mean(), index=months.index)


def _month_swing(full: pd.DataFrame, season: list[float] | None) -> float | None:
    """The lognormal spread of the lead rate from month to month (the scenario's volatility), beyond chance.

    From the changes between consecutive full months (log ratios, season taken out), so a level that drifts
    or ramps up over the export is not read as volatility: Var(change) = 2 s^2 + 1/count + 1/previous count.
    """
    consecutive = full.index[1:] == full.index[:-1] + 1
    rate = (full["count"] / (full["days"] * _season_weights(full, season))).to_numpy(dtype=float)
    count = full["count"].to_numpy(dtype=float)
    ok = consecutive & (count[1:] > 0) & (count[:-1] > 0)
    if ok.sum() < 5:
        return None
    change = np.log(rate[1:][ok] / rate[:-1][ok])
    chance = float(np.mean(1 / count[1:][ok] + 1 / count[:-1][ok]))
    return math.sqrt(max(float(change.var(ddof=1)) - chance, 0.0) / 2)


def _reach(stages: list[dict]) -> list[float]:
    """Share of deals that reach each stage, from the stages' loss chances."""
    reach, out = 1.0, []
    for s in stages:
        out.append(reach)
        reach *= 1 - s["loss_chance"]
    return out


def _hours_per_deal(stages) -> float:
    dumped = [s if isinstance(s, dict) else s.model_dump() for s in stages]
    return float(sum(r * s["rep_hours"] for r, s in zip(_reach(dumped), dumped)))


def _weekly_hours(deals_per_rep_month: float, stages: list[dict]) -> float:
    """Rep hours a week each rep needs for this many new deals a month, with these stages' hours."""
    return deals_per_rep_month * _hours_per_deal(stages) / (MONTH_DAYS / 7)


def _too_few_sizes(opp: pd.DataFrame, basis: str) -> str:
    """Why deal sizes cannot be fitted, in the export's own terms (an export of only open deals has amounts, but
    none of them is a won deal's)."""
    counts = {k: int((opp["outcome"] == k).sum()) for k in ("won", "lost", "open")}
    made = f"{len(opp):,} deals: {counts['won']} won, {counts['lost']} lost, {counts['open']} open"
    if basis == "won amounts":
        amounts = int((opp["amount"] > 0).sum()) if "amount" in opp else 0
        won = int(((opp["outcome"] == "won") & (opp["amount"] > 0)).sum()) if "amount" in opp else 0
        if counts["won"] == 0:
            return (f"calibration needs closed deals: deal sizes are fitted on won deals' amounts (the export has no first "
                    f"estimates), and this export has no won deal ({made}; {amounts:,} with an amount). Export the "
                    "closed opportunities too (won and lost, e.g. the last two years), not only the open pipeline")
        return (f"calibration needs deal amounts: deal sizes are fitted on won deals' amounts (the export has no first "
                f"estimates), and only {won} won deal(s) have a positive amount ({made}); at least 2 are needed")
    return f"calibration needs deal amounts: fewer than 2 deals have a positive first estimate or amount ({made})"
