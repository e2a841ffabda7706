"""The levers a leader can pull in the what-if explorer, read from the scenario's own definition.

A `Lever` is one scenario setting shown as a control: its dotted path, a label, the field's own
one-line description as help, its kind (a number, a whole number, a choice, an on/off switch) and its
bounds, all taken from the pydantic field. Team levers come from the world (reps, a hire); policy
levers come from the policy registry, so a policy added later gets its controls with no change here.
A policy narrows what it shows with ``levers`` (field names); by default every simple field is a lever.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import typing
from dataclasses import dataclass
from typing import Any, Literal

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo

import pandas as pd

from ..engine.hooks import REGISTRY, Policy, registered
from ..experiments.simulate import simulate
from ..scenario import Scenario

Kind = Literal["number", "whole", "choice", "switch"]
SLIDER_SPAN = 200          # a number whose whole range is wider than this gets a box, not a slider


@dataclass(frozen=True)
class Lever:
    """One setting a leader can change, and how to show it."""

    path: str                         # dotted scenario path, e.g. "policies.qualification.threshold"
    section: str                      # heading it is shown under: "Team" or the policy's name
    label: str
    help: str                         # one line: what it means
    kind: Kind
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()
    needs: str | None = None          # a switch that must be on for this lever to apply (its path)

    @property
    def slider(self) -> bool:
        """A bounded, narrow range shows as a slider; anything else as a box."""
        return (self.kind in ("number", "whole") and self.low is not None and self.high is not None
                and self.high - self.low <= SLIDER_SPAN)


# ---- reading values --------------------------------------------------------------------------------
def value(scenario: Scenario, path: str) -> Any:
    """The value at a dotted path (None where a switch is off along the way)."""
    node: Any = scenario
    for part in path.split("."):
        if node is None:
            return None
        node = getattr(node, part)
    return node


def plain(scenario: Scenario) -> dict[str, Any]:
    """Every setting as {dotted path: value}, nested groups flattened; lists kept whole."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            if not node and prefix:
                out[prefix] = {}
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = node

    walk("", scenario.to_dict())
    return out


def changes(start: Scenario, now: Scenario) -> list[tuple[str, Any, Any]]:
    """What differs between two scenarios: (path, value in `start`, value in `now`), in scenario order.

    A group of settings switched on or off (a policy, a rule within one) is one change: (path, None,
    "on") or (path, "on", None), not a line per setting inside it.
    """
    a, b = plain(start), plain(now)
    out: list[tuple[str, Any, Any]] = []
    for path in dict.fromkeys([*a, *b]):
        if path in ("name", "description") or a.get(path) == b.get(path):
            continue
        switched = [q for q, _, _ in out if path.startswith(q + ".")]
        if switched:
            continue
        if path in a and path in b:
            out.append((path, a[path], b[path]))
        else:   # inside a group that one side does not have (off, or a policy it predates): the group was switched
            group = _group_switched(path, a, b)
            on_now = _off(group, a)
            out.append((group, None, _settings_text(group, b)) if on_now else (group, _settings_text(group, a), None))
    return out


def _off(group: str, flat: dict[str, Any]) -> bool:
    """Whether a group of settings is off in `flat`: set to None, or not there at all."""
    return flat.get(group) is None and not any(p.startswith(group + ".") for p in flat)


def _group_switched(path: str, a: dict[str, Any], b: dict[str, Any]) -> str:
    """The outermost group along `path` that is off on one side."""
    parts = path.split(".")
    for i in range(1, len(parts)):
        group = ".".join(parts[:i])
        if _off(group, a) or _off(group, b):
            return group
    return path


def _settings_text(group: str, flat: dict[str, Any]) -> str:
    """'on' and the group's settings that differ from their defaults, e.g. "on (cadence 'weekly')"."""
    inside = {p[len(group) + 1:]: v for p, v in flat.items() if p.startswith(group + ".")}
    changed = []
    for name, v in inside.items():
        if "." in name:
            continue   # a nested group's settings (an incentive programme's response curves): not one line each
        try:
            default = _default(f"{group}.{name}")
        except (KeyError, AttributeError, TypeError):
            default = object()
        if v != default and not (isinstance(default, tuple) and list(default) == v):
            if name == "rules" and isinstance(v, list):
                changed.append(f"rules {', '.join(str(r.get('name')) for r in v if isinstance(r, dict))}")
                continue
            changed.append(f"{name.replace('_', ' ')} {v!r}")
    return "on" + (f" ({', '.join(changed)})" if changed else "")


