"""Scenarios: the whole what-if as plain, validated, immutable data — a world plus the policies it runs.

A `Scenario` is a `sim.world.World` (who the team is, what the market sends them, how deals move) with a
name, a description and its `Policies`. It loads from and saves to YAML (`from_yaml`, `to_yaml`), ships as
named presets (`Scenario.preset("baseline")`), and `replace()` returns a changed copy. Every bad value is
reported as one line naming its field path, the value and what is allowed; see `ScenarioError`.

`Policies` holds one entry per registered policy (`sim.engine.hooks.register`): the built-in ones in
`sim.policies`, and any a user registers. A scenario asks each policy to check itself against the world.

Reading YAML is strict: a key given twice in one mapping is refused naming the key and both lines (a
loader that keeps the last one would silently run `reps: {count: 80}` over an earlier `count: 8`), nesting
deeper than `MAX_DEPTH` is refused with the line (no scenario nests past a handful of levels), and a number
in a field without an upper bound of its own may not exceed `UNBOUNDED_LIMIT` (`1e308` days is a typo).
`run_size` estimates a scenario's work so the command line can say it, and refuse a run far past the usual.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from annotated_types import Le, Lt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from . import policies as _builtin  # noqa: F401 - importing the package registers the built-in policies
from .engine.hooks import REGISTRY, Policy, registered
from .world import Costs, World
from .core.outputs import write_text


MAX_DEPTH = 20                 # nesting levels a scenario YAML may have (the deepest real one has about 5)
UNBOUNDED_LIMIT = 1_000_000.0  # the largest number a field without an upper bound of its own accepts


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key repeated in one mapping and nesting past `MAX_DEPTH`."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"line {mark.line + 1}: nested more than {MAX_DEPTH} levels deep; a scenario "
                                     "has a few levels (e.g. policies: forecast: recent_contact_days)")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in first:
                        raise yaml.YAMLError(f"line {line}: the key {key!r} is given twice in one mapping (first on "
                                             f"line {first[key]}); keep one")
                    first[key] = line
                except TypeError:   # an unhashable key: the base loader says so
                    break
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str) -> Any:
    """YAML text as plain data, strictly (`_StrictLoader`); raises `yaml.YAMLError` naming the line."""
    return yaml.load(text, Loader=_StrictLoader)   # noqa: S506 - a SafeLoader subclass


class ScenarioError(ValueError):
    """A scenario value is not allowed. `problems` holds one line per bad field."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = problems
        head = f"invalid scenario{f' in {source}' if source else ''}:"
        super().__init__("\n".join([head, *(f"  {p}" for p in problems)]))


