"""What each principle's what-if rests on, computed from runs: its kind, the input effects it depends on with
their provenance, the answer as each effect runs over its range (dose-response), and where it holds and
reverses as the team's load changes (`holds_when`).

Each principle's what-if is reduced to one paired comparison, a `Claim`: two scenarios built from the
starting scenario (the claim and its reference), one metric, one measure. `evidence(slug, start)` runs it:

- the answer at the start: the paired difference claim - reference on common random numbers, 95% CI;
- `dose_response`: the answer with each parameter set to the low, middle and high end of its range (the fitted
  interval, the published range, or 0 to twice the default when assumed; `sim.experiments.provenance`);
- `holds_when`: the answer with the team at 50%, 75%, 100%, 125% and 150% of its reps, with the reps'
  utilisation of each, said in words ("holds while reps are more than 85% busy; not shown below 70%").

The result is what `sim.notebook.evidence` shows and the report carries per card. Runs are kept small (a
one-year horizon and `n` pairs per point, 8 by default) so a notebook's extra cost stays around half a
minute; `n` can be raised for a firmer reading.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from ..core.stats import paired_diff_ci
from ..scenario import Scenario
from . import active_listening as al
from . import bugs_in_evaluation as bugs
from . import customer_orbits as co
from . import first_meeting as fm
from . import force_concentration as fc
from . import incentive_design as design
from . import remain_aggressive as downturn
from . import forecast_discipline as fd
from . import free_trials as ft
from . import pareto_fractal as pf
from . import second_place as sp
from . import sweet_spot as ss
from .export_fit import Evidence
from .provenance import explored, literature, provenance
from .replicate import default_measure, replicate_each

LOADS = (0.5, 0.75, 1.0, 1.25, 1.5)       # the team's size against the start's: reps -50% to +50%
HEADLINE_RUNS = 20                          # no headline from fewer paired runs (issue 25)
Build = Callable[[Scenario], tuple[Scenario, Scenario]]


@dataclass(frozen=True)
class Claim:
    """A principle's what-if as one paired comparison: `build(start)` gives (claim, reference)."""

    slug: str
    kind: str                          # emergent | input | mixed
    says: str                          # the claim in words, e.g. "lunch at their office wins more than video"
    build: Build
    metric: str
    unit: str                          # "points" (a rate, shown x100), "days", "per <thing>" (a small amount in the
                                       # currency, e.g. a cost per new customer) or "currency" (shown in thousands)
    parameters: tuple[str, ...] = ()   # input effects the answer rests on, as paths of the built scenarios
    measure: Callable = default_measure
    days: int | None = 365             # horizon of the runs (None: as built)
    higher_is_better: bool = True


def _pair(a: Scenario, b: Scenario, days: int | None) -> dict[str, Scenario]:
    if days is not None:
        a, b = a.replace(days=days), b.replace(days=days)
    return {"claim": a, "reference": b}


Point = tuple[Mapping[str, Any] | None, float]   # (changes, reps_factor): where on its ranges a claim is answered


def answer(claim: Claim, start: Scenario, n: int = 8, seed: int = 0, changes: Mapping[str, Any] | None = None,
           reps_factor: float = 1.0) -> dict[str, float]:
    """The claim's paired difference (claim - reference) on `n` common seeds, 95% CI, and the reps' utilisation.

    `changes` (paths -> values) and `reps_factor` (the team's size against the start's) apply to both scenarios.
    """
    return answers(claim, start, [(changes, reps_factor)], n, seed, executor="serial")[0]


def _built(claim: Claim, start: Scenario, changes: Mapping[str, Any] | None, reps_factor: float) -> tuple[dict[str, Scenario], int]:
    """The claim's pair at one point, and the reference's team size."""
    a, b = claim.build(start)
    if changes:
        a, b = a.replace(dict(changes)), b.replace(dict(changes))
    count = b.reps.count
    if reps_factor != 1.0:
        count = max(1, int(round(b.reps.count * reps_factor)))
        a, b = a.replace({"reps.count": max(1, int(round(a.reps.count * reps_factor)))}), b.replace({"reps.count": count})
    return _pair(a, b, claim.days), int(count)


