"""The engine's faster parts behave exactly like what they replace.

- (the desk's event-for-event comparison with SimPy's `PriorityResource` is in `tests/test_desk.py`);
- per-account random streams equal `np.random.default_rng([key, account number])`;
- the metrics a run reports without building tables equal `pipeline_metrics` on its tables;
- `replicate` builds no tables unless its measure reads them.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import sim
from sim.core.metrics import pipeline_metrics
from sim.engine.accounts import AccountStreams, _uint32_words, seed_states
from sim.engine.entities import Account
from sim.engine.model import SalesModel
from sim.experiments.simulate import make_rng


# ---- account streams ------------------------------------------------------------------------------
@pytest.mark.parametrize("key", [0, 1, 2**32 - 1, 2**32, 12345678901234, 2**63 - 1])
def test_seed_states_are_numpys_seed_sequence(key):
    numbers = np.array([0, 1, 7, 255, 256, 99_999, 2**32 - 1], dtype=np.uint64)
    got = seed_states(_uint32_words(key), numbers)
    for row, n in zip(got, numbers):
        assert (row == np.random.SeedSequence([key, int(n)]).generate_state(4, np.uint64)).all()


def test_each_account_draws_from_its_own_numpy_stream():
    streams = AccountStreams(np.random.default_rng(4))
    for n in (0, 3, 255, 256, 1000):
        mine, numpys = streams.of(Account(number=n, segment=0, fit=0.5)), np.random.default_rng([streams._key, n])
        assert mine.random(5).tolist() == numpys.random(5).tolist()
        assert mine.exponential() == numpys.exponential()
        assert mine.spawn(1)[0].random() == numpys.spawn(1)[0].random()


# ---- metrics without tables -----------------------------------------------------------------------
def scenarios() -> dict[str, sim.Scenario]:
    base = sim.Scenario.preset("baseline").replace(days=200)
    rem = sim.Scenario.preset("remain-aggressive").replace(days=500)
    return {
        "baseline": base,
        "sweet-spot (quota)": sim.Scenario.preset("sweet-spot").replace(days=200),
        "downturn": sim.Scenario.preset("downturn").replace(days=300),
        "cut": rem.replace({"policies.staffing": {"action": "cut", "at": "2026-09-01", "cut_share": 0.5}}),
        "refocus": rem.replace({"policies.staffing": {"action": "refocus", "at": "2026-09-01"}}),
        "weekly forecast": base.replace({"policies.forecast": {"cadence": "weekly", "inclusion": "evidence_gated"}}),
        "largest first": base.replace({"reps.count": 4, "policies.allocation": {"rule": "largest_first"}}),
        "quota by month, hires and a cut": sim.Scenario.preset("sweet-spot").replace(
            {"days": 300, "reps.quota_period": "month", "reps.hires": [{"at": "2026-03-01", "count": 2}],
             "policies.staffing": {"action": "cut", "at": "2026-06-01", "cut_share": 0.5}}),
        "demo, quota by year": sim.Scenario.preset("demo").replace({"days": 200, "reps.quota_period": "year"}),
        "relax when behind": sim.Scenario.preset("sweet-spot").replace(
            {"days": 200, "policies.qualification": {"threshold": 0.5, "relax_when_behind": {"threshold": 0.0}}}),
    }


def same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


@pytest.mark.parametrize("name", list(scenarios()))
def test_metrics_without_tables_equal_the_metrics_of_the_tables(name):
    scenario = scenarios()[name]
    for seed in (1, 2):
        model = SalesModel(scenario, scenario.policies.active(), make_rng(seed))
        outcome = model.run()
        tables = outcome.tables
        assert same(outcome.metrics, model.metrics(tables))                   # every metric, to the last bit
        piped = pipeline_metrics(tables.opportunities)
        assert same({k: outcome.metrics[k] for k in piped}, piped)


def test_metrics_of_an_empty_run():
    quiet = sim.Scenario.preset("baseline").replace({"days": 7, "market.leads_per_month": 0.01})
    res = sim.simulate(quiet, seed=1)
    assert res.metrics["opportunities"] == len(res.tables.opportunities)
    assert same({k: res.metrics[k] for k in pipeline_metrics(res.tables.opportunities)},
                pipeline_metrics(res.tables.opportunities))


def test_replicate_builds_tables_only_for_a_measure_that_reads_them(monkeypatch, short_baseline):
    built = []
    real = SalesModel.tables
    monkeypatch.setattr(SalesModel, "tables", lambda self: built.append(1) or real(self))
    sim.replicate(short_baseline, n=3, seed=1, progress=False, executor="serial")
    assert built == []
    runs = sim.replicate(short_baseline, n=3, seed=1, progress=False, executor="serial", measure=stage_rows)
    assert len(built) == 3 and (runs["stage_rows"] > 0).all()


def stage_rows(result: sim.SimResult) -> dict[str, float]:
    return {"stage_rows": float(len(result.tables.stage_history))}


def test_a_result_pickles_with_its_tables(short_baseline):
    res = sim.simulate(short_baseline, seed=3)
    back = pickle.loads(pickle.dumps(res))
    assert back.metrics == res.metrics
    assert back.tables.opportunities.equals(res.tables.opportunities)


# ---- deal and purpose streams ---------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 7, 2**64 + 3, np.random.SeedSequence(5).spawn(3)[2]])
def test_each_purpose_stream_is_numpys_seed_sequence(seed):
    """`Streams.stream` mixes the words its streams share once; each stream is still numpy's own."""
    from sim.engine.streams import Streams

    rng = make_rng(seed).spawn(3)[1]                    # the policies' generator, as the model makes it
    streams, seq = Streams(rng), rng.bit_generator.seed_seq
    for purpose in ("listening.meeting", "trials", "x"):
        salt = __import__("zlib").crc32(purpose.encode())
        for keys in [(0, 0), (1, 2**32), (4636737291354636288, 13830554455654793216), (2**64 - 1,), (3,), ()]:
            numpys = np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, salt, *keys)))
            mine = streams.stream(purpose, *keys)
            assert mine.random(4).tolist() == numpys.random(4).tolist()
            assert mine.standard_normal() == numpys.standard_normal()