class Policies(BaseModel):
    """The policies a scenario runs, by key (``policies.qualification``...). A key set to null is off.

    Every registered policy has an entry (off unless it is on by default); an unknown key is an error
    naming the known ones. Read them as attributes: ``scenario.policies.forecast``.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _each_policy(cls, data: Any) -> dict[str, Policy | None]:
        if data is None:
            data = {}
        if isinstance(data, Policies):
            return dict(data.model_extra or {})
        if not isinstance(data, dict):
            raise ValueError(f"policies must be a mapping of policy name to settings, got {type(data).__name__}")
        out: dict[str, Policy | None] = {}
        problems: list[InitErrorDetails] = []
        for key in data:
            if key not in REGISTRY:
                problems.append({"type": "value_error", "loc": (key,), "input": data[key],
                                 "ctx": {"error": ValueError(f"unknown policy (known: {', '.join(sorted(REGISTRY))})")}})
        for policy in registered():
            value = data.get(policy.key, {} if policy.on_by_default else None)
            if value is None or isinstance(value, policy):
                out[policy.key] = value
                continue
            try:
                out[policy.key] = policy.model_validate(value)
            except ValidationError as err:
                problems.extend({**e, "loc": (policy.key, *e["loc"])} for e in err.errors(include_url=False))
        if problems:
            raise ValidationError.from_exception_data("Policies", problems)
        return out

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in REGISTRY:   # registered after this scenario was made: it is off here
                return None
            raise

    def active(self) -> list[Policy]:
        """The policies that are on, in the order the model consults them (fixed, so runs are reproducible)."""
        on = self.model_extra or {}
        return [on[p.key] for p in registered() if isinstance(on.get(p.key), Policy)]


class Scenario(World):
    """A complete what-if: a world and the policies it runs. Immutable; use `replace` to change it."""

    name: str = Field("custom", min_length=1, max_length=200, description="short name shown in tables and figures")
    description: str = Field("", max_length=10_000, description="what this scenario is about")
    policies: Policies = Field(default_factory=Policies, description="policies the model consults")
    costs: Costs = Field(default_factory=Costs, description="what a plan's levers cost (sim.plan); the simulation does "
                         "not read them")

    @model_validator(mode="after")
    def _numbers_in_bounds(self) -> Scenario:
        problems = [f"{path}: {value:g} is far beyond any sensible value; at most {UNBOUNDED_LIMIT:,.0f}"
                    for path, value in _unbounded_numbers(self, "") if abs(value) > UNBOUNDED_LIMIT]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @model_validator(mode="after")
    def _policies_fit_the_world(self) -> Scenario:
        problems = [f"policies.{p.key}.{line}" for p in self.policies.active() for line in p.check(self)]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def build(cls, data: dict[str, Any], source: str | None = None) -> Scenario:
        """Validate plain data into a Scenario, turning pydantic's errors into one line per field."""
        if not isinstance(data, dict):
            raise ScenarioError([f"a scenario must be a mapping of fields, got {type(data).__name__}"], source)
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ScenarioError(_problems(err), source) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> Scenario:
        """Load a scenario from a YAML file (safe loader)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ScenarioError([f"cannot read the file: {err.strerror}"], str(path)) from None
        return cls.from_yaml_text(text, str(path))

    @classmethod
    def from_yaml_text(cls, text: str, source: str | None = None) -> Scenario:
        """Parse and validate scenario YAML held in a string."""
        try:
            data = read_yaml(text)
        except RecursionError:
            raise ScenarioError([f"not valid YAML: nested more than {MAX_DEPTH} levels deep"], source) from None
        except yaml.YAMLError as err:
            raise ScenarioError([f"not valid YAML: {err}"], source) from None
        return cls.build(data or {}, source)

    @classmethod
    def preset(cls, name: str) -> Scenario:
        """A bundled scenario by name, e.g. ``baseline`` or ``downturn``."""
        names = cls.presets()
        if name not in names:
            raise ScenarioError([f"no preset named {name!r}; choose one of: {', '.join(names)}"])
        text = resources.files("sim.presets").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
        return cls.from_yaml_text(text, f"preset {name}")

    @staticmethod
    def presets() -> list[str]:
        """Names of the bundled presets."""
        files = resources.files("sim.presets").iterdir()
        return sorted(f.name[: -len(".yaml")] for f in files if f.name.endswith(".yaml"))

    @classmethod
    def load(cls, name_or_path: str | Path) -> Scenario:
        """A preset name or a YAML path: what the command line accepts."""
        text = str(name_or_path)
        if text.endswith((".yaml", ".yml")) or Path(text).exists():
            return cls.from_yaml(text)
        return cls.preset(text)

    # ---- change and save ----------------------------------------------------------------------
    def replace(self, changes: dict[str, Any] | None = None, /, **fields: Any) -> Scenario:
        """A new scenario with some values changed; the original is untouched.

        Nested mappings are merged (``replace(reps={"count": 12})`` keeps the other rep settings),
        and dotted paths reach deep fields (``replace({"market.leads_per_month": 60})``), also inside lists
        by position (``replace({"stages.0.loss_chance": 0.3})``). Lists are otherwise replaced whole. The
        result is validated like any scenario.
        """
        data = self.to_dict()
        for key, value in {**(changes or {}), **fields}.items():
            *parents, last = key.split(".")
            target: Any = data
            for p in parents:
                target = _step(target, p, key)
            value = _plain(value)
            if isinstance(target, list):
                if not (last.isdigit() and int(last) < len(target)):
                    raise ScenarioError([f"{key}: there is no such field ({last!r} is not a position in the list, "
                                         f"0 to {len(target) - 1})"])
                target[int(last)] = value
            elif isinstance(value, dict) and isinstance(target.get(last), dict):
                target[last] = _merge(target[last], value)
            else:
                target[last] = value
        return Scenario.build(data)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (dicts, lists, dates) that `build` accepts back."""
        return _plain(self.model_dump(mode="python"))

    def to_yaml(self, path: str | Path | None = None, commented: bool = True,
                notes: Mapping[str, str] | None = None) -> str:
        """The scenario as YAML, with each field's meaning as a comment; written to `path` if given.

        `notes` adds comments by field path (``"stages.0.loss_chance"``, ``"reps.count"``,
        ``"policies.qualification"``): at the end of a value's line, or above a group or list. They say where a
        value came from (`sim.calibrate`) or what it was before (the what-if explorer).
        """
        notes = {**self.costs.notes(), **(notes or {})}     # each cost says whether it is assumed, and its range
        text = "\n".join(_yaml_lines(self, 0, commented, notes, "")) + "\n"
        if commented:
            text = f"# Scenario {self.name!r}: edit the values, keep the structure. Load with Scenario.from_yaml.\n" + text
        if path is not None:
            write_text(path, text)   # whole: a temporary name, then renamed
        return text


