"""Stage settings by simulated moments: the settings whose simulated stays look like the export's.

An export shows stays in stages, not the simulator's settings. A stay also holds the time the deal
waited for its rep and the rep's own hours; and the share of stays lost in a stage differs from the
stage's loss chance, because fit, lead source and hidden truth make some deals likelier to go on than
others, so later stages see better deals. Rather than model all that by hand, the settings are found by
simulation (the method of simulated moments), stage by stage:

1. measure five statistics of each stage's stays in the export (`sim.analysis.fit.stage_vector`: the loss
   rate, the median, and three percentile ratios that tell the spread from the stalls);
2. simulate the export's window a few times on common random numbers and measure them the same way;
3. move the settings until the two agree: first a few rounds of simple ratio steps (loss chance by the
   loss rates' ratio, median by the medians', spread by the lower halves'), then Gauss-Newton steps with
   the slopes of the simulated statistics in the settings (finite differences on common random numbers),
   and a last ratio step for the loss rate and the median, the two that set win rate and timing.

The intervals are the method's standard errors: the export's statistics' sampling covariance S (a
bootstrap of its stays, its variances raised to the spread across separate simulated runs where that is
larger: stays that share a busy rep's queue vary together) carried through those slopes J,
Cov = J^-1 S J^-T, times (1 + 1/reps) for the simulation's own noise. Where the stays cannot tell two settings apart — a wide spread with no stalls looks
much like a narrow one with a few — the interval says so by being wide.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..analysis import fit
from ..analysis.fit import StageStats
from ..core.tables import Tables
from ..scenario import Scenario
from .simulate import simulate

PARAMS = ("loss_chance", "median_days", "spread", "stall_chance", "stall_days")
TIME = PARAMS[1:]
LOG = {"median_days", "spread", "stall_days"}          # fitted on a log scale (always positive, errors are relative)
LIMITS = {"loss_chance": (0.0, 0.95), "median_days": (0.05, 3650.0), "spread": (0.02, 3.0),
          "stall_chance": (0.0, 1.0), "stall_days": (0.5, 3650.0)}
STEP = {"loss_chance": 0.15, "median_days": 0.15, "spread": 0.2, "stall_chance": 0.04, "stall_days": 0.35}
DIGITS = {"loss_chance": 4, "median_days": 3, "spread": 4, "stall_chance": 4, "stall_days": 2}
RATIO_ROUNDS = 2       # rounds of ratio steps before the slopes are measured
NEWTON_ROUNDS = 2      # Gauss-Newton rounds with those slopes
VARIANCE_RUNS = 6      # separate runs at the fitted settings, for how much one export's statistics vary (3 for large exports)


@dataclass(frozen=True)
class Measure:
    """How a simulated run is measured exactly as the export was: same window end, same stages."""

    end: pd.Timestamp
    stages: tuple[str, ...]
    one_stage: bool
    sources: bool

    def __call__(self, scenario: Scenario, reps: int, seed: int) -> tuple[list[StageStats], dict[str, float]]:
        """Stage statistics pooled over `reps` runs on common seeds, and the win rate per lead source."""
        stats, rates, _ = self.runs(scenario, reps, seed)
        return stats, rates

    def runs(self, scenario: Scenario, reps: int, seed: int) -> tuple[list[StageStats], dict[str, float], np.ndarray]:
        """As calling it, and each run's own `stage_vector` per stage (runs x stages x 5)."""
        pooled, opps = [], []
        for k, s in enumerate(np.random.SeedSequence(seed).spawn(reps)):
            tables = simulate(scenario, seed=s).tables
            if self.one_stage:   # a simulated run has stage history; measure it as the export is measured
                stay = fit.stays(Tables(opportunities=tables.opportunities), self.end)
            else:
                stay = fit.stays(tables, self.end, list(self.stages))
            pooled.append(stay.assign(opportunity_id=f"{k}:" + stay["opportunity_id"]))
            if self.sources:
                opp = tables.opportunities
                opps.append(opp.assign(_new=~fit.repeat_business(opp), opportunity_id=f"{k}:" + opp["opportunity_id"]))
        k = len(self.stages)
        each = np.array([[fit.stage_vector(fit.stage_stats(st[st["index"] == i])) for i in range(k)]
                         for st in pooled]) if reps > 1 else np.full((1, k, 5), np.nan)
        stay = pd.concat(pooled, ignore_index=True)
        stats = [fit.stage_stats(stay[stay["index"] == i]) for i in range(k)]
        rates: dict[str, float] = {}
        if opps:
            opp = pd.concat(opps, ignore_index=True)
            table = fit.source_win_rates(opp, opp["_new"])
            rates = dict(zip(table.index, table["win_rate"]))
        return stats, rates, each


