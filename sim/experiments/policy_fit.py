"""The policies' settings fitted from an export, for `sim.calibrate`: what the leader's rows show of how their
team listens, holds first meetings, runs trials, meets bugs and loses to competitors.

`fit_policies(tables, data)` measures the effects (`sim.analysis.effects`), switches on each policy the
export shows (a team whose export records first meetings by format holds them; one that records bugs met in
evaluation has them) and sets the settings the effects map onto:

=====================================  ==============================================================
listening.rep_talk_share, questions    the team's habits from call recordings (t interval over reps)
first_meeting.mix / format             the share of deals by the kind of their first meeting
first_meeting.formats.<f>.show_rate    held / booked first meetings of that kind (Wilson interval)
first_meeting.formats.<f>.attendees    mean customer attendees when held (t interval)
bugs.bug_chance                        evaluations meeting a bug, divided by what testing and a beta leave
bugs.fatal_share                       bugs after which the buyer left, net of those who walked while
                                       waiting for support (given the kept walk_per_day and response_hours)
trials.offer, engagement               the trial type, and its buyers' typical engagement (logit mean)
nurture.competitors                    each competitor's share of the losses to a named competitor
nurture.winback_nurtured (or _cold)    accounts first lost to a competitor that came back as a deal of the
                                       win-back source, over what the kept failure rate, failure months,
                                       experience and tenure discounts let through in the export's window
=====================================  ==============================================================

The export's deals of the nurture policy's win-back source are the policy's (`winback_source`): `sim.calibrate`
leaves them out of the lead level and the lead sources, as it does repeat business, so they do not come twice.

Every other setting of a policy that is on keeps its value, with its provenance (`sim.experiments.provenance`):
a published figure, or an assumption with the range explored. Effects that map onto no single setting (the
win rate by talk share, by attendees, with a bug; the win-back rate and its lag) are kept in `effects` for the
calibration's `effects()` table and the notebooks' data halves.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..analysis import effects as measured
from ..analysis import evaluation, fit as fitting
from ..analysis.effects import Effect
from ..core.tables import Tables
from ..engine.hooks import REGISTRY
from .export_fit import Evidence

POLICIES = ("listening", "first_meeting", "bugs", "trials", "nurture")

# why a policy's settings stay the preset's when a deals export cannot show them (the calibration table and the YAML
# say it; `sim.experiments.provenance` gives each the range it is explored over)
KEPT_WHY = {
    "incentives": "not in the export, preset value: how reps' effort answers quotas, awards and standings cannot be "
                  "read from one programme's results (it needs programmes that changed); the directions follow Chung, "
                  "Steenburgh and Sudhir 2014 and Casas-Arce and Martinez-Jerez 2009, the sizes are assumed",
    "orbits": "not in the export, preset value: orbit moves, churn, expansion and referrals need account-lifecycle "
              "data (accounts, subscriptions, churn events: notebook 02 reads one); a deals export records deals, not "
              "where accounts sit between them",
}


class PolicyFit:
    """Fits the policies an export shows onto a scenario's data, collecting the evidence for every setting."""

    def __init__(self, tables: Tables, end: pd.Timestamp | None = None):
        self.tables = tables
        self.end = pd.Timestamp(end) if end is not None else fitting.window(tables).end
        self.effects: dict[str, list[Effect]] = measured.measure(tables)
        self.evidence: dict[str, Evidence] = {}
        self.notes: list[str] = []

    def get(self, key: str) -> Effect | None:
        return next((e for found in self.effects.values() for e in found if e.key == key), None)

    def _fitted(self, path: str, value: float, e: Effect, basis: str | None = None,
                ci: tuple[float, float] | None = None) -> float:
        lo, hi = ci if ci is not None else (e.low, e.high)
        ok = all(math.isfinite(x) for x in (lo, hi))
        self.evidence[path] = Evidence(path, value, True, basis or f"{e.what}; {e.rows}", e.n,
                                       lo if ok else None, hi if ok else None)
        return value

    # -- the whole fit
    def fit(self, data: dict[str, Any]) -> dict[str, Any]:
        """`data` (a scenario's plain data) with the policies the export shows switched on and their settings fitted."""
        policies = dict(data.get("policies") or {})
        for key in POLICIES:
            if key not in self.effects:
                continue
            current = policies.get(key)
            if key == "nurture" and not self._nurture_fits(data, current):
                continue
            settings = dict(current) if isinstance(current, dict) else REGISTRY[key]().model_dump(mode="python")
            getattr(self, f"_{key}")(settings)
            policies[key] = settings
        data = {**data, "policies": policies}
        self._keep(data)
        return data

    def _keep(self, data: dict[str, Any]) -> None:
        """An Evidence (not fitted) for every number of every policy that is on and that the export did not give."""
        for key, settings in (data.get("policies") or {}).items():
            if not isinstance(settings, dict):
                continue
            for path, value in _leaves(settings, f"policies.{key}"):
                if path not in self.evidence:
                    self.evidence[path] = Evidence(path, value, False, KEPT_WHY.get(key, "not in the export, preset value"))

    def winback_source(self, data: dict[str, Any]) -> str | None:
        """The lead source of won-back accounts' deals when the export shows the nurture policy (losses to named
        competitors), else None: that source's deals are the policy's, not new leads from the market."""
        if "nurture" not in self.effects:
            return None
        current = (data.get("policies") or {}).get("nurture")
        source = current.get("winback_source") if isinstance(current, dict) else None
        return source or REGISTRY["nurture"].model_fields["winback_source"].default

    def _nurture_fits(self, data: dict[str, Any], current: Any) -> bool:
        """Nurture can be switched on unless the export's own lead sources already hold its win-back source: the
        export's win-backs are then fitted as a lead source (its leads would come twice)."""
        source = (current or {}).get("winback_source") if isinstance(current, dict) else None
        source = source or REGISTRY["nurture"].model_fields["winback_source"].default
        if any(s.get("name") == source for s in data.get("lead_sources", [])):
            self.notes.append(f"nurture not fitted: the export's lead source {source!r} is fitted as a source of its own; "
                              "the competitors' shares are in the calibration's effects table")
            return False
        return True

    # -- per policy
    def _listening(self, s: dict) -> None:
        if (e := self.get("listening.rep_talk_share")) is not None:
            s["rep_talk_share"] = self._fitted("policies.listening.rep_talk_share", round(min(max(e.value, 0.05), 0.95), 4), e)
        if (e := self.get("listening.questions")) is not None:
            s["questions"] = self._fitted("policies.listening.questions", round(e.value, 3), e)

    def _first_meeting(self, s: dict) -> None:
        formats = {name: dict(f) for name, f in s["formats"].items()}
        by_kind = {f["kind"]: name for name, f in formats.items()}
        mix = {}
        for kind, name in by_kind.items():
            if (e := self.get(f"first_meeting.mix.{kind}")) is not None and e.value > 0:
                mix[name] = self._fitted(f"policies.first_meeting.mix.{name}", round(e.value, 4), e)
            if (e := self.get(f"first_meeting.show_rate.{kind}")) is not None:
                formats[name]["show_rate"] = self._fitted(f"policies.first_meeting.formats.{name}.show_rate",
                                                          round(min(max(e.value, 0.01), 1.0), 4), e)
            if (e := self.get(f"first_meeting.attendees.{kind}")) is not None:
                formats[name]["attendees"] = self._fitted(f"policies.first_meeting.formats.{name}.attendees",
                                                          round(max(e.value, 1.0), 3), e)
        s["formats"] = formats
        if len(mix) > 1:
            s["mix"], s["format"] = mix, max(mix, key=mix.get)
        elif len(mix) == 1:
            s["mix"], s["format"] = None, next(iter(mix))

    def _stage(self, s: dict, kinds: tuple[str, ...], path: str) -> None:
        """The stage the policy acts in: where the export's rows of `kinds` fall (a CRM names its stages its own way)."""
        found = evaluation.bug_stage(self.tables, default="", kinds=kinds)
        if found:
            s["stage"] = found
            self.evidence[path] = Evidence(path, found, True, f"the stage most activities of kind {'/'.join(kinds)} fall in")

    def _bugs(self, s: dict) -> None:
        self._stage(s, ("bug",), "policies.bugs.stage")
        left = math.exp(-s["testing_hours"] / s["hours_to_find"]) * ((1.0 - s["beta_catch"]) if s["beta"] else 1.0)
        if (e := self.get("bugs.chance")) is not None:
            scale = lambda x: min(x / left, 1.0)  # noqa: E731 - the residual chance back to the untested one
            s["bug_chance"] = self._fitted(
                "policies.bugs.bug_chance", round(scale(e.value), 4), e, ci=(scale(e.low), scale(e.high)),
                basis=f"{e.what}, divided by the {left:.0%} that {s['testing_hours']:g} testing hours"
                      f"{' and a beta' if s['beta'] else ''} leave; {e.rows}")
        if (e := self.get("bugs.lost_share")) is not None:
            walk = 1.0 - (1.0 - s["walk_per_day"]) ** (s["response_hours"] / 24.0)
            net = lambda x: min(max((x - walk) / (1.0 - walk), 0.0), 1.0) if walk < 1 else 0.0  # noqa: E731
            s["fatal_share"] = self._fitted(
                "policies.bugs.fatal_share", round(net(e.value), 4), e, ci=(net(e.low), net(e.high)),
                basis=f"{e.what}, net of the {walk:.0%} who walk while support answers (walk_per_day "
                      f"{s['walk_per_day']:g}, response_hours {s['response_hours']:g} kept); {e.rows}")

    def _trials(self, s: dict) -> None:
        self._stage(s, ("trial", "pilot"), "policies.trials.stage")
        free, paid = self.get("trials.engagement.free"), self.get("trials.engagement.paid")
        if free is not None:
            s["offer"] = "free" if paid is None else s.get("offer", "free")
            s["engagement"] = self._fitted("policies.trials.engagement", round(min(max(free.value, 0.01), 0.99), 4), free)
        elif paid is not None:
            s["offer"] = "paid"
            shift = s["investment_effect"]
            back = lambda x: 1.0 / (1.0 + math.exp(-(math.log(x / (1 - x)) - shift)))  # noqa: E731
            s["engagement"] = self._fitted(
                "policies.trials.engagement", round(min(max(back(paid.value), 0.01), 0.99), 4), paid,
                ci=(back(paid.low), back(paid.high)),
                basis=f"{paid.what}, less the kept investment effect {shift:g} on the logit; {paid.rows}")

    def _nurture(self, s: dict) -> None:
        shares = [e for e in self.effects.get("nurture", []) if e.key.startswith("nurture.competitor_share.")]
        if not shares:
            return
        s["competitors"] = [{"name": e.key.split(".", 2)[2], "share": round(max(e.value, 1e-6), 4)} for e in shares]
        for i, e in enumerate(shares):
            self._fitted(f"policies.nurture.competitors.{i}.share", s["competitors"][i]["share"], e)
        self._callback(s)

    def _callback(self, s: dict) -> None:
        """The chance a lost account calls us when its first choice fails, from the export's win-backs.

        The policy follows each account whose first closed deal was lost to a competitor: the winner fails with
        `failure_rate`, `failure_months` after the loss (uniform); the account then calls with the call-back chance,
        times `experienced_factor` for the `experienced_share` who bought before, halved every
        `tenure_halflife_months`; a call is a deal of `winback_source`. Each followed account's expected calls are
        the call-back chance times what those kept settings let through before the export's end, so the chance is
        the accounts that called (a win-back deal created after the loss) over that sum, with a Poisson interval.
        It is the nurtured chance when the team nurtures its losses (the policy's setting, kept: an export does not
        record it), the cold one when it does not."""
        opp = self.tables.opportunities
        if not {"account_id", "closed_at", "lead_source", "competitor"} <= set(opp.columns):
            return
        dated = opp.dropna(subset=["account_id", "closed_at"])
        closed = dated[dated["outcome"].isin(["won", "lost"])].sort_values(["account_id", "closed_at"], kind="stable")
        first = closed.groupby("account_id").head(1)
        lost = first[(first["outcome"] == "lost") & first["competitor"].notna() & (first["closed_at"] < self.end)]
        if len(lost) < measured.MIN_ROWS:
            return
        back = opp[(opp["lead_source"] == s["winback_source"]) & opp["account_id"].isin(lost["account_id"])]
        lost_at = lost.set_index("account_id")["closed_at"]
        called = back[back["created_at"] >= back["account_id"].map(lost_at)]["account_id"].nunique()
        lo_m, hi_m = s["failure_months"]
        months = np.linspace(lo_m, hi_m, 61) if hi_m > lo_m else np.array([float(lo_m)])
        left = ((self.end - lost_at).dt.total_seconds() / 86400 / (365.25 / 12)).to_numpy()[:, None]
        through = ((months[None, :] < left) * 0.5 ** (months[None, :] / s["tenure_halflife_months"])).mean(axis=1)
        exposure = float(s["failure_rate"] * through.sum())
        share, factor = s["experienced_share"], s["experienced_factor"]
        if s["nurture"] == "inexperienced":     # the inexperienced nurtured, the experienced cold (kept)
            key, a, b = "winback_nurtured", 1.0 - share, share * factor * s["winback_cold"]
        else:
            key, a, b = ("winback_cold" if s["nurture"] == "none" else "winback_nurtured"), 1.0 - share + share * factor, 0.0
        if exposure <= 0 or a <= 0:
            return
        rate, lo, hi = fitting.poisson_ci(called, exposure)
        chance = lambda r: float(min(max((r - b) / a, 0.0), 1.0))  # noqa: E731 - calls per unit exposure to the chance
        s[key] = round(chance(rate), 4)
        e = Effect(f"nurture.{key}", "accounts first lost to a competitor that came back", s[key], chance(lo), chance(hi),
                   len(lost), f"opportunities: {len(lost):,} accounts whose first closed deal was lost to a competitor, "
                   f"{called:,} of them back with a {s['winback_source']!r} deal")
        self._fitted(f"policies.nurture.{key}", s[key], e, basis=(
            f"{called:,} of {len(lost):,} accounts first lost to a competitor came back as a {s['winback_source']!r} deal, "
            f"over the {exposure:.1f} calls that the kept failure_rate {s['failure_rate']:g}, failure_months "
            f"{lo_m:g}-{hi_m:g}, experienced_share {share:g} (x{factor:g}) and tenure half-life "
            f"{s['tenure_halflife_months']:g} months let through by the export's end (Poisson interval); the team's "
            f"nurture setting ({s['nurture']!r}) is kept: an export does not record it"))


def _leaves(value: Any, prefix: str):
    """(path, number) for every number under `value` (dicts and lists walked, booleans and text skipped)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{prefix}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{prefix}.{i}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield prefix, value