def answers(claim: Claim, start: Scenario, points: Sequence[Point], n: int = 8, seed: int = 0,
            executor: Any = None) -> list[dict[str, float]]:
    """`answer` at each of `points`, every point's runs handed to `replicate_each` at once: a process pool on both
    cores when there are enough of them (a notebook's evidence is 50 to 90 runs), the same numbers as one point
    after the other (each run is its scenario and seed, whoever runs it)."""
    scenarios: dict[str, Scenario] = {}
    counts = []
    for k, (changes, factor) in enumerate(points):
        pair, count = _built(claim, start, changes, factor)
        scenarios.update({f"{k} {role}": sc for role, sc in pair.items()})
        counts.append(count)
    runs = replicate_each(scenarios, n, seed, measure=claim.measure, executor=executor, progress=False,
                          with_metrics=("rep_utilisation",))   # the load `holds_when` reads
    by = {name: part.sort_values("replication") for name, part in runs.groupby("scenario", sort=False)}
    out = []
    for k, count in enumerate(counts):
        x, y = (by[f"{k} {role}"][claim.metric].to_numpy(float) for role in ("claim", "reference"))
        d, lo, hi = paired_diff_ci(x, y)
        ref = by[f"{k} reference"]
        util = ref["rep_utilisation"].mean() if "rep_utilisation" in ref else math.nan
        out.append({"diff": d, "diff_low": lo, "diff_high": hi, "reference": float(np.nanmean(y)),
                    "utilisation": float(util), "reps": count})
    return out


def parameter(start: Scenario, built: Scenario, path: str) -> dict[str, Any]:
    """One input effect: its value in the built scenario, its provenance and its range (CI, published or explored)."""
    value = _value(built, path)
    cal = getattr(start, "_calibration", None)
    e = cal.evidence.get(path) if cal is not None else None
    if e is None:
        e = Evidence(path, value, False, "preset value")
    kind = provenance(e)
    if kind == "fitted":
        low, high, source = e.low, e.high, e.basis
    elif kind == "literature":
        src = literature(path)
        low, high, source = src.low, src.high, src.source
    else:
        span = explored(path, value)
        low, high = span if span else (None, None)
        source = "assumed: no published figure"
    if low is not None and high is not None and isinstance(value, (int, float)):
        low, high = _clip(built, path, float(low)), _clip(built, path, float(high))
    return {"path": path, "value": value, "provenance": kind, "low": low, "high": high, "source": source}


def _dose_points(claim: Claim, start: Scenario, params: Sequence[dict]) -> list[tuple[str, float]]:
    """(path, value) of the dose-response's points: the low and high end of each parameter's range."""
    return [(p["path"], _valid(claim, start, p["path"], float(v)))
            for p in params if p["low"] is not None and p["high"] is not None for v in (p["low"], p["high"])]


def _dose_rows(claim: Claim, params: Sequence[dict], points: Sequence[tuple[str, float]], got: Sequence[dict],
               at_start: Mapping[str, float] | None) -> list[dict]:
    """The dose-response's rows from the answers at its `points`, with the answer at each parameter's current value."""
    tag = {"unit": claim.unit, "better": claim.higher_is_better}
    out = []
    for p in params:
        rows = [{"path": path, "value": v, **tag, **a} for (path, v), a in zip(points, got) if path == p["path"]]
        if not rows:
            continue
        if at_start is not None and isinstance(p["value"], (int, float)):
            rows.append({"path": p["path"], "value": float(p["value"]), **tag, **at_start})
        out.extend(sorted(rows, key=lambda r: r["value"]))
    return out


def dose_response(claim: Claim, start: Scenario, params: Sequence[dict], n: int = 8, seed: int = 0,
                  at_start: Mapping[str, float] | None = None) -> list[dict]:
    """The answer at the low and high end of each parameter's range, the other parameters as they are, and at
    its current value (`at_start`: the answer already run on the start, reused)."""
    points = _dose_points(claim, start, params)
    got = answers(claim, start, [({path: v}, 1.0) for path, v in points], n, seed)
    return _dose_rows(claim, params, points, got, at_start)