# ---- size of a run -------------------------------------------------------------------------------------
SECONDS_PER_LEAD = 3e-4     # measured: 170-340 microseconds per lead on one core (baseline at 45 and 2,000 leads/month)
MB_PER_LEAD = 0.005         # measured: about 4.5 KB of tables and engine state per lead
USUAL_LEADS = 100_000       # leads in one run past which the command line states the estimate
MAX_LEADS = 1_000_000       # leads in one run past which the command line refuses unless --large is given


@dataclass(frozen=True)
class RunSize:
    """About how much work one replication of a scenario is: new-logo leads, seconds on one core, memory."""

    leads: float
    seconds: float
    megabytes: float

    @property
    def usual(self) -> bool:
        return self.leads <= USUAL_LEADS

    @property
    def allowed(self) -> bool:
        return self.leads <= MAX_LEADS

    def describe(self, runs: int = 1) -> str:
        secs = self.seconds * runs
        took = f"{secs / 3600:,.1f} hours" if secs >= 3600 else f"{secs / 60:,.0f} minutes" if secs >= 60 else f"{secs:.0f} s"
        per = f" for {runs:,} runs" if runs > 1 else ""
        return (f"about {self.leads:,.0f} leads per run; roughly {took}{per} on one core and "
                f"{self.megabytes / 1024:,.1f} GB of memory per run (a rough estimate)")


def field_of(path: str) -> str:
    """The path of the scenario field that holds `path`: a list entry's (`stages.2.median_days`, `reps.hires.0`) is
    its list's (`stages`, `reps.hires`), the field `to_yaml` writes and notes a list under."""
    return re.sub(r"\.\d+(\..*)?$", "", path)


def run_size(scenario: Scenario) -> RunSize:
    """The rough size of one replication: leads a month (with seasonality) times the months simulated."""
    season = scenario.market.seasonality
    factor = sum(season) / len(season) if season else 1.0
    leads = scenario.market.leads_per_month * factor * scenario.days / (365.25 / 12)
    return RunSize(leads, leads * SECONDS_PER_LEAD, leads * MB_PER_LEAD)


# ---- helpers ------------------------------------------------------------------------------------
def _unbounded_numbers(model: BaseModel, prefix: str):
    """(path, number) for every number held in a field that has no upper bound of its own, recursively."""
    fields = type(model).model_fields
    items = list(fields.items())
    extra = getattr(model, "model_extra", None) or {}
    for name, value in [(n, getattr(model, n, None)) for n, _ in items] + list(extra.items()):
        path = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            yield from _unbounded_numbers(value, path + ".")
            continue
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, BaseModel) for v in value):
            for k, v in enumerate(value):
                yield from _unbounded_numbers(v, f"{path}.{k}.")
            continue
        info = fields.get(name)
        if info is not None and any(isinstance(m, (Le, Lt)) for m in info.metadata):
            continue
        for k, number in _numbers(value):
            if isinstance(number, float) and not math.isfinite(number):
                continue   # the base data type already refuses these
            yield (f"{path}{k}", number)


def _numbers(value: Any, key: str = ""):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield key, value
    elif isinstance(value, (list, tuple)):
        for k, v in enumerate(value):
            yield from _numbers(v, f"{key}.{k}")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, f"{key}.{k}")


def _plain(value: Any) -> Any:
    """Tuples to lists and models to dicts, recursively, so YAML and merging see plain data."""
    if isinstance(value, BaseModel):
        return _plain(value.model_dump(mode="python"))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return copy.deepcopy(value)