@dataclass
class StageFit:
    """The fitted stage settings, the statistics they were matched on, and their intervals."""

    scenario: Scenario
    data: list[StageStats]
    sim: list[StageStats]
    intervals: list[dict[str, tuple[float, float] | None]]
    identified: list[tuple[str, ...]]          # per stage, the settings its stays were fitted to
    rounds: int
    reps: int
    source_rates: dict[str, float] = field(default_factory=dict)


SourceStep = Callable[[Scenario, dict[str, float]], "list[dict] | None"]


def fit_stages(scenario: Scenario, stays: pd.DataFrame, data: list[StageStats], measure: Measure, *,
               update_sources: SourceStep | None = None, reps: int = 2, seed: int = 0) -> StageFit:
    """Move `scenario`'s stage settings until its simulated stays match the export's `data`; with intervals."""
    identified = [_identified(d) for d in data]
    target = np.array([fit.stage_vector(d) for d in data])
    boots = [fit.bootstrap_stage(stays[stays["index"] == i], seed=seed + i) for i in range(len(data))]
    scale = np.array([np.nanstd(b, axis=0) for b in boots])
    best = _Best(len(data))
    rounds = 0

    def apply(stages: list[dict], rates: dict[str, float]) -> Scenario:
        changes: dict[str, Any] = {"stages": [_rounded(s) for s in stages]}
        if update_sources is not None and (sources := update_sources(scenario, rates)) is not None:
            changes["lead_sources"] = sources
        return scenario.replace(changes)

    def measured(sc: Scenario) -> tuple[list[StageStats], dict[str, float]]:
        nonlocal rounds
        rounds += 1
        sim, rates = measure(sc, reps, seed)
        best.offer(sc, sim, target, scale, identified)
        return sim, rates

    for _ in range(RATIO_ROUNDS):
        sim, rates = measured(scenario)
        stages = [s.model_dump() for s in scenario.stages]
        for st, t, s, ok in zip(stages, target, sim, identified):
            _ratio_step(st, t, fit.stage_vector(s), ok)
        scenario = apply(stages, rates)
    sim, rates = measured(scenario)
    jac = _slopes(scenario, sim, measure, identified, reps, seed)
    rounds += len(PARAMS)
    for _ in range(NEWTON_ROUNDS):
        stages = [s.model_dump() for s in scenario.stages]
        for i, (st, ok) in enumerate(zip(stages, identified)):
            _newton_step(st, target[i] - fit.stage_vector(sim[i]), jac[i], ok)
        scenario = apply(stages, rates)
        sim, rates = measured(scenario)
    # keep each stage's best settings seen (a step may overshoot), then match the two statistics that matter
    # most (win rate and timing) on their own
    scenario = scenario.replace({"stages": best.stages})
    sim, rates = measured(scenario)
    stages = [s.model_dump() for s in scenario.stages]
    for st, t, s, ok in zip(stages, target, sim, identified):
        _ratio_step(st, t, fit.stage_vector(s), tuple(k for k in ok if k in ("loss_chance", "median_days")))
    scenario = apply(stages, rates)
    finished = sum(d.finished for d in data)       # a large export varies less: fewer separate runs show it
    sim, rates, each = measure.runs(scenario, max(reps, 3 if finished > 3000 else VARIANCE_RUNS), seed)
    rounds += 1
    spread = np.nanvar(each, axis=0, ddof=1)                 # stages x 5: how much one export's statistics vary
    intervals = [_interval(scenario.stages[i], jac[i], boots[i], spread[i], identified[i], reps) for i in range(len(data))]
    return StageFit(scenario, data, sim, intervals, identified, rounds, reps, rates)