def load_response(claim: Claim, start: Scenario, loads: Sequence[float] = LOADS, n: int = 8, seed: int = 0) -> pd.DataFrame:
    """The answer with the team at each share of its reps in `loads`, with the reps' utilisation."""
    return _load_table(loads, answers(claim, start, [(None, f) for f in loads], n, seed))


def _load_table(loads: Sequence[float], got: Sequence[dict]) -> pd.DataFrame:
    """The load response's rows from the answers at each share of the team in `loads`."""
    return pd.DataFrame([{"load": f, **a} for f, a in zip(loads, got)])


def verdict(row: Mapping[str, float], higher_is_better: bool = True) -> str:
    """``holds`` (the interval is on the claim's side of 0), ``reverses`` (on the other side) or ``not shown``."""
    lo, hi = row["diff_low"], row["diff_high"]
    good, bad = (lo > 0, hi < 0) if higher_is_better else (hi < 0, lo > 0)
    return "holds" if good else ("reverses" if bad else "not shown")


def holds_when(table: pd.DataFrame, higher_is_better: bool = True) -> str:
    """Where the claim holds and where it reverses across team load, in words computed from `load_response` rows.

    E.g. "Holds while reps are more than 85% busy (5 to 8 reps); not shown at 70% busy or less (10 to 12 reps)".
    """
    t = table.assign(verdict=[verdict(r, higher_is_better) for _, r in table.iterrows()]).sort_values("utilisation")
    run = (t["verdict"] != t["verdict"].shift()).cumsum()          # stretches of load with the same verdict
    parts = []
    for v in ("holds", "reverses", "not shown"):
        spans = []
        for _, rows in t[t["verdict"] == v].groupby(run[t["verdict"] == v], sort=True):
            u_lo, u_hi = rows["utilisation"].min(), rows["utilisation"].max()
            r_lo, r_hi = int(rows["reps"].min()), int(rows["reps"].max())
            reps = f"{r_lo} reps" if r_lo == r_hi else f"{r_lo} to {r_hi} reps"
            busy = f"{u_lo:.0%} busy" if abs(u_hi - u_lo) < 0.005 else f"{u_lo:.0%} to {u_hi:.0%} busy"
            spans.append(f"with reps {busy} ({reps})")
        if spans:
            parts.append(f"{v} " + " and ".join(spans))
    text = "; ".join(parts)
    if t["verdict"].nunique() == 1:
        text += ", the whole range of team sizes tried"
    runs = f" ({int(table['n'].iloc[0])} paired runs per team size)" if "n" in table else ""
    return text[0].upper() + text[1:] + runs + "."


def evidence(slug: str, start: Scenario, n: int = 8, seed: int = 0, detectable: Sequence[Any] = (),
             loads: Sequence[float] = LOADS, dose: bool | Sequence[str] = True) -> dict[str, Any]:
    """Everything `sim.notebook.evidence` shows for principle `slug` ("06", "06-bugs-in-evaluation"...), run on
    `start`: kind, says, parameters (with provenance), dose_response, holds_when (words and rows) and the data
    half's comparisons (`detectable`: `Detectable`s or their dicts). `dose`: True (every parameter), False, or
    the paths to run the dose-response for (a long what-if can afford one)."""
    claim = claim_for(slug)
    built, _ = claim.build(start)
    params = [parameter(start, built, p) for p in claim.parameters]
    dosed = [p for p in params if dose is True or p["path"] in dose] if dose else []
    points = _dose_points(claim, start, dosed)
    # every point of the load and the dose response in one call: their runs share both cores
    got = answers(claim, start, [*((None, f) for f in loads), *(({path: v}, 1.0) for path, v in points)], n, seed)
    table = _load_table(loads, got[:len(loads)]).assign(n=n)
    here = table.loc[table["load"] == 1.0].drop(columns=["load", "n"]).to_dict("records")
    out = {
        "kind": claim.kind, "says": claim.says, "metric": claim.metric, "unit": claim.unit,
        "answer": here[0] if here else {},
        "parameters": params,
        "dose_response": _dose_rows(claim, dosed, points, got[len(loads):], here[0] if here else None) if dose else [],
        "holds_when": holds_when(table, claim.higher_is_better),
        "precision": precision(n, here[0] if here else {}, claim.unit),
        "load_response": table.drop(columns="n").to_dict("records"),
        "detectable": [d.to_dict() if hasattr(d, "to_dict") else dict(d) for d in detectable],
    }
    return out


