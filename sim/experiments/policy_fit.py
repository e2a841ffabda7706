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
=====================================  ==============================================================

Every other setting of a policy that is on keeps its value, with its provenance (`sim.experiments.provenance`):
a published figure, or an assumption with the range explored. Effects that map onto no single setting (the
win rate by talk share, by attendees, with a bug; win-backs and their lag) are kept in `effects` for the
calibration's `effects()` table and the notebooks' data halves.
"""

from __future__ import annotations

import math
from typing import Any

from ..analysis import effects as measured
from ..analysis import evaluation
from ..analysis.effects import Effect
from ..core.tables import Tables
from ..engine.hooks import REGISTRY
from .export_fit import Evidence

POLICIES = ("listening", "first_meeting", "bugs", "trials", "nurture")


class PolicyFit:
    """Fits the policies an export shows onto a scenario's data, collecting the evidence for every setting."""

    def __init__(self, tables: Tables):
        self.tables = tables
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
                    self.evidence[path] = Evidence(path, value, False, "not in the export, preset value")

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
