"""`calibrate(tables)`: a leader's own pipeline as a scenario, every value with its evidence.

    data = sim.crm.load("exports/opps.csv")
    sc = sim.calibrate(data.tables)            # a Scenario fitted to this export
    sc.to_yaml("my_pipeline.yaml")             # every fitted value commented with its evidence (n, 95% CI)
    sc.calibration.table()                     # the same evidence as a table; .notes, .stages, .closed_form

What the export shows is fitted (`sim.experiments.export_fit`: lead arrivals, repeat business, segments,
deal sizes, lead sources, first estimate vs signed amount, reps and their throughput); the stage settings
— loss chances, times, stalls — and the lead sources' loss factors are set by simulation so that the
simulated stays look like the export's (`sim.experiments.stage_fit`). What an export cannot show (rep
hours, selling hours, ramp-up, fit effects, the hidden truth behind deals) keeps the base preset's value,
and its YAML comment says so. The policies the export shows (first meetings by format, recorded calls, bugs met
in evaluation, trials, losses to named competitors) are switched on with the settings their rows give
(`sim.experiments.policy_fit`); every value carries its provenance (`fitted`, `literature` or `assumed`,
`sim.experiments.provenance`) in `calibration.table()` and in the YAML. The stage history is also fitted as an absorbing Markov chain
(`sim.analysis.markov`): its closed-form win probability and cycle are what `sim.validate` checks the
simulation against.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import PrivateAttr

from ..analysis import effects, markov
from ..analysis.fit import Window
from ..core.tables import Tables
from ..scenario import Scenario, ScenarioError
from .export_fit import NOT_IN_EXPORT, Evidence, ExportFit
from .policy_fit import PolicyFit
from .provenance import columns as provenance_columns, note as provenance_note
from .stage_fit import StageFit, fit_stages

__all__ = ["NOT_IN_EXPORT", "CalibratedScenario", "Calibration", "Evidence", "calibrate"]

MIN_STAYS_TO_SIMULATE = 20   # fewer finished stays than this: the stage settings stay the export's own rates


@dataclass
class Calibration:
    """Everything `calibrate` found: the evidence per value, remarks, the stage fit and the Markov chain."""

    base: str
    window: Window
    deals: int
    evidence: dict[str, Evidence]
    notes: list[str]
    one_stage: bool
    stages: pd.DataFrame            # per stage: the export's statistics, the simulation's, the fitted settings
    chain: markov.Chain
    closed_form: dict[str, float]   # the chain's win probability and expected cycle (days to a win)
    rounds: int                     # rounds of simulation the stage fit took (0: not simulated)
    reps: int                       # runs per round
    effects: dict | None = None     # the policy effects the export shows (sim.analysis.effects), by policy

    def table(self) -> pd.DataFrame:
        """Every value the calibration set or kept: value, fitted or not, n, 95% interval, its basis, and its
        provenance (`fitted`, `literature` or `assumed`) with its source and range (the fit's interval, the
        published range, or the range explored), policies' settings included."""
        rows = [{"path": e.path, "value": e.value, "fitted": e.fitted, "n": e.n, "ci_low": e.low, "ci_high": e.high,
                 "basis": e.basis, **provenance_columns(e)} for e in self.evidence.values()]
        return pd.DataFrame(rows).set_index("path")

    def effects_table(self) -> pd.DataFrame:
        """The policy effects the export shows (`sim.analysis.effects`): value, 95% interval, n and rows."""
        return effects.table(self.effects or {})

    def not_fitted(self) -> list[Evidence]:
        """The values the export could not give: the preset's stand in for them."""
        return [e for e in self.evidence.values() if not e.fitted]

    def against(self, fitted: Scenario, truth: Scenario, implied: Mapping[str, float] | None = None) -> pd.DataFrame:
        """Each fitted value with an interval beside the value that made the data (a simulated export's
        scenario, matched by segment, source and stage name), and whether the interval holds it.

        `implied`: true values that differ from `truth`'s own fields, by path in the fitted scenario's
        numbering (what an export of `truth` shows, e.g. the lead level after qualification).
        Columns: truth, fitted, low, high, inside, inside_999 (the interval widened to 99.9%).
        """
        rows = []
        for path, e in self.evidence.items():
            if not e.fitted or e.low is None:
                continue
            true = implied[path] if implied and path in implied else _true_value(fitted, truth, path)
            if true is None:
                continue
            half = (e.high - e.low) / 2
            rows.append({"path": path, "truth": true, "fitted": e.value, "low": e.low, "high": e.high,
                         "inside": e.low <= true <= e.high,
                         "inside_999": e.low - 0.68 * half <= true <= e.high + 0.68 * half})   # 3.29 / 1.96 = 1.68
        return pd.DataFrame(rows).set_index("path")

    def assumptions(self) -> list[str]:
        """Paths of the fitted numbers with an interval: what `sim.sensitivity` varies by default."""
        return [p for p, e in self.evidence.items() if e.has_range]


