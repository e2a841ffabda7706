"""The explorer's target mode (`sim.explorer.target`): a target in, P(hit) now and options out, each one
click from being the page's scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import sim
from sim.explorer.app import Explorer
from sim.explorer.target import control_values
from sim.experiments.plan import make_lever

SMALL = sim.Scenario.build(json.loads((Path(__file__).parent / "fixtures" / "plan_bruteforce.json").read_text())["scenario"])


def test_target_mode_shows_p_hit_and_an_option_one_click_from_the_page(tmp_path):
    path = tmp_path / "small.yaml"
    SMALL.to_yaml(path)
    ex = Explorer(tmp_path, seed=3, executor="serial")
    ex.picker.value = str(path)
    panel = ex.target_mode
    assert panel.widget in ex.widget.children
    panel.target.value, panel.period.value, panel.levers.value = "280k", "2026-Q1", "reps.count=4:7"
    p = panel.find()
    assert p is not None and "P(hit) with today" in panel.answer.value
    assert panel.options.children, "an option reaching 80% is listed"
    # the honest limit: P(hit) again at the ends of the assumption it rests on (selling hours: no export shows them)
    limits = panel.limits.value
    assert "reps.selling_hours_per_week" in limits and limits.count("<tr><td>") == 4
    assert "today" in limits and "cheapest option" in limits
    best = p.options(1).iloc[0]
    use = panel.options.children[0].children[0]
    use.click()                                      # one click: the option is the page's scenario
    assert ex.current.reps.count == int(best["reps.count"])
    assert ex.answer is not None                     # and the explorer compared it with the start


def test_a_bad_target_is_said_on_the_page(tmp_path):
    ex = Explorer(tmp_path, seed=3, executor="serial")
    ex.target_mode.target.value = "lots"
    assert ex.target_mode.find() is None and "not an amount" in ex.target_mode.answer.value
    ex.target_mode.target.value, ex.target_mode.levers.value = "1M", "reps.cnt"
    assert ex.target_mode.find() is None and "reps.cnt" in ex.target_mode.answer.value


def test_options_map_to_the_page_s_levers_or_say_they_cannot():
    hires = make_lever("hires@2026-02-01", SMALL, SMALL.end)
    assert control_values(pd.Series({"hires@2026-02-01": 3}), [hires], SMALL.start) == {"hire.count": 3, "hire.at": hires.hire_at}
    q = make_lever("policies.qualification.threshold", SMALL, SMALL.end)
    assert control_values(pd.Series({q.path: 0.4}), [q], SMALL.start) == {"policies.qualification": True, q.path: 0.4}
    mid_month = make_lever("hires@2026-02-15", SMALL, SMALL.end)
    assert control_values(pd.Series({mid_month.path: 2}), [mid_month], SMALL.start) is None
    leads = make_lever("market.leads_per_month", SMALL, SMALL.end)
    assert control_values(pd.Series({leads.path: 50.0}), [leads], SMALL.start) is None
