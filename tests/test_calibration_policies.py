"""What a calibration says of the policy settings a deals export cannot show: the incentive response and the
customers' orbits (churn, expansion, referrals) stay the preset's, marked assumed with the reason and the range
they are explored over, never passed off as fitted."""

import pytest

import sim
from sim.experiments.policy_fit import KEPT_WHY, PolicyFit
from sim.experiments.provenance import columns


@pytest.fixture(scope="module")
def kept():
    tables = sim.simulate(sim.Scenario.preset("baseline").replace(days=120), seed=3).tables
    data = {"lead_sources": [], "policies": {
        "incentives": sim.Scenario.preset("incentives").policies.incentives.model_dump(mode="python"),
        "orbits": sim.Scenario.preset("customer-orbits").policies.orbits.model_dump(mode="python")}}
    fit = PolicyFit(tables)
    fit.fit(data)
    return fit.evidence


@pytest.mark.parametrize("path, low, high", [
    ("policies.incentives.credibility.drop", 0.0, 1.0),
    ("policies.incentives.response.prize_lift", 0.0, 0.24),
    ("policies.incentives.response.quota_lift", 0.0, 0.2),
])
def test_the_incentive_response_is_assumed_with_its_reason_and_range(kept, path, low, high):
    e = kept[path]
    assert not e.fitted
    row = columns(e)
    assert row["provenance"] == "assumed" and "one programme's results" in row["source"]
    assert (row["range_low"], row["range_high"]) == pytest.approx((low, high))


def test_orbit_effects_say_they_need_account_lifecycle_data(kept):
    orbit = {p: e for p, e in kept.items() if p.startswith("policies.orbits.")}
    assert orbit and all(not e.fitted and e.basis == KEPT_WHY["orbits"] for e in orbit.values())
    churn = [p for p in orbit if "churn" in p]
    assert churn and all(columns(orbit[p])["provenance"] == "assumed" for p in churn)