class CalibratedScenario(Scenario):
    """A scenario fitted to an export: a `Scenario` that also carries its evidence (`calibration`).

    `to_yaml` writes each value's evidence as a comment on its line. A changed copy (`replace`) is a plain
    `Scenario`: the evidence belongs to the fitted values only.
    """

    _calibration: Calibration | None = PrivateAttr(default=None)

    @property
    def calibration(self) -> Calibration:
        if self._calibration is None:
            raise ValueError("this scenario carries no calibration; make it with sim.calibrate(tables)")
        return self._calibration

    def to_yaml(self, path: str | Path | None = None, commented: bool = True,
                notes: Mapping[str, str] | None = None) -> str:
        """The scenario as YAML, every fitted value commented with its evidence (n, 95% CI)."""
        evidence = {} if self._calibration is None else {p: provenance_note(e) for p, e in self._calibration.evidence.items()}
        return super().to_yaml(path, commented, {**evidence, **(notes or {})})


def calibrate(
    tables: Tables,
    base: str | Scenario = "baseline",
    *,
    end: dt.date | pd.Timestamp | None = None,
    calendar: Literal["export", "base"] = "export",
    refine: bool = True,
    reps: int | None = None,
    seed: int = 0,
    name: str = "my pipeline",
) -> CalibratedScenario:
    """A scenario fitted to the canonical `tables` of an export (or of a simulated run).

    `base`: the preset (or scenario) whose values stand for what the export cannot show, and whose
    policies the fitted scenario keeps. `end`: the day after the export's last day (default: the day after
    its last date). `calendar`: ``export`` runs the scenario over the export's own window, so it can be
    checked against it (`sim.validate`); ``base`` keeps the base's start and length (a what-if's horizon).
    `refine`: set the stage settings by simulation (`sim.experiments.stage_fit`), with `reps` runs per
    round (default: enough for about 2,000 simulated stays, at most 4) on the common seed `seed`.
    """
    base_sc = Scenario.load(base) if isinstance(base, str) else base
    base_name = base if isinstance(base, str) else base_sc.name
    with warnings.catch_warnings():   # statistics of an empty or one-value slice are NaN, and handled as such
        warnings.simplefilter("ignore", RuntimeWarning)
        return _calibrate(tables, base_sc, base_name, end, calendar, refine, reps, seed, name)


