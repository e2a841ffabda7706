"""Same seed, same tables: the engine's speed work changed no random stream and no event order.

`tests/fixtures/golden_tables.json` holds a hash of every table and the metrics of 40 runs (20 scenarios, two
seeds each): the 14 the engine was checked on before and after the speed work (the presets and policies of that
day), and since then every preset (with them the listening, first-meeting, bug, trial, orbit, nurture and
incentive policies). A change that moves a random draw, reorders events or rounds differently shows up here as the
table and scenario that changed.

When a change is *meant* to change results (a new random stream, a new model mechanism), say so in the
commit, re-execute the notebooks, and rewrite the fixture:  `.venv/bin/python tests/test_speed_golden.py --write`
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

import sim

FIXTURE = Path(__file__).parent / "fixtures" / "golden_tables.json"
SEEDS = (1, 7)


def table_hash(df: pd.DataFrame) -> str:
    """A hash of a table's values, dtypes' bytes and column names (row order matters)."""
    values = pd.util.hash_pandas_object(df.reset_index(drop=True), index=False).to_numpy().tobytes()
    return hashlib.sha256(values + ",".join(map(str, df.columns)).encode()).hexdigest()[:16]


def cases() -> dict[str, sim.Scenario]:
    """Every preset and built-in policy, plus the engine's less travelled paths (hires, a limited market,
    referrals, impatient buyers, hand-over of queued deals)."""
    base = sim.Scenario.preset("baseline")
    rem = sim.Scenario.preset("remain-aggressive")
    sweet = sim.Scenario.preset("sweet-spot")
    return {
        "baseline": base,
        "downturn": sim.Scenario.preset("downturn"),
        "sweet": sweet,
        "remain": rem,
        "relax": sweet.replace({"policies.qualification": {"threshold": 0.5, "relax_when_behind": {"threshold": 0.0}}}),
        "fc_weekly_eg": base.replace({"days": 730, "market.volatility": 0.5,
                                      "policies.forecast": {"cadence": "weekly", "inclusion": "evidence_gated"}}),
        "fc_monthly_rj": base.replace({"policies.forecast": {"cadence": "monthly", "inclusion": "rep_judgement"}}),
        "largest": base.replace({"reps.count": 5, "policies.allocation": {"rule": "largest_first"}}),
        "focus": base.replace({"policies.allocation": {"rule": "best_fit_first", "focus_segments": [base.segments[0].name]}}),
        "cut": rem.replace({"policies.staffing": {"action": "cut", "at": "2026-09-01", "cut_share": 0.5,
                                                  "rehire_at": "2027-10-01"}}),
        "refocus": rem.replace({"policies.staffing": {"action": "refocus", "at": "2026-09-01"}}),
        "patience": base.replace({"market.patience_days": 30, "reps.count": 4}),
        "hires_market": base.replace({"reps.hires": [{"at": "2026-04-01", "count": 3}],
                                      "accounts.referrals_per_year": 0.5,
                                      "segments": [s.model_dump() | {"accounts": 150} for s in base.segments]}),
        "quota_monthly": sweet.replace({"reps.quota_period": "month", "market.volatility": 0.3}),
        **{name: sim.Scenario.preset(name) for name in
           ("meetings", "bugs-in-evaluation", "free-trials", "customer-orbits", "second-place", "demo")},
    }


def fingerprint(result: sim.SimResult) -> dict[str, str]:
    """Hashes of the run's non-empty tables and its metrics written out in full."""
    out = {name: table_hash(df) for name, df in result.tables.items() if len(df)}
    out["metrics"] = json.dumps({k: repr(float(v)) for k, v in sorted(result.metrics.items())})
    return out


def compute() -> dict[str, dict[str, str]]:
    return {f"{name}/{seed}": fingerprint(sim.simulate(sc, seed=seed)) for name, sc in cases().items() for seed in SEEDS}


@pytest.fixture(scope="module")
def golden() -> dict[str, dict[str, str]]:
    return json.loads(FIXTURE.read_text())


@pytest.mark.parametrize("name", list(cases()))
def test_same_seed_gives_the_tables_and_metrics_recorded_before(golden, name):
    scenario = cases()[name]
    for seed in SEEDS:
        got, want = fingerprint(sim.simulate(scenario, seed=seed)), golden[f"{name}/{seed}"]
        changed = [t for t in sorted(set(got) | set(want)) if got.get(t) != want.get(t)]
        assert not changed, f"{name}, seed {seed}: {', '.join(changed)} changed"


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_speed_golden.py --write   (rewrites the fixture from the current engine)")
    FIXTURE.write_text(json.dumps(compute(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE}")
