"""Scenarios are validated, immutable data: every bad value is named, presets and YAML round-trip."""

from __future__ import annotations

import datetime as dt

import pytest

import sim
from sim.scenario import ScenarioError


def test_presets_load_and_differ():
    names = sim.Scenario.presets()
    assert {"baseline", "downturn"} <= set(names)
    base, down = sim.Scenario.preset("baseline"), sim.Scenario.preset("downturn")
    assert base.market.shock is None and down.market.shock is not None
    assert down.days > base.days


def test_unknown_preset_lists_choices():
    with pytest.raises(ScenarioError, match="baseline"):
        sim.Scenario.preset("nope")


def test_replace_returns_new_validated_scenario(baseline):
    more = baseline.replace(reps={"count": 12})
    assert more.reps.count == 12 and baseline.reps.count == 8
    assert more.reps.selling_hours_per_week == baseline.reps.selling_hours_per_week  # merged, not replaced
    deep = baseline.replace({"market.leads_per_month": 60})
    assert deep.market.leads_per_month == 60 and deep.market.volatility == baseline.market.volatility
    with pytest.raises(Exception):
        baseline.reps.count = 3  # frozen


def test_replace_unknown_path_is_named(baseline):
    with pytest.raises(ScenarioError, match="name.x"):
        baseline.replace({"name.x": 1})


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"reps": {"count": -3}}, "reps.count", "-3 is not allowed, must be a whole number >= 1"),
        ({"reps": {"count": 2.5}}, "reps.count", "whole number"),
        ({"reps": {"selling_hours_per_week": 0}}, "reps.selling_hours_per_week", "> 0"),
        ({"reps": {"ramp_start": 1.5}}, "reps.ramp_start", "<= 1"),
        ({"reps": {"hires": [{"at": "2020-01-01", "count": 1}]}}, "reps.hires.0.at", "before the scenario start"),
        ({"reps": {"hires": [{"at": "2026-03-01", "count": 0}]}}, "reps.hires.0.count", ">= 1"),
        ({"days": 3}, "days", ">= 7"),
        ({"start": "yesterday"}, "start", "date"),
        ({"currency": ""}, "currency", "at least 1 character"),
        ({"market": {"leads_per_month": -1}}, "market.leads_per_month", "> 0"),
        ({"market": {"repeat_share": 0.1}}, "market", "accounts.repeat_per_year"),
        ({"accounts": {"repeat_per_year": -1}}, "accounts.repeat_per_year", ">= 0"),
        ({"market": {"volatility": -0.1}}, "market.volatility", ">= 0"),
        ({"market": {"seasonality": [1, 2]}}, "market", "12 monthly values"),
        ({"market": {"shock": {"start": "2026-02-01", "lead_drop": 2}}}, "market.shock.lead_drop", "<= 1"),
        ({"market": {"shock": {"start": "2026-02-01", "trough_days": -1}}}, "market.shock.trough_days", ">= 0"),
        ({"segments": []}, "segments", "at least 1"),
        ({"segments": [{"name": "A", "share": 0}]}, "segments.0.share", "> 0"),
        ({"segments": [{"name": "A", "share": 1, "fit_mean": 1.2}]}, "segments.0.fit_mean", "< 1"),
        ({"segments": [{"name": "A", "share": 1, "fit_mean": 0.9, "fit_sd": 0.4}]}, "segments.0", "too large"),
        ({"segments": [{"name": "A", "share": 1, "deal_size": -5}]}, "segments.0.deal_size", "> 0"),
        ({"segments": [{"name": "A", "share": 1, "accounts": 0}]}, "segments.0.accounts", ">= 1"),
        ({"segments": [{"name": "A", "share": 1}, {"name": "A", "share": 1}]}, "segments", "unique"),
        ({"lead_sources": [{"name": "X", "share": 1, "loss_factor": 0}]}, "lead_sources.0.loss_factor", "> 0"),
        ({"stages": [{"name": "S", "median_days": 0}]}, "stages.0.median_days", "> 0"),
        ({"stages": [{"name": "S", "median_days": 5, "loss_chance": 1}]}, "stages.0.loss_chance", "< 1"),
        ({"stages": [{"name": "S", "median_days": 5, "stall_chance": -0.1}]}, "stages.0.stall_chance", ">= 0"),
        ({"stages": [{"name": "S", "median_days": 5, "rep_hours": -1}]}, "stages.0.rep_hours", ">= 0"),
        ({"stages": [{"name": "won", "median_days": 5}]}, "stages", "outcomes"),
        ({"stages": [{"name": "S", "median_days": 5}, {"name": "S", "median_days": 6}]}, "stages", "names must be unique, repeated: S"),
        ({"deal_value": {"realisation_median": 0}}, "deal_value.realisation_median", "> 0"),
        ({"fit_effects": {"on_loss": -1}}, "fit_effects.on_loss", ">= 0"),
        ({"policies": {"allocation": {"rule": "random"}}}, "policies.allocation.rule", "first_come"),
        ({"policies": {"allocation": {"focus_segments": ["Mars"]}}}, "focus_segments", "Mars"),
        ({"reps": {"cuont": 3}}, "reps.cuont", "unknown field"),
        ({"market": {"seasonality": [1.0] * 11 + [float("nan")]}}, "market.seasonality.11", "finite number"),
        ({"market": {"leads_per_month": float("inf")}}, "market.leads_per_month", "finite number"),
        ({"segments": [{"name": "A", "share": float("nan")}]}, "segments.0.share", "finite number"),
        ({"segments": [{"name": "A", "share": 1, "deal_size": float("inf")}]}, "segments.0.deal_size", "finite number"),
        ({"reps": {"hires": [{"at": "2026-03-01", "count": 10**9}]}}, "reps.hires.0.count", "<= 10000"),
        ({"reps": {"count": 9000, "hires": [{"at": "2026-03-01", "count": 5000}]}}, "reps", "at most 10,000"),
        ({"start": "2300-01-01"}, "start", "must lie between 1900-01-01 and 2200-12-31"),
        ({"start": "9999-12-01"}, "start", "must lie between"),
        ({"policies": {"nurture_everyone": {}}}, "policies.nurture_everyone", "unknown policy"),
    ],
)
def test_every_invalid_field_is_rejected_with_its_path(baseline, change, path, words):
    with pytest.raises(ScenarioError) as info:
        baseline.replace(change)
    message = str(info.value)
    assert path in message and words in message, message
    assert "Traceback" not in message and "pydantic" not in message


def test_yaml_round_trip_is_exact_and_commented(tmp_path, baseline):
    text = baseline.to_yaml(tmp_path / "b.yaml")
    assert "# reps at the start, fully ramped" in text
    again = sim.Scenario.from_yaml(tmp_path / "b.yaml")
    assert again == baseline
    down = sim.Scenario.preset("downturn")
    assert sim.Scenario.from_yaml_text(down.to_yaml(commented=False)) == down


def test_bad_yaml_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("reps:\n  count: -3\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml[\s\S]*reps\.count: -3"):
        sim.Scenario.from_yaml(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("reps: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        sim.Scenario.from_yaml(broken)
    with pytest.raises(ScenarioError, match="cannot read"):
        sim.Scenario.from_yaml(tmp_path / "missing.yaml")


def test_scenario_end_date(baseline):
    assert baseline.end == dt.date(2027, 1, 1)
