"""Scenario files a user or an attacker writes (issue 24): a key given twice, nesting past reason, numbers
past any sense and runs far past the usual size get a clear refusal naming the key, line or field."""

from __future__ import annotations

import pytest

from sim.cli import main
from sim.scenario import MAX_DEPTH, MAX_LEADS, Scenario, ScenarioError, run_size


def refused(text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_yaml_text(text, "my.yaml")
    return str(caught.value)


def test_a_key_given_twice_is_refused_naming_it_and_both_lines():
    says = refused("name: x\nreps:\n  count: 8\n  ramp_days: 30\n  count: 80\n")
    assert "my.yaml" in says and "line 5: the key 'count' is given twice in one mapping (first on line 3)" in says
    says = refused("name: x\nreps: {count: 8}\ndays: 200\nreps: {count: 80}\n")
    assert "line 4: the key 'reps' is given twice" in says


def test_deep_nesting_is_refused_with_a_message_not_a_recursion_error():
    says = refused("a: " + "[" * 5000 + "]" * 5000)
    assert f"nested more than {MAX_DEPTH} levels deep" in says
    says = refused("a:\n" + "".join("  " * i + f"b{i}:\n" for i in range(1, 40)))
    assert "line 20: nested more than" in says


def test_deep_nesting_through_the_command_line_exits_2(tmp_path, capsys):
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000)
    assert main(["simulate", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "nested more than" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["1e308", "1.0e+308", "5000000"])
def test_a_number_in_a_field_without_its_own_upper_bound_is_bounded(value):
    says = refused(f"name: x\npolicies:\n  forecast: {{recent_contact_days: {value}}}\n")
    assert "policies.forecast.recent_contact_days:" in says and "far beyond any sensible value; at most 1,000,000" in says


def test_every_number_of_every_preset_is_within_bounds():
    for name in Scenario.presets():
        Scenario.preset(name)     # the bound refuses no shipped scenario


def test_a_run_far_past_the_usual_is_estimated_and_refused_unless_asked(tmp_path, capsys):
    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\nmarket: {leads_per_month: 100000}\ndays: 3650\n")
    size = run_size(Scenario.from_yaml(path))
    assert size.leads > MAX_LEADS and not size.allowed
    assert main(["simulate", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "100,000 leads a month for 3,650 days" in err and "GB of memory" in err and "--large" in err
    assert not (tmp_path / "run").exists()
    assert main(["compare", "baseline", str(path), "--reps", "2"]) == 2
    assert "for 4 runs" in capsys.readouterr().err


def test_the_usual_sizes_say_nothing():
    assert all(run_size(Scenario.preset(n)).usual for n in Scenario.presets())


def test_a_run_past_the_usual_size_shows_its_progress_in_simulated_days(tmp_path, capsys, monkeypatch):
    import sim.scenario

    monkeypatch.setattr(sim.scenario, "USUAL_LEADS", 50)       # the baseline's 45 leads a month, past "usual" here
    path = tmp_path / "long.yaml"
    path.write_text("name: long\nmarket: {leads_per_month: 45}\ndays: 60\n")
    assert main(["simulate", str(path), "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "note: 'long': 45 leads a month for 60 days is about" in err
    assert "simulating long" in err and "60/60" in err and "day" in err      # the bar ran to the last day


def test_the_progress_bar_changes_nothing_in_the_run():
    import sim
    from sim.notebook import tables_fingerprint

    short = Scenario.preset("baseline").replace({"days": 90})
    plain, shown = sim.simulate(short, seed=3), sim.simulate(short, seed=3, progress=True)
    assert tables_fingerprint(plain.tables) == tables_fingerprint(shown.tables) and plain.metrics == shown.metrics