class _Best:
    """Per stage, the settings whose simulated statistics came closest to the export's so far."""

    def __init__(self, k: int):
        self.score = [math.inf] * k
        self.stages: list[dict] = [{} for _ in range(k)]

    def offer(self, sc: Scenario, sim: list[StageStats], target: np.ndarray, scale: np.ndarray,
              identified: list[tuple[str, ...]]) -> None:
        for i, (s, ok) in enumerate(zip(sim, identified)):
            rows = [PARAMS.index(p) for p in ok]
            z = (target[i, rows] - fit.stage_vector(s)[rows]) / np.where(scale[i, rows] > 0, scale[i, rows], 1.0)
            score = float(np.nansum(z ** 2)) if np.isfinite(z).any() else math.inf
            if score < self.score[i] or not self.stages[i]:
                self.score[i], self.stages[i] = score, sc.stages[i].model_dump()


def _identified(d: StageStats) -> tuple[str, ...]:
    """The settings a stage's stays can pin down: loss if any stay closed out, times if enough finished."""
    out = ["loss_chance"] if d.lost + d.passed else []
    if d.finished >= 20:
        out += list(TIME)
    elif d.finished >= 5:
        out += ["median_days", "spread"]
    return tuple(out)


def _coords(st: Any, key: str) -> float:
    """A setting on the scale it is fitted on (log for times and spreads)."""
    value = st[key] if isinstance(st, dict) else getattr(st, key)
    return math.log(value) if key in LOG else value


def _set(st: dict, key: str, x: float) -> None:
    lo, hi = LIMITS[key]
    st[key] = float(np.clip(math.exp(x) if key in LOG else x, lo, hi))


def _rounded(st: dict) -> dict:
    return {**st, **{k: round(st[k], DIGITS[k]) for k in PARAMS}}


def _ratio_step(st: dict, t: np.ndarray, s: np.ndarray, ok: tuple[str, ...]) -> None:
    """Simple first steps: each of loss, median and spread moves by its own statistic's ratio."""
    if "loss_chance" in ok and np.isfinite(s[0]):
        st["loss_chance"] = 0.0 if t[0] == 0 else (t[0] if s[0] <= 0 else st["loss_chance"] * _clip(t[0] / s[0]))
    if "median_days" in ok and np.isfinite(t[1] - s[1]):
        st["median_days"] *= _clip(math.exp(t[1] - s[1]))
    if "spread" in ok and s[2] > 0 and t[2] > 0:
        st["spread"] *= _clip(t[2] / s[2])
    for key in PARAMS:
        _set(st, key, _coords(st, key))


def _clip(r: float) -> float:
    """A ratio step kept within a factor of 2, so one noisy round cannot throw a setting far off."""
    return float(np.clip(r, 0.5, 2.0)) if math.isfinite(r) and r > 0 else 1.0


def _slopes(scenario: Scenario, sim: list[StageStats], measure: Measure, identified: list[tuple[str, ...]],
            reps: int, seed: int) -> np.ndarray:
    """d statistics / d settings per stage (stages x 5 x 5), by finite differences on common seeds.

    Each setting is moved in every stage at once (up, or down where it is at its upper limit); a stage's
    statistics answer mostly to its own settings, so one run per setting serves all stages.
    """
    k = len(sim)
    at = np.array([fit.stage_vector(s) for s in sim])
    jac = np.full((k, 5, len(PARAMS)), np.nan)
    stages = [s.model_dump() for s in scenario.stages]
    for j, key in enumerate(PARAMS):
        if not any(key in ok for ok in identified):
            continue
        moved = [_bump(st, key, +1) for st in stages]
        moved = [m if _coords(m, key) != _coords(st, key) else _bump(st, key, -1) for m, st in zip(moved, stages)]
        after = measure(scenario.replace({"stages": moved}), reps, seed)[0]
        h = np.array([_coords(m, key) - _coords(st, key) for m, st in zip(moved, stages)])
        jac[:, :, j] = (np.array([fit.stage_vector(a) for a in after]) - at) / np.where(h != 0, h, np.nan)[:, None]
    return jac