def test_a_deal_is_named_by_the_bits_of_its_arrival_and_first_draw():
    from types import SimpleNamespace

    from sim.engine.streams import deal_keys

    lead = SimpleNamespace(arrived=12.345, stage_noise=[-0.5, 1.0])
    assert deal_keys(SimpleNamespace(lead=lead)) == tuple(np.array([12.345, -0.5]).view(np.uint64).tolist())
    assert deal_keys(SimpleNamespace(lead=SimpleNamespace(arrived=0.0, stage_noise=[]))) == (0, 0)


@pytest.mark.parametrize("entropy", [[0], [5, 7], [2**63 - 1, 12, 3], [1, 2, 3, 4, 5, 2**40], [2**64 + 1, 0, 10_007]])
def test_a_seeded_generator_is_numpys_default_rng(entropy):
    from sim.engine.streams import seeded

    mine, numpys = seeded(entropy), np.random.default_rng(entropy)
    assert mine.random(6).tolist() == numpys.random(6).tolist()
    assert mine.spawn(1)[0].random() == numpys.spawn(1)[0].random()


def test_the_written_out_mixing_equals_numpys_seed_sequence_over_many_keys():
    """`_Prefix.generator` mixes a deal's key words written out: checked against numpy on 400 random keys of
    every width (one, two or three 32-bit words per key, one to four words in all), and the nearest bounds."""
    from sim.engine.streams import Streams

    rng = make_rng(11).spawn(3)[1]
    streams, seq = Streams(rng), rng.bit_generator.seed_seq
    salt = __import__("zlib").crc32(b"first_meeting")
    draw = np.random.default_rng(2)
    keys = [tuple(int(k) for k in draw.integers(0, 2 ** int(draw.choice([8, 32, 33, 63])), size=int(draw.integers(1, 3)),
                                             dtype=np.uint64)) for _ in range(400)]
    keys += [(2**32 - 1, 2**32), (2**64 - 1, 2**64 - 1), (0,), (2**32,)]
    for key in keys:
        numpys = np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, salt, *key)))
        assert streams.stream("first_meeting", *key).random(3).tolist() == numpys.random(3).tolist(), key


def test_uniforms_take_the_block_first_then_the_deals_own_stream():
    """`Streams.uniforms` gives Python floats: the pre-drawn block's (an array or a list), then, past its end,
    the numbers of the deal's own stream for the purpose (as numpy's arrays gave them before)."""
    from types import SimpleNamespace

    from sim.engine.streams import Streams

    streams = Streams(make_rng(3).spawn(3)[1])
    deal = SimpleNamespace(lead=SimpleNamespace(arrived=4.25, stage_noise=(0.5,)))
    block = np.random.default_rng(9).random(4)
    for given in (block, block.tolist()):
        assert streams.uniforms(given, 3, deal, "x") == block[:3].tolist()
        assert streams.uniforms(given, -1, deal, "x") == []
        want = np.concatenate([block, streams.of(deal, "x").random(3)]).tolist()
        got = streams.uniforms(given, 7, deal, "x")
        assert got == want and all(type(v) is float for v in got)


def test_seeded_generators_equal_numpys_over_many_entropies():
    """`seeded` (numpy's SeedSequence mixing written out) against `np.random.default_rng` on 300 random entropies:
    one to six numbers of 8 to 64 bits (fewer words than the pool, as many, more)."""
    from sim.engine.streams import seeded

    draw = np.random.default_rng(5)
    for _ in range(300):
        bits = int(draw.choice([8, 32, 33, 63]))
        entropy = [int(k) for k in draw.integers(0, 2**bits, size=int(draw.integers(1, 7)), dtype=np.uint64)]
        assert seeded(entropy).random(2).tolist() == np.random.default_rng(entropy).random(2).tolist(), entropy
