"""A notebook's evidence runs all its points in one call (both cores) and says exactly what point-by-point runs say."""

import pandas as pd

import sim
from sim.experiments import evidence as ev


def test_evidence_in_one_call_equals_each_point_run_on_its_own(monkeypatch):
    start = sim.Scenario.preset("second-place").replace(days=60)
    calls = []
    real = ev.replicate_each

    def counted(scenarios, *args, **kwargs):
        calls.append(len(scenarios))
        return real(scenarios, *args, **kwargs)

    monkeypatch.setattr(ev, "replicate_each", counted)
    got = ev.evidence("09", start, n=2, seed=3, loads=(0.5, 1.0))
    assert calls == [2 * (2 + 4)]        # two team sizes and two parameters' low and high ends, both arms: one call
    claim = ev.claim_for("09")
    for row in got["load_response"]:
        alone = ev.answer(claim, start, n=2, seed=3, reps_factor=row["load"])
        assert {k: row[k] for k in alone} == alone
    assert got["answer"] == ev.answer(claim, start, n=2, seed=3)
    current = {p["path"]: p["value"] for p in got["parameters"]}
    assert len(got["dose_response"]) == 6                  # low, current and high of each of the two parameters
    for row in got["dose_response"]:
        if row["value"] == current[row["path"]]:
            assert {k: row[k] for k in got["answer"]} == got["answer"]   # the answer at the start, reused
            continue
        alone = ev.answer(claim, start, n=2, seed=3, changes={row["path"]: row["value"]})
        assert {k: row[k] for k in alone} == alone
    # the load and dose responses called on their own give the same rows
    calls.clear()
    assert ev.load_response(claim, start, (0.5, 1.0), n=2, seed=3).to_dict("records") == got["load_response"]
    assert ev.dose_response(claim, start, got["parameters"], n=2, seed=3, at_start=got["answer"]) == got["dose_response"]
    assert calls == [4, 8]


def test_standings_across_team_sizes_in_one_call_equals_each_team_on_its_own(monkeypatch):
    from sim.experiments import incentive_design as design

    world = design.incentive_world(sim.Scenario.preset("baseline"), years=1, quota=1_200_000, warmup_days=30)
    calls = []
    real = design.replicate_each
    monkeypatch.setattr(design, "replicate_each", lambda arms, *a, **k: calls.append(len(arms)) or real(arms, *a, **k))
    got = design.standings_across(world, teams=(2, 4), cadences=("never", "weekly"), n=2, seed=5, progress=False)
    assert calls == [4]
    alone = [design.split_table(design.standings_split(design.team_world(world, reps), cadences=("never", "weekly"),
                                                       n=2, seed=5, progress=False)).assign(team=reps) for reps in (2, 4)]
    assert got.equals(pd.concat(alone, ignore_index=True))
    assert set(got["team"]) == {2, 4} and len(got) == 2 * 4    # per team: weekly against never, at four places
