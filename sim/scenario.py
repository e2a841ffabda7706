"""Scenarios: the whole what-if as plain, validated, immutable data.

A `Scenario` says who the team is, what the market sends them, how deals move through the stages and
which policies run. It loads from and saves to YAML (`from_yaml`, `to_yaml`), ships as named presets
(`Scenario.preset("baseline")`), and `replace()` returns a changed copy. Every bad value is reported as
one line naming its field path, the value and what is allowed; see `ScenarioError`.
"""

from __future__ import annotations

import copy
import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from .policies import Data, Policies
from .schema import DEFAULT_STAGES
from .truth import TruthSettings


class ScenarioError(ValueError):
    """A scenario value is not allowed. `problems` holds one line per bad field."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = problems
        head = f"invalid scenario{f' in {source}' if source else ''}:"
        super().__init__("\n".join([head, *(f"  {p}" for p in problems)]))


class Shock(Data):
    """A market shock: at `start` conditions drop to the trough, stay there, then recover linearly."""

    start: dt.date = Field(description="first day of the shock")
    lead_drop: float = Field(0.0, ge=0.0, le=1.0, description="share of the lead flow lost at the trough (0.3 = 30% fewer leads)")
    win_drop: float = Field(0.0, ge=0.0, le=1.0, description="share of each stage's pass chance lost at the trough")
    cycle_stretch: float = Field(0.0, ge=0.0, le=5.0, description="extra stage time at the trough (0.5 = stages take 50% longer)")
    trough_days: int = Field(90, ge=0, description="days the market stays at the trough")
    recovery_days: int = Field(180, ge=0, description="days from the end of the trough back to normal")


class Market(Data):
    """What the market sends the team."""

    leads_per_month: float = Field(40.0, gt=0.0, le=100_000.0, description="average new leads per month")
    seasonality: tuple[float, ...] | None = Field(
        None, description="12 monthly multipliers on the lead rate, January first (null = flat)"
    )
    repeat_share: float = Field(
        0.15, ge=0.0, lt=1.0, description="share of leads that come from existing customers (expansion, renewals)"
    )
    volatility: float = Field(
        0.0, ge=0.0, le=2.0, description="month-to-month randomness of the lead rate (0 = calm, 0.5 = volatile)"
    )
    shock: Shock | None = Field(None, description="an optional downturn with recovery")
    patience_days: float | None = Field(
        None, gt=0, le=3650,
        description="buyers' patience: a deal kept waiting w days for its rep passes the stage with chance x exp(-w / patience) (null = buyers wait forever)",
    )

    @model_validator(mode="after")
    def _twelve_months(self) -> Market:
        if self.seasonality is not None:
            if len(self.seasonality) != 12:
                raise ValueError(f"seasonality needs 12 monthly values, got {len(self.seasonality)}")
            if any(m < 0 for m in self.seasonality) or max(self.seasonality) <= 0:
                raise ValueError("seasonality values must be >= 0 and not all 0")
        return self


class Segment(Data):
    """A group of accounts that look alike: how well they fit, how big their deals are, how many exist."""

    name: str = Field(min_length=1, description="segment name")
    share: float = Field(gt=0.0, description="relative share of new-logo leads from this segment")
    fit_mean: float = Field(0.5, gt=0.0, lt=1.0, description="average fit score of its accounts (0..1)")
    fit_sd: float = Field(0.15, gt=0.0, lt=0.5, description="spread of fit scores")
    deal_size: float = Field(20_000.0, gt=0.0, description="median first estimate of a deal, in the scenario currency")
    size_spread: float = Field(0.6, ge=0.0, le=3.0, description="spread of deal sizes (log scale)")
    accounts: int | None = Field(None, ge=1, description="accounts in this market (null = unlimited)")

    @model_validator(mode="after")
    def _beta_feasible(self) -> Segment:
        limit = (self.fit_mean * (1 - self.fit_mean)) ** 0.5
        if self.fit_sd >= limit:
            raise ValueError(f"fit_sd {self.fit_sd} is too large for fit_mean {self.fit_mean}; must be < {limit:.3f}")
        return self


class LeadSource(Data):
    """How leads are found and how much better (or worse) such leads close."""

    name: str = Field(min_length=1, description="lead source name")
    share: float = Field(gt=0.0, description="relative share of new-logo leads")
    loss_factor: float = Field(1.0, gt=0.0, le=5.0, description="multiplier on stage loss chances (0.7 = loses 30% less often)")


class Stage(Data):
    """One sales stage: customer-side time, the rep work it needs, and its chances of loss and stall."""

    name: str = Field(min_length=1, description="stage name as the CRM shows it")
    median_days: float = Field(gt=0.0, le=3650.0, description="median customer-side days in this stage")
    spread: float = Field(0.5, ge=0.0, le=3.0, description="spread of stage time (log scale)")
    rep_hours: float = Field(4.0, ge=0.0, le=1000.0, description="hours of rep work the stage needs")
    loss_chance: float = Field(0.1, ge=0.0, lt=1.0, description="chance a deal of average fit is lost at the end of this stage")
    stall_chance: float = Field(0.1, ge=0.0, le=1.0, description="chance the deal stalls in this stage")
    stall_days: float = Field(30.0, ge=0.0, le=3650.0, description="median extra days a stall adds")


class Hire(Data):
    """New reps joining on a date; they ramp up before selling at full speed."""

    at: dt.date = Field(description="start date of the new reps")
    count: int = Field(ge=1, description="how many join")


class Reps(Data):
    """The sales team. Rep time is the constraint: every stage needs some of it."""

    count: int = Field(8, ge=1, le=10_000, description="reps at the start, fully ramped")
    selling_hours_per_week: float = Field(30.0, gt=0.0, le=80.0, description="hours a rep spends selling each week")
    ramp_days: int = Field(90, ge=0, le=730, description="days a new rep needs to reach full speed")
    ramp_start: float = Field(0.3, gt=0.0, le=1.0, description="speed of a new rep on day one, as a share of full speed")
    hires: tuple[Hire, ...] = Field((), description="reps joining later")
    quota: float | None = Field(None, gt=0, description="yearly quota of each rep, in the scenario currency (null = no quotas)")
    quota_period: Literal["month", "quarter", "year"] = Field("quarter", description="period over which quotas are judged")


class DealValue(Data):
    """How the signed amount compares with the first estimate (the '2 licences instead of 10' gap)."""

    realisation_median: float = Field(0.85, gt=0.0, le=10.0, description="median of actual / first estimate for won deals")
    realisation_spread: float = Field(0.3, ge=0.0, le=3.0, description="spread of that ratio (log scale)")


class FitEffects(Data):
    """How much a lead's fit score matters. 0 = not at all; larger = good fit helps more."""

    on_loss: float = Field(2.0, ge=0.0, le=10.0, description="good fit lowers stage loss chances: x exp(on_loss * (0.5 - fit))")
    on_size: float = Field(0.5, ge=0.0, le=10.0, description="good fit raises deal size: x exp(on_size * (fit - 0.5))")
    on_duration: float = Field(0.5, ge=0.0, le=10.0, description="good fit shortens stages: x exp(on_duration * (0.5 - fit))")