def _calibrate(tables: Tables, base_sc: Scenario, base_name: str, end, calendar: str, refine: bool, reps: int | None,
               seed: int, name: str) -> CalibratedScenario:
    fitter = ExportFit(tables, base_sc, end)
    data = fitter.fit()
    policy_fit = PolicyFit(fitter.tables)          # the policies the export shows, their settings fitted
    data = policy_fit.fit(data)
    _policy_stages(data, base_sc, fitter.notes)    # any stage a policy still names that the export lacks
    _orbits_keep_repeat_business(data, base_sc, fitter)
    offset = fitter.window.start.date() - base_sc.start
    scenario = _build({**_shift_dates(data, offset), "start": fitter.window.start.date(), "days": fitter.window.days})
    stage_fit: StageFit | None = None
    if refine and fitter.total_finished >= MIN_STAYS_TO_SIMULATE:
        runs = reps if reps is not None else min(4, max(1, -(-2000 // fitter.total_finished)))
        stage_fit = fit_stages(scenario, fitter.stays, fitter.data_stats, fitter.measure(),
                               update_sources=fitter.update_sources, reps=runs, seed=seed)
        scenario = stage_fit.scenario
    elif refine:
        fitter.notes.append(f"only {fitter.total_finished} finished stays: the stage settings are the export's own rates, "
                            "not matched by simulation")
    final = scenario.to_dict()
    if calendar == "base":
        final = {**_shift_dates(final, -offset), "start": base_sc.start, "days": base_sc.days}
    final.update(name=name, description=fitter.description(base_name))
    out = CalibratedScenario.build(final, "calibrated scenario")
    fitter.stage_evidence(out, stage_fit)
    fitter.source_evidence(out)
    chain = markov.fit_chain(fitter.tables, None if fitter.one_stage else fitter.stage_names, fitter.window.end)
    fitter.markov_notes(chain)
    order = _yaml_order(out)
    fitter.evidence.update(policy_fit.evidence)
    fitter.notes.extend(policy_fit.notes)
    evidence = {p: fitter.evidence[p] for p in sorted(fitter.evidence, key=lambda p: (order.get(p, len(order)), p))}
    out._calibration = Calibration(
        base=base_name, window=fitter.window, deals=len(fitter.opp), evidence=evidence, notes=fitter.notes,
        one_stage=fitter.one_stage, stages=_stage_table(out, fitter, stage_fit), chain=chain,
        closed_form=markov.closed_form(chain), rounds=stage_fit.rounds if stage_fit else 0,
        reps=stage_fit.reps if stage_fit else 0, effects=policy_fit.effects,
    )
    return out


# ---- helpers ---------------------------------------------------------------------------------------------------
def _true_value(fitted: Scenario, truth: Scenario, path: str) -> float | None:
    """The value at `path` (in the fitted scenario's numbering) in `truth`, list items matched by name."""
    parts = path.split(".")
    data: Any = truth.to_dict()
    if len(parts) == 3 and parts[0] in ("segments", "lead_sources", "stages") and parts[1].isdigit():
        name = getattr(fitted, parts[0])[int(parts[1])].name
        data = next((item for item in data[parts[0]] if item["name"] == name), {})
        parts = parts[2:]
    for part in parts:
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    return float(data) if isinstance(data, (int, float)) and not isinstance(data, bool) else None


def _orbits_keep_repeat_business(data: dict, base: Scenario, fitter: ExportFit) -> None:
    """With the customer-orbits policy on, the orbits drive expansion deals and referrals: the engine's plain
    repeat business stays as the base has it (off), whatever the export's accounts show, and a note says so."""
    if (data.get("policies") or {}).get("orbits") is None:
        return
    accounts = data["accounts"]
    for key in ("repeat_per_year", "referrals_per_year", "repeat_source"):
        value = getattr(base.accounts, key)
        if accounts.get(key) != value:
            accounts[key] = value
            fitter.kept(f"accounts.{key}", value, "preset value: the customer-orbits policy drives expansion deals and "
                                                   "referrals, so the engine's plain repeat business stays off")
    fitter.notes.append("repeat business: the customer-orbits policy drives expansion and referrals; the export's "
                        "repeat deals are not fitted into the engine's plain repeat business")


def _policy_stages(data: dict, base: Scenario, notes: list[str]) -> None:
    """Policies of the base that name a stage the export does not have (the base's "Evaluation of Options" in
    a one-stage fit, say) get the export's stage at the same place in the pipeline, and a note says so."""
    names = [s["name"] for s in data["stages"]]
    base_names = base.stage_names
    for key, settings in (data.get("policies") or {}).items():
        if not isinstance(settings, dict):
            continue
        stage = settings.get("stage")
        if isinstance(stage, str) and stage not in names:
            i = base_names.index(stage) if stage in base_names else 0
            mapped = names[round(i * (len(names) - 1) / max(len(base_names) - 1, 1))]
            settings["stage"] = mapped
            notes.append(f"policies.{key}.stage: the preset's stage {stage!r} is not a stage of the export; the policy "
                         f"runs in {mapped!r}" + (" (the export's one stage)" if len(names) == 1 else " (the same place in the pipeline)"))
        low = settings.get("min_stage")
        if isinstance(low, int) and not isinstance(low, bool) and low > len(names) - 1:
            settings["min_stage"] = len(names) - 1
            notes.append(f"policies.{key}.min_stage: the export has {len(names)} stage(s); set to {len(names) - 1}")


def _build(data: dict) -> Scenario:
    try:
        return Scenario.build(data, "calibrated scenario")
    except ScenarioError as err:   # a fitted value outside what a scenario allows: a bug here, say which
        raise ValueError(f"the fitted scenario is not valid ({err}); please report it with the export's summary") from None


def _shift_dates(data: dict, offset: dt.timedelta) -> dict:
    """Every date of a scenario (a shock, hires, a policy's date) moved by `offset`, except its start."""

    def move(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: move(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        if isinstance(value, dt.date) and key != "start":
            return value + offset
        return value

    return move(data)


def _stage_table(sc: Scenario, fitter: ExportFit, stage_fit: StageFit | None) -> pd.DataFrame:
    """Per stage: the export's statistics beside the simulation's (after the fit), and the fitted settings."""
    rows = []
    for i, (st, d) in enumerate(zip(sc.stages, fitter.data_stats)):
        s = stage_fit.sim[i] if stage_fit else None
        rows.append({"stage": st.name, "stays": d.finished,
                     "loss_rate_export": d.loss[0], "loss_rate_sim": s.loss[0] if s else float("nan"),
                     "median_days_export": d.median[0], "median_days_sim": s.median[0] if s else float("nan"),
                     "p90_days_export": d.p90[0], "p90_days_sim": s.p90[0] if s else float("nan"),
                     "loss_chance": st.loss_chance, "median_days": st.median_days, "spread": st.spread,
                     "stall_chance": st.stall_chance, "stall_days": st.stall_days, "rep_hours": st.rep_hours})
    return pd.DataFrame(rows).set_index("stage")


def _yaml_order(sc: Scenario) -> dict[str, int]:
    """Field paths in the order the YAML shows them."""
    def walk(data: Any, prefix: str) -> list[str]:
        if isinstance(data, dict):
            return [q for k, v in data.items() for q in [f"{prefix}{k}", *walk(v, f"{prefix}{k}.")]]
        if isinstance(data, list):
            return [q for i, v in enumerate(data) for q in [f"{prefix}{i}", *walk(v, f"{prefix}{i}.")]]
        return []
    return {p: i for i, p in enumerate(walk(sc.to_dict(), ""))}