def in_unit(diff: float, unit: str | None) -> str:
    """A what-if's difference in its unit: points for a rate, days, an amount per something (a cost per new
    customer: whole currency units), or thousands of the currency."""
    if unit == "points":
        return f"{100 * diff:+.1f} points"
    if unit == "days":
        return f"{diff:+.1f} days"
    if unit is not None and unit.startswith("per "):
        return f"{diff:+,.0f} {unit}"
    return f"{diff / 1e3:+,.0f}k"


def precision(n: int, answer: Mapping[str, float], unit: str | None) -> str:
    """How far the evidence's `n` paired runs per point can be read, in words: below `HEADLINE_RUNS` a first
    reading, not a headline; and how wide the answer's 95% interval is at the starting team size."""
    lo, hi = answer.get("diff_low", math.nan), answer.get("diff_high", math.nan)
    known = (f"; at the starting team size the answer is known to within {in_unit((hi - lo) / 2, unit).lstrip('+')} "
             "(95% CI half-width)") if math.isfinite(lo) and math.isfinite(hi) else ""
    if n >= HEADLINE_RUNS:
        return f"Precision: {n} paired runs per point{known}."
    return (f"Precision: {n} paired runs per point, a first reading, not a headline (a headline rests on at least "
            f"{HEADLINE_RUNS}){known}.")


def flips(dose: Sequence[Mapping[str, Any]], higher_is_better: bool = True) -> dict[str, str]:
    """Per parameter of a dose-response, whether the conclusion changes over its range, in words."""
    out: dict[str, str] = {}
    for path in dict.fromkeys(d["path"] for d in dose):
        rows = [d for d in dose if d["path"] == path]
        said = [f"{verdict(r, higher_is_better)} at {r['value']:g}" for r in rows]
        out[path] = ", ".join(said)
    return out


# ---- the claims, one per principle ----------------------------------------------------------------------------------
def _value(sc: Scenario, path: str) -> Any:
    data: Any = sc.to_dict()
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def _accepts(sc: Scenario, path: str, v: float) -> bool:
    try:
        sc.replace({path: v})
        return True
    except Exception:   # noqa: BLE001 - any refusal (a bound, a rule between fields) means no
        return False


def _clip(sc: Scenario, path: str, v: float) -> float:
    """`v`, or the nearest value toward the current one that the scenario accepts: a range of 0 to twice the
    default can cross a field's bound (a chance of 1, at least one attendee). Found by bisection, rounded to
    three decimals where that is still accepted."""
    if _accepts(sc, path, v):
        return v
    bad, good = v, float(_value(sc, path))
    for _ in range(30):
        mid = (bad + good) / 2
        bad, good = (bad, mid) if _accepts(sc, path, mid) else (mid, good)
    step = 0.001 if float(_value(sc, path)) > good else -0.001     # one thousandth toward the current value
    for rounded in (round(good, 3), round(good + step, 3)):
        if _accepts(sc, path, rounded):
            return rounded
    return good


def _valid(claim: Claim, start: Scenario, path: str, v: float) -> float:
    """`v` clipped to what the claim's scenario accepts (see `_clip`)."""
    return _clip(claim.build(start)[0], path, v)


def _listening(start: Scenario) -> tuple[Scenario, Scenario]:
    base = al.listening(start)
    return al.listening(base, rep_talk_share=0.45), al.listening(base, rep_talk_share=0.65)


def _meetings(start: Scenario) -> tuple[Scenario, Scenario]:
    s = fm.format_scenarios(start, ("lunch_at_their_office", "video"))
    return s["lunch_at_their_office"], s["video"]