# ---- levers from fields ----------------------------------------------------------------------------
def _bounds(field: FieldInfo) -> tuple[float | None, float | None]:
    low = high = None
    for m in field.metadata:
        if isinstance(m, (at.Ge, at.Gt)):
            low = float(m.ge if isinstance(m, at.Ge) else m.gt)
        elif isinstance(m, (at.Le, at.Lt)):
            high = float(m.le if isinstance(m, at.Le) else m.lt)
    return low, high


def _optional_model(annotation: Any) -> type[BaseModel] | None:
    """The model class of a `Model | None` field (a nested switch), else None."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0]
    return None


def field_lever(path: str, section: str, name: str, field: FieldInfo, needs: str | None = None) -> Lever | None:
    """The lever for one pydantic field, or None when the field is not a simple setting."""
    annotation, helptext = field.annotation, (field.description or name.replace("_", " "))
    label = name.replace("_", " ")
    if typing.get_origin(annotation) is Literal:
        return Lever(path, section, label, helptext, "choice", choices=typing.get_args(annotation), needs=needs)
    if annotation is bool:
        return Lever(path, section, label, helptext, "switch", needs=needs)
    if annotation in (int, float):
        low, high = _bounds(field)
        whole = annotation is int
        step = 1.0 if whole else (0.01 if high is not None and low is not None and high - low <= 2 else None)
        return Lever(path, section, label, helptext, "whole" if whole else "number", low, high, step, needs=needs)
    if _optional_model(annotation) is not None:
        return Lever(path, section, label, helptext, "switch", needs=needs)
    return None


def policy_levers(policy: type[Policy]) -> list[Lever]:
    """A policy's on/off switch (unless it is always on) and its levers, as `policy.levers` names them."""
    section = policy.key.replace("_", " ").capitalize()
    root = f"policies.{policy.key}"
    out = [] if policy.on_by_default else [Lever(root, section, f"use {policy.key.replace('_', ' ')}",
                                                 policy.summary, "switch")]
    needs = None if policy.on_by_default else root
    names = list(policy.model_fields) if policy.levers is None else policy.levers
    for name in names:
        field = policy.model_fields[name]
        lever = field_lever(f"{root}.{name}", section, name, field, needs)
        if lever is None:
            continue
        out.append(lever)
        nested = _optional_model(field.annotation)
        if nested is not None:
            out += [sub for sub_name, sub_field in nested.model_fields.items()
                    if (sub := field_lever(f"{root}.{name}.{sub_name}", section,
                                           f"{name.replace('_', ' ')}: {sub_name.replace('_', ' ')}",
                                           sub_field, f"{root}.{name}")) is not None and sub.kind != "switch"]
    return out


def team_levers(scenario: Scenario) -> list[Lever]:
    """The team: reps at the start, and reps hired on a date during the run."""
    reps = type(scenario.reps).model_fields
    months = tuple(d.date() for d in _month_starts(scenario))
    return [
        Lever("reps.count", "Team", "reps at the start", reps["count"].description, "whole", 1, 60, 1),
        Lever("hire.count", "Team", "reps hired during the run", "new reps joining on the date below; they ramp up "
              f"over {scenario.reps.ramp_days} days", "whole", 0, 30, 1),
        Lever("hire.at", "Team", "hire date", "the day the new reps start", "choice", choices=months),
    ]


def _month_starts(scenario: Scenario) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(scenario.start), pd.Timestamp(scenario.end) - pd.Timedelta(days=1), freq="MS")


PROGRAMME_PRESET = "incentives"   # the preset whose incentive rules the explorer's switch starts from


def programme_rules(preset: str = PROGRAMME_PRESET) -> tuple[list[dict[str, Any]], float]:
    """The incentive rules of the `incentives` preset, and its quota (awards are scaled to a team's quota)."""
    rules, quota = _programme(preset)
    return copy.deepcopy(rules), quota