def _bump(st: dict, key: str, sign: int) -> dict:
    out = dict(st)
    _set(out, key, _coords(st, key) + sign * STEP[key])
    return out


def _time_settings(ok: tuple[str, ...]) -> list[int]:
    """Positions of the time settings fitted at this stage. Setting r is matched to statistic r of
    `stage_vector` (median days <-> log median, spread <-> lower half, stalls <-> the two upper ratios)."""
    return [PARAMS.index(p) for p in ok if p in TIME]


def _newton_step(st: dict, residual: np.ndarray, jac: np.ndarray, ok: tuple[str, ...]) -> None:
    """One damped Gauss-Newton step: loss on its own, the time settings together."""
    if "loss_chance" in ok and np.isfinite(residual[0]) and jac[0, 0] > 0:
        _set(st, "loss_chance", st["loss_chance"] + float(np.clip(residual[0] / jac[0, 0], -0.1, 0.1)))
    cols = _time_settings(ok)
    if not cols:
        return
    j = jac[np.ix_(cols, cols)]
    r = residual[cols]
    if not (np.isfinite(j).all() and np.isfinite(r).all()):
        return
    step = np.linalg.pinv(j, rcond=0.05) @ r * 0.8
    for c, dx in zip(cols, step):
        key = PARAMS[c]
        _set(st, key, _coords(st, key) + float(np.clip(dx, -2 * STEP[key], 2 * STEP[key])))


def _interval(stage, jac: np.ndarray, boot: np.ndarray, run_var: np.ndarray, ok: tuple[str, ...],
              reps: int) -> dict[str, tuple[float, float] | None]:
    """Each fitted setting's 95% interval: J^-1 S J^-T (see the module), back on the setting's own scale.

    S takes its correlations from the bootstrap of the export's stays and each variance from the larger of
    the bootstrap's and the spread across simulated runs: stays share their reps' queues, so a busy month
    makes many of them long together, which resampling single stays cannot see.
    """
    out: dict[str, tuple[float, float] | None] = {p: None for p in PARAMS}
    blocks = ([[0]] if "loss_chance" in ok else []) + [_time_settings(ok)]
    for cols in blocks:
        if not cols:
            continue
        sample = boot[:, cols]
        sample = sample[np.isfinite(sample).all(axis=1)]
        j = jac[np.ix_(cols, cols)]
        if len(sample) < 30 or not np.isfinite(j).all():
            continue
        cov_t = np.atleast_2d(np.cov(sample, rowvar=False))
        sd = np.sqrt(np.diag(cov_t))
        var = np.fmax(sd**2, np.nan_to_num(run_var[cols]))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.nan_to_num(cov_t / np.outer(sd, sd))
        np.fill_diagonal(corr, 1.0)
        cov_t = corr * np.sqrt(np.outer(var, var))
        inv = np.linalg.pinv(j, rcond=1e-6)
        cov = inv @ cov_t @ inv.T * (1 + 1 / reps)
        for c, var in zip(cols, np.diag(cov)):
            key = PARAMS[c]
            x, half = _coords(stage.model_dump(), key), 1.96 * math.sqrt(max(float(var), 0.0))
            lo, hi = LIMITS[key]
            ends = [math.exp(x - half), math.exp(min(x + half, 50))] if key in LOG else [x - half, x + half]
            out[key] = (round(max(ends[0], lo), DIGITS[key]), round(min(ends[1], hi), DIGITS[key]))
    return out