def _bugs(start: Scenario) -> tuple[Scenario, Scenario]:
    s = bugs.release_choices(start)
    return s[bugs.BETA], s[bugs.NO_TESTING]


def _nurture(start: Scenario) -> tuple[Scenario, Scenario]:
    s = sp.choices(start)
    return s[sp.NURTURE], s[sp.NONE]


def _trials(start: Scenario) -> tuple[Scenario, Scenario]:
    s = ft.offers(start)
    return s["paid pilot"], s["free trial"]


def _sweet_spot(start: Scenario) -> tuple[Scenario, Scenario]:
    if start.reps.quota is None:      # behind plan needs a plan: the sweet-spot preset's quota
        start = start.replace({"reps.quota": Scenario.preset("sweet-spot").reps.quota})
    return ss.qualifying(start, 0.5, relax_to=0.3), ss.qualifying(start, 0.5)


PORSCHE = {"name": "Porsche", "kind": "absolute", "award": 80000, "over_quota": 0.5}   # notebook 07's default rule


def _incentives(start: Scenario) -> tuple[Scenario, Scenario]:
    """Notebook 07's first rule (make it relative, so that someone always wins) over one award year: the pull of
    an award everyone can win against one only a rep far over quota can. Credibility does not enter in one year
    (it drops after a year with no winner), so the answer rests on the size of an award's pull."""
    world = design.incentive_world(start, years=1, quota=None if start.reps.quota else 1_200_000.0)
    return design.programme(world, [design.relative_version(PORSCHE)]), design.programme(world, [PORSCHE])


def _downturn(start: Scenario) -> tuple[Scenario, Scenario]:
    preset = Scenario.preset("remain-aggressive")
    if start.market.shock is None:    # a pipeline without a downturn of its own meets the preset's
        start = start.replace({"market.shock": preset.market.shock.model_dump(),
                               "market.patience_days": preset.market.patience_days, "days": preset.days})
    at = start.market.shock.start + dt.timedelta(days=62)    # notebook 04's decision: two months into the downturn
    s = downturn.staffing_choices(start, at=at)
    return s["hold and refocus"], s[next(k for k in s if k.startswith("cut"))]


def _pareto(start: Scenario) -> tuple[Scenario, Scenario]:
    even = start.replace({"policies.allocation.rule": "first_come"})
    return even.replace({"policies.allocation.rule": "largest_first"}), even


def _focus(start: Scenario) -> tuple[Scenario, Scenario]:
    team = fc.new_team(start)
    best = max(start.segments, key=lambda s: s.fit_mean).name
    return fc.focused(team, best), team


def _orbits(start: Scenario) -> tuple[Scenario, Scenario]:
    s = co.allocations(start)
    return s[co.WHOLE], s[co.ACQUISITION]


def _forecast(start: Scenario) -> tuple[Scenario, Scenario]:
    s = fd.forecast_scenarios(start, {k: fd.HABITS[k] for k in ("weekly, evidence-gated", "quarterly, stage-weighted")},
                              {"volatile": 0.5})
    return s[f"volatile{fd.SEP}weekly, evidence-gated"], s[f"volatile{fd.SEP}quarterly, stage-weighted"]