@functools.lru_cache(maxsize=4)
def _programme(preset: str) -> tuple[list[dict[str, Any]], float]:
    """The preset read once (its YAML takes a tenth of a second, and every page asks for it several times)."""
    sc = Scenario.preset(preset)
    return [r.model_dump(mode="json") for r in sc.policies.incentives.rules], float(sc.reps.quota)


_PACE: dict[str, float] = {}


def pace_quota(scenario: Scenario, seed: int = 0) -> float:
    """A yearly quota at the team's own pace: bookings per rep and year in one simulated run of `scenario`
    (for a scenario with no quota, so an incentive programme has something to judge attainment by)."""
    key = scenario.to_yaml()
    if key not in _PACE:
        booked = float(simulate(scenario, seed=seed).metrics.get("bookings") or 0.0)
        _PACE[key] = max(round(booked / scenario.reps.count / (scenario.days / 365.25), -3), 1000.0)
    return _PACE[key]


def programme(start: Scenario) -> dict[str, Any]:
    """The changes that switch the incentive programme on in `start`: the `incentives` preset's rules with the
    awards scaled to this team's quota, and a quota at the team's own pace when it has none."""
    rules, preset_quota = programme_rules()
    quota = start.reps.quota or pace_quota(start)
    share = 1.0 if start.days >= 365 else 0.25     # a run shorter than a year decides its awards each quarter
    scaled = [{**r, "award": round(r["award"] * share * quota / preset_quota, -2) or r["award"],
               **({} if share == 1.0 else {"period": "quarter"})} for r in rules]
    out: dict[str, Any] = {"policies.incentives": {"rules": scaled}}
    if start.reps.quota is None:
        out["reps.quota"] = quota
    return out


def _rules_text(rules: list[dict[str, Any]]) -> str:
    def one(r: dict[str, Any]) -> str:
        who = (f"everyone over {1 + r['over_quota']:.0%} of quota" if r.get("over_quota") is not None
               else f"the top {r.get('winners') or 1} by {r.get('metric', 'bookings')}")
        return f"{r['name']}: {r['award']:,.0f} to {who} each {r.get('period', 'year')}"
    return "; ".join(one(r) for r in rules)


def levers(scenario: Scenario) -> list[Lever]:
    """Every lever for `scenario`: the team's, then each registered policy's that can be switched on here.

    The incentive programme is offered on every scenario: switched on where the scenario has none, it runs the
    `incentives` preset's rules (awards scaled to the team's quota; a quota at the team's pace if it has none)."""
    out = team_levers(scenario)
    for policy in registered():
        startable = policy.key == "incentives" or _can_start(policy, scenario)
        if value(scenario, f"policies.{policy.key}") is None and (policy.levers == () or not startable):
            continue   # needs settings only a scenario can give (a date, an export's deals): shown where it sets them
        found = policy_levers(policy)
        if policy.key == "incentives" and found and found[0].kind == "switch":
            rules = [r.model_dump(mode="json") for r in scenario.policies.incentives.rules] \
                if scenario.policies.incentives is not None else programme_rules()[0]
            found[0] = Lever(found[0].path, found[0].section, "incentive programme",
                             f"award rules on top of quota — {_rules_text(rules)}"
                             + ("" if scenario.policies.incentives is not None else
                                " (awards scaled to your quota; the rules themselves are edited in the scenario file)"),
                             "switch")
        out += found
    return out


def _can_start(policy: type[Policy], scenario: Scenario) -> bool:
    try:
        scenario.replace({f"policies.{policy.key}": {}})
    except Exception:  # noqa: BLE001 - any refusal means it cannot start from its defaults
        return False
    return True


# ---- applying lever values -------------------------------------------------------------------------
def current(scenario: Scenario, lever: Lever) -> Any:
    """The lever's value in `scenario` (switches: on/off; the hire levers: the scenario's first hire)."""
    if lever.path.startswith("hire."):
        hires = scenario.reps.hires
        if lever.path == "hire.count":
            return hires[0].count if hires else 0
        return hires[0].at if hires else lever.choices[min(3, len(lever.choices) - 1)]
    got = value(scenario, lever.path)
    if lever.kind == "switch":
        return bool(got) if not isinstance(got, bool) else got
    if got is None and lever.needs is not None:
        return _default(lever.path)
    return got