def _step(target: Any, part: str, key: str) -> Any:
    """One step down a dotted path: a group of settings by name, or a list item by position."""
    if isinstance(target, list) and part.isdigit() and int(part) < len(target):
        return target[int(part)]
    if isinstance(target, dict) and isinstance(target.get(part), (dict, list)):
        return target[part]
    if isinstance(target, list):
        raise ScenarioError([f"{key}: there is no such field ({part!r} is not a position in the list, 0 to {len(target) - 1})"])
    raise ScenarioError([f"{key}: there is no such field ({part!r} is not a group of settings)"])


def _merge(base: dict, change: dict) -> dict:
    out = dict(base)
    for k, v in change.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


_BOUNDS = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}


def _problems(err: ValidationError) -> list[str]:
    """One readable line per pydantic error: `path: value is not allowed, must be ...`."""
    lines = []
    errors = err.errors(include_url=False)
    paths = [".".join(str(p) for p in e["loc"]) for e in errors]
    for e, path in zip(errors, paths):
        if e["type"] == "too_short" and any(p.startswith(path + ".") for p in paths):
            continue  # a list emptied by its own bad items: the items' errors say it all
        kind, value, ctx = e["type"], e.get("input"), e.get("ctx", {})
        msg = e["msg"].removeprefix("Value error, ")
        if kind == "extra_forbidden":
            lines.append(f"{path}: unknown field (check the spelling; `playbook scenario baseline` lists all fields)")
        elif kind == "missing":
            lines.append(f"{path}: missing, this field is required")
        elif kind == "value_error":
            lines.extend(f"{path}: {m}" if path else m for m in msg.split("\n"))
        elif kind == "finite_number":
            lines.append(f"{path}: {value!r} is not allowed, must be a finite number")
        elif kind in _BOUNDS:
            limit = next(iter(ctx.values()))
            number = "a whole number" if isinstance(limit, int) else "a number"
            lines.append(f"{path}: {value!r} is not allowed, must be {number} {_BOUNDS[kind]} {limit:g}")
        elif kind.startswith("int_"):
            lines.append(f"{path}: {value!r} is not allowed, must be a whole number")
        else:
            where = f"{path}: " if path else ""
            lines.append(f"{where}{value!r} is not allowed, {msg.replace('Input should be', 'must be')}")
    return lines


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).removesuffix("\n...\n").strip()


def _fields(model: BaseModel) -> list[tuple[str, Any, str | None]]:
    """(name, value, comment) of a model's fields in YAML order: a scenario's name and description first,
    a `Policies` entry per registered policy with the policy's summary as its comment."""
    if isinstance(model, Policies):
        return [(key, value, REGISTRY[key].summary if key in REGISTRY else None)
                for key, value in (model.model_extra or {}).items()]
    items = [(name, getattr(model, name), field.description) for name, field in type(model).model_fields.items()]
    if isinstance(model, Scenario):
        first = ("name", "description")
        items = [i for i in items if i[0] in first] + [i for i in items if i[0] not in first]
    return items


def _yaml_lines(model: BaseModel, indent: int, commented: bool, notes: Mapping[str, str], prefix: str,
                describe: bool = True) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for name, value, comment in _fields(model):
        path = f"{prefix}{name}"
        if commented and describe and comment:
            lines.append(f"{pad}# {comment}")
        group = isinstance(value, BaseModel) or (isinstance(value, tuple) and value and isinstance(value[0], BaseModel))
        if commented and group and path in notes:
            lines.extend(f"{pad}# {line}" for line in str(notes[path]).splitlines())
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:")
            lines.extend(_yaml_lines(value, indent + 2, commented, notes, f"{path}.", describe))
        elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
            lines.append(f"{pad}{name}:")
            for i, item in enumerate(value):
                sub = _yaml_lines(item, indent + 4, commented, notes, f"{path}.{i}.", describe and i == 0)
                first = next(j for j, line in enumerate(sub) if not line.lstrip().startswith("#"))
                sub[first] = f"{pad}  - " + sub[first].lstrip()
                lines.extend(sub)
        else:
            note = notes.get(path)
            lines.append(f"{pad}{name}: {_scalar(_plain(value))}" + (f"  # {note}" if note and commented else ""))
    return lines