CLAIMS: dict[str, Claim] = {c.slug: c for c in (
    Claim("01", "emergent", "a new team that puts its best-fitting segment first reaches its first five customers sooner",
          _focus, "days_to_5_customers", "days", (), partial(fc.days_to_customers, n=5), higher_is_better=False),
    Claim("02", "mixed", "spending over the whole orbit costs less per new customer than acquisition only",
          _orbits, co.METRIC, "per new customer", ("policies.orbits.model.marketing_touch.inward",
                                           "policies.orbits.model.rep_contact.inward"), co.orbit_measure,
          higher_is_better=False),
    Claim("03", "input", "reps who talk less (45% of the meeting, not 65%) win more of their new deals",
          _listening, "cohort_win_rate", "points", ("policies.listening.discovery_rate",
                                                    "policies.listening.need_found_factor"), al.listening_measure),
    Claim("04", "input", "holding the team and refocusing it on fitting accounts in a downturn books more than cutting half",
          _downturn, "bookings", "currency", ("policies.staffing.prospects_per_week", "market.patience_days"),
          downturn.downturn_measure, days=None),
    Claim("05", "mixed", "a weekly, evidence-gated forecast is closer four weeks out than a quarterly, stage-weighted one",
          _forecast, "mape_4w", "points", (), partial(fd.forecast_measure, horizons=(4,)), higher_is_better=False),
    Claim("06", "input", "field testing and a friendly beta book more than an untested release",
          _bugs, "bookings", "currency", ("policies.bugs.bug_chance", "policies.bugs.fatal_share",
                                          "policies.bugs.walk_per_day"), bugs.bug_measure),
    Claim("07", "mixed", "the same award made relative (80,000 to the top seller, no bar) books more in its year than "
          "the absolute rule (only at 150% of quota or more)", _incentives, "bookings", "currency",
          ("policies.incentives.response.prize_lift", "policies.incentives.response.size_elasticity"),
          design.measure, days=None),
    Claim("08", "input", "first meetings over lunch at the prospect's office win more new deals than video calls",
          _meetings, "cohort_win_rate", "points", ("policies.first_meeting.formats.lunch_at_their_office.show_rate",
                                                   "policies.first_meeting.formats.lunch_at_their_office.attendees",
                                                   "policies.first_meeting.champion_chance"), fm.meeting_measure),
    Claim("09", "mixed", "nurturing deals lost to a competitor books more than letting them go",
          _nurture, "bookings", "currency", ("policies.nurture.failure_rate", "policies.nurture.winback_nurtured"),
          sp.nurture_measure, days=None),
    Claim("10", "input", "a paid pilot books more than a free trial",
          _trials, "bookings", "currency", ("policies.trials.investment_effect", "policies.trials.pilot_take_up"),
          ft.trial_measure),
    Claim("11", "mixed", "relaxing qualification when behind plan (from 0.5 to 0.3) costs bookings",
          _sweet_spot, "bookings", "currency", ("fit_effects.on_loss",), ss.plan_measure, higher_is_better=False),
    Claim("12", "emergent", "giving scarce rep time to the largest deals first books more than first come, first served",
          _pareto, "bookings", "currency", (), pf.allocation_measure),
)}


def claim_for(slug: str) -> Claim:
    """The claim of principle `slug` (its number, or the notebook's file stem)."""
    key = str(slug).split("-", 1)[0].zfill(2)
    if key not in CLAIMS:
        raise ValueError(f"principle {slug!r} has no claim here (known: {', '.join(CLAIMS)})")
    return CLAIMS[key]


def tornado_evidence(calibrated: Scenario, table: pd.DataFrame, top: int = 5) -> dict[str, Any]:
    """Notebook 13's evidence: a method, not a claim that one policy beats another. Its answer (which assumption
    moves the year's bookings most) reads the inputs' ranges back, so its kind is ``input``; its parameters are
    the tornado's `top` rows with their provenance, and its dose-response is the tornado itself (the bookings'
    swing from each range's low to its high end, with the 95% CI). `table`: a `sim.sensitivity` result's table."""
    rows = table.head(top)
    params = [parameter(calibrated, calibrated, str(path)) for path in rows.index]
    for p, (_, r) in zip(params, rows.iterrows()):
        p["low"], p["high"] = float(r["low"]), float(r["high"])     # the range the tornado varied
    dose = [{"path": str(path), "value": float(r["high"]), "diff": float(r["swing"]), "diff_low": float(r["swing_ci_low"]),
             "diff_high": float(r["swing_ci_high"]), "unit": "currency", "better": True,
             "note": f"from {float(r['low']):g}, 95% CI {float(r['swing_ci_low']) / 1e3:+,.0f}k to "
                     f"{float(r['swing_ci_high']) / 1e3:+,.0f}k"} for path, r in rows.iterrows()]
    return {"kind": "input", "says": "the assumption whose range moves the year's bookings most",
            "parameters": params, "dose_response": dose,
            "holds_when": "A method, not a policy's claim: there is no team load at which it reverses; the tornado's "
                          "ranges are what it rests on.", "detectable": []}