def _default(path: str) -> Any:
    """The default of a policy field (or of a field of a policy's nested settings) at `path`."""
    _, key, *names = path.split(".")
    model: Any = REGISTRY[key]
    for name in names[:-1]:
        model = _optional_model(model.model_fields[name].annotation)
    return model.model_fields[names[-1]].get_default(call_default_factory=True)


def apply(start: Scenario, settings: dict[str, Any]) -> Scenario:
    """`start` with the levers set: {lever path: value}. Switching a policy on starts it from its defaults.

    Raises `sim.ScenarioError` naming the field when a combination is not allowed.
    """
    changes_: dict[str, Any] = {}
    by_path = dict(settings)
    hire_count, hire_at = by_path.pop("hire.count", None), by_path.pop("hire.at", None)
    if hire_count is not None:
        later = list(start.reps.hires[1:])
        first = [{"at": hire_at or start.start, "count": int(hire_count)}] if hire_count > 0 else []
        changes_["reps.hires"] = first + [h.model_dump() for h in later]
    switches = {p: v for p, v in by_path.items() if _is_switch_path(start, p)}
    for path, on in sorted(switches.items(), key=lambda kv: kv[0].count(".")):
        if not on:
            changes_[path] = None
        elif path == "policies.incentives" and value(start, path) is None:
            changes_.update(programme(start))
        elif value(start, path) is None:
            changes_[path] = {}
    for path, v in by_path.items():
        if path in switches:
            continue
        parent = path.rsplit(".", 1)[0]
        if any(parent == s or parent.startswith(s + ".") for s, on in switches.items() if not on):
            continue   # a lever under a switch that is off does not apply
        changes_[path] = v
    return start.replace(_nest(changes_))


def _is_switch_path(start: Scenario, path: str) -> bool:
    if path.startswith("policies.") and path.count(".") == 1:
        return True
    parent, name = path.rsplit(".", 1)
    if not parent.startswith("policies."):
        return False
    policy = REGISTRY.get(parent.split(".")[1])
    return policy is not None and path.count(".") == 2 and name in policy.model_fields and \
        _optional_model(policy.model_fields[name].annotation) is not None


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Dotted changes, parents before children, as `Scenario.replace` takes them (a None parent drops its children)."""
    ordered: dict[str, Any] = {}
    for path in sorted(flat, key=lambda p: p.count(".")):
        if any(path.startswith(q + ".") and flat[q] is None for q in flat):
            continue
        ordered[path] = flat[path]
    return ordered


def shown(path: str, v: Any) -> str:
    """A setting's value as a leader reads it: off, on (...), dates as dates, hires as 'N reps on date'."""
    if v is None:
        return "none" if path == "reps.quota" else "off"
    if isinstance(v, float) and abs(v) >= 1000:
        return f"{v:,.0f}"
    if isinstance(v, dt.date):
        return v.isoformat()
    if path == "reps.hires":
        return "none" if not v else "; ".join(f"{h['count']} on {shown('', h['at'])}" for h in v)
    if isinstance(v, str) and v.startswith("on"):
        return v
    return repr(v)


WORDS = {"reps.count": "reps", "reps.hires": "reps hired", "reps.quota": "quota per rep",
         "market.leads_per_month": "new leads a month", "days": "days simulated", "start": "start date"}


def words(path: str) -> str:
    """A setting's name as a leader says it: "reps" for reps.count, "qualification threshold" for
    policies.qualification.threshold, "forecast" for the forecast policy."""
    if path in WORDS:
        return WORDS[path]
    parts = path.split(".")
    if parts[0] == "policies":
        parts = parts[1:]
    return " ".join(p.replace("_", " ") for p in parts if not p.isdigit())


def describe(change: tuple[str, Any, Any]) -> str:
    """One line for the "what changed" list, in words: "reps: 30 → 32"."""
    path, old, new = change
    return f"{words(path)}: {shown(path, old)} → {shown(path, new)}"