def _default_segments() -> tuple[Segment, ...]:
    return (Segment(name="Mid-market", share=1.0),)


def _default_sources() -> tuple[LeadSource, ...]:
    return (LeadSource(name="Inbound", share=1.0),)


def _default_stages() -> tuple[Stage, ...]:
    return tuple(Stage(name=n, median_days=14.0) for n in DEFAULT_STAGES)


class Scenario(Data):
    """A complete what-if: team, market, stages and policies. Immutable; use `replace` to change it."""

    name: str = Field("custom", min_length=1, description="short name shown in tables and figures")
    description: str = Field("", description="what this scenario is about")
    start: dt.date = Field(dt.date(2026, 1, 1), description="first simulated day; tables carry real dates from here")
    days: int = Field(365, ge=7, le=3650, description="simulated calendar days")
    currency: str = Field("USD", min_length=1, description="currency of all amounts")
    market: Market = Field(default_factory=Market, description="lead flow and market conditions")
    segments: tuple[Segment, ...] = Field(default_factory=_default_segments, min_length=1, description="market segments")
    lead_sources: tuple[LeadSource, ...] = Field(default_factory=_default_sources, min_length=1, description="where new-logo leads come from")
    stages: tuple[Stage, ...] = Field(default_factory=_default_stages, min_length=1, description="sales stages in order; a deal that passes the last one is won")
    reps: Reps = Field(default_factory=Reps, description="the sales team")
    deal_value: DealValue = Field(default_factory=DealValue, description="first estimate vs signed amount")
    fit_effects: FitEffects = Field(default_factory=FitEffects, description="how much fit matters")
    truth: TruthSettings = Field(default_factory=TruthSettings, description="hidden facts behind each deal's real chance, and how reps learn them")
    policies: Policies = Field(default_factory=Policies, description="policies the model consults")

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        for what, items in (("segments", self.segments), ("lead_sources", self.lead_sources), ("stages", self.stages)):
            names = [i.name for i in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{what}: names must be unique, repeated: {', '.join(dupes)}")
        if {s.name for s in self.stages} & {"won", "lost"}:
            raise ValueError("stages: 'won' and 'lost' are outcomes, not stage names")
        segment_names = {s.name for s in self.segments}
        unknown = [s for s in self.policies.allocation.focus_segments if s not in segment_names]
        if unknown:
            raise ValueError(
                f"policies.allocation.focus_segments: {', '.join(unknown)} not among the segments "
                f"({', '.join(sorted(segment_names))})"
            )
        qualification = self.policies.qualification
        if qualification is not None and qualification.relax_when_behind is not None and self.reps.quota is None:
            raise ValueError("policies.qualification.relax_when_behind needs reps.quota: behind is judged against a quota")
        staffing = self.policies.staffing
        if staffing is not None and not self.start <= staffing.at < self.end:
            raise ValueError(f"policies.staffing.at: {staffing.at} is outside the scenario ({self.start} to {self.end})")
        forecast = self.policies.forecast
        if forecast is not None and forecast.stage_probabilities is not None and len(forecast.stage_probabilities) != len(self.stages):
            raise ValueError(f"policies.forecast.stage_probabilities: {len(forecast.stage_probabilities)} values "
                             f"for {len(self.stages)} stages; give one per stage")
        for i, hire in enumerate(self.reps.hires):
            if hire.at < self.start:
                raise ValueError(f"reps.hires.{i}.at: {hire.at} is before the scenario start {self.start}")
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
            data = yaml.safe_load(text)
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
        and dotted paths reach deep fields (``replace({"market.leads_per_month": 60})``). Lists are
        replaced whole. The result is validated like any scenario.
        """
        data = self.to_dict()
        for key, value in {**(changes or {}), **fields}.items():
            *parents, last = key.split(".")
            target = data
            for p in parents:
                if not isinstance(target.get(p), dict):
                    raise ScenarioError([f"{key}: there is no such field ({p!r} is not a group of settings)"])
                target = target[p]
            value = _plain(value)
            if isinstance(value, dict) and isinstance(target.get(last), dict):
                target[last] = _merge(target[last], value)
            else:
                target[last] = value
        return Scenario.build(data)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (dicts, lists, dates) that `build` accepts back."""
        return _plain(self.model_dump(mode="python"))

    def to_yaml(self, path: str | Path | None = None, commented: bool = True) -> str:
        """The scenario as YAML, with each field's meaning as a comment; written to `path` if given."""
        text = "\n".join(_yaml_lines(self, 0, commented)) + "\n"
        if commented:
            text = f"# Scenario {self.name!r}: edit the values, keep the structure. Load with Scenario.from_yaml.\n" + text
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def day_of(self, when: dt.date) -> int:
        """Simulated day number of a calendar date (0 = the start date)."""
        return (when - self.start).days

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days)

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]


# ---- helpers ------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """Tuples to lists and models to dicts, recursively, so YAML and merging see plain data."""
    if isinstance(value, BaseModel):
        return _plain(value.model_dump(mode="python"))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return copy.deepcopy(value)


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
            lines.append(f"{path}: {msg}" if path else msg)
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


def _yaml_lines(model: BaseModel, indent: int, commented: bool) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if commented and field.description:
            lines.append(f"{pad}# {field.description}")
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:")
            lines.extend(_yaml_lines(value, indent + 2, commented))
        elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
            lines.append(f"{pad}{name}:")
            for i, item in enumerate(value):
                sub = _yaml_lines(item, indent + 4, commented and i == 0)
                first = next(j for j, line in enumerate(sub) if not line.lstrip().startswith("#"))
                sub[first] = f"{pad}  - " + sub[first].lstrip()
                lines.extend(sub)
        else:
            lines.append(f"{pad}{name}: {_scalar(_plain(value))}")
    return lines
