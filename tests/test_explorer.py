"""The what-if explorer's logic: levers read from the scenario and the policy registry, changes applied and
listed, answers that are `sim.compare`'s, saved scenarios that load back, snapshots that stand alone."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import Field

import sim
from sim.explorer import levers as L
from sim.explorer import whatif
from sim.experiments.replicate import RunCache, scenario_key
from sim.explorer.app import Explorer


@pytest.fixture(scope="module")
def sweet() -> sim.Scenario:
    return sim.Scenario.preset("sweet-spot")


def test_levers_come_from_the_world_and_every_registered_policy(sweet):
    paths = [lever.path for lever in L.levers(sweet)]
    assert paths[:3] == ["reps.count", "hire.count", "hire.at"]
    for key in ("allocation", "qualification", "forecast"):
        assert any(p.startswith(f"policies.{key}") for p in paths), key
    threshold = next(lv for lv in L.levers(sweet) if lv.path == "policies.qualification.threshold")
    assert (threshold.kind, threshold.low, threshold.high, threshold.slider) == ("number", 0.0, 1.0, True)
    assert "fit score below this are declined" in threshold.help
    assert L.current(sweet, threshold) == sweet.policies.qualification.threshold


def test_a_policy_registered_later_gets_its_controls_with_no_change_to_the_explorer(sweet):
    class Coaching(sim.Policy):
        key: ClassVar[str] = "coaching"
        summary: ClassVar[str] = "weekly coaching hours per rep (test policy)"
        hours: float = Field(2.0, ge=0, le=10, description="coaching hours a week")
        style: str = Field("group", description="not a simple choice: no control")

    sim.register(Coaching)
    try:
        new = [lv for lv in L.levers(sweet) if lv.path.startswith("policies.coaching")]
        assert [(lv.path, lv.kind) for lv in new] == [("policies.coaching", "switch"), ("policies.coaching.hours", "number")]
        on = L.apply(sweet, {"policies.coaching": True, "policies.coaching.hours": 4.0})
        assert on.policies.coaching.hours == 4.0
        assert [L.describe(c) for c in L.changes(sweet, on)] == ["coaching: off → on (hours 4.0)"]
    finally:
        sim.unregister("coaching")


def test_changes_apply_and_read_back_as_one_line_each(sweet):
    settings = {lv.path: L.current(sweet, lv) for lv in L.levers(sweet)}
    assert L.apply(sweet, settings) == sweet                 # the controls at their values change nothing
    settings.update({"reps.count": 6, "policies.qualification.threshold": 0.6, "policies.forecast": True,
                     "policies.forecast.cadence": "weekly", "hire.count": 2})
    changed = L.apply(sweet, settings)
    assert changed.reps.count == 6 and changed.policies.forecast.cadence == "weekly"
    assert [L.describe(c) for c in L.changes(sweet, changed)] == [
        "reps: 4 → 6",
        f"reps hired: none → 2 on {settings['hire.at'].isoformat()}",
        "qualification threshold: 0.45 → 0.6",
        "forecast: off → on (cadence 'weekly')",
    ]
    off = L.apply(changed, {"policies.qualification": False, "policies.qualification.threshold": 0.9})
    assert off.policies.qualification is None                # a lever under a switch that is off does not apply


def test_a_value_the_model_cannot_run_is_refused_with_its_field(sweet):
    base = sim.Scenario.preset("baseline")                   # no quota: relaxing "when behind" has nothing to judge by
    with pytest.raises(sim.ScenarioError, match="policies.qualification.relax_when_behind needs reps.quota"):
        L.apply(base, {"policies.qualification": True, "policies.qualification.relax_when_behind": True})


def test_the_answer_is_sim_compare_for_the_same_scenarios_and_seed():
    base = sim.Scenario.preset("baseline").replace(days=180)
    more = L.apply(base, {"reps.count": 10})
    got = whatif.answer(base, more, seed=3, max_n=6)         # n="auto" capped at 6: the same runs as n=6
    want = sim.compare({whatif.START: base, whatif.CHANGED: more}, n=6, seed=3, executor="serial", progress=False)
    row = want.loc[(whatif.CHANGED, "bookings")]
    per_year = 365.25 / 180                                  # amounts and counts are answered per year, whatever the run
    assert got.table.loc["bookings", ["diff", "diff_low", "diff_high"]].tolist() == pytest.approx(
        [row["diff"] * per_year, row["diff_low"] * per_year, row["diff_high"] * per_year])
    win = want.loc[(whatif.CHANGED, "win_rate")]
    assert got.table.loc["win_rate", "diff"] == pytest.approx(win["diff"])    # a rate is a rate
    sentence = got.sentence()
    assert f"{got.table.loc['bookings', 'diff']:+,.0f} USD a year" in sentence and " a quarter" in sentence
    assert "6 paired replications of 180 days" in sentence and "a run" not in sentence
    fig = whatif.figure(got)
    assert fig.axes[0].get_title() and "%" in fig.axes[0].get_xlabel()


def test_the_explorer_starts_with_ten_paired_runs_and_adds_more_only_when_the_interval_needs_them():
    """Issue 28: the first round is `whatif.FIRST` (10) runs of each scenario; a loose precision stops there, a
    tight one goes on; a first round too small for an interval is refused naming the field."""
    base = sim.Scenario.preset("baseline").replace(days=90)
    more = L.apply(base, {"reps.count": 3})                       # fewer reps: deals wait, bookings differ run by run
    loose = whatif.answer(base, more, seed=3, precision=10.0, max_n=40)
    assert whatif.FIRST == 10 and loose.replications == 10 and loose.precise
    tight = whatif.answer(base, more, seed=3, precision=0.001, max_n=25)
    assert tight.replications == 25 and not tight.precise
    with pytest.raises(ValueError, match="first"):
        sim.replicate(base, n="auto", first=1, progress=False, executor="serial")


def test_save_writes_every_change_with_a_comment_and_loads_back(tmp_path):
    app = Explorer(tmp_path, seed=1, max_n=3)
    assert app.answer is None                                # nothing changed, nothing run
    app.controls["reps.count"].value = 10
    app.controls["policies.qualification"].value = True
    app.controls["policies.qualification.threshold"].value = 0.4
    assert app.answer is not None and app.answer.replications == 3
    app.save_name.value = "ten reps.yaml"
    path = app.save()
    text = path.read_text()
    assert path.name == "ten_reps.yaml"
    assert "# changed in the what-if explorer from 'baseline' (was 8)" in text
    assert "# changed in the what-if explorer from 'baseline' (was off)" in text
    loaded = sim.Scenario.from_yaml(path)
    assert loaded.replace(name=app.current.name) == app.current
    assert ("file: ten_reps.yaml", str(path)) in app.picker.options
    page = app.snapshot().read_text()
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org", "")
    assert "reps: 8 → 10" in page and "data:image/png;base64," in page


def test_the_starting_scenario_is_simulated_once_per_session():
    base = sim.Scenario.preset("baseline").replace(days=120)
    known = RunCache(on=True)
    first = whatif.answer(base, L.apply(base, {"reps.count": 10}), seed=3, max_n=5, known=known)
    assert len(known) == 10                                  # 5 runs of each scenario kept
    again = whatif.answer(base, L.apply(base, {"reps.count": 10}), seed=3, max_n=5, known=known)
    assert len(known) == 10 and again.table.equals(first.table)   # nothing run again, the same answer
    whatif.answer(base, L.apply(base, {"reps.count": 6}), seed=3, max_n=5, known=known)
    assert len(known) == 15                                  # only the new scenario's 5 runs were made


def test_saving_keeps_the_pages_scenario_and_comparison(tmp_path):
    """Issue 24: saving once reset the page to the first preset, so a snapshot right after said 'change a lever'."""
    app = Explorer(tmp_path, max_n=6, precision=0.5)
    start = app.picker.value
    app.controls["reps.count"].value = app.start.reps.count + 2
    answer, current = app.answer, app.current
    assert answer is not None
    app.save_name.value = "more reps.yaml"
    app.save()
    assert app.picker.value == start and app.current == current and app.answer is answer
    assert app.controls["reps.count"].value == app.start.reps.count + 2
    assert app.snapshot() is not None and (tmp_path / "more_reps.html").exists()


def test_the_address_printed_is_the_port_served(capsys, monkeypatch, tmp_path):
    """Issue 24: with the port taken, Voila moved to the next one while the other program's address was printed."""
    import socket
    from sim.explorer import serve
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))      # an ephemeral port, above 1024
        taken.listen()
        port = taken.getsockname()[1]
        calls = []
        monkeypatch.setattr(serve, "run_until_stopped", lambda cmd, **kw: calls.append(cmd) or 0)
        assert serve.serve(port, tmp_path) == 0
    out = capsys.readouterr().out
    (cmd,) = calls
    served = int(next(a for a in cmd if a.startswith("--port=")).split("=")[1])
    assert served != port and f"http://localhost:{served}/" in out and f"Port {port} is taken" in out
    assert "--Voila.port_retries=0" in cmd      # Voila itself never moves to a port not printed
def test_every_starting_scenario_offers_the_incentive_programme(tmp_path):
    import shapes
    from sim.crm import load

    csv, mapping = shapes.one_stage(tmp_path)
    calibrated = sim.calibrate(load(csv, mapping=mapping).tables, "baseline", refine=False, calendar="base")
    for start in (sim.Scenario.preset("baseline"), sim.Scenario.preset("demo"), calibrated):
        switch = next(lv for lv in L.levers(start) if lv.path == "policies.incentives")
        assert switch.kind == "switch" and "President's club" in switch.help and "Top seller" in switch.help
        settings = {lv.path: L.current(start, lv) for lv in L.levers(start)}
        on = L.apply(start, {**settings, "policies.incentives": True})
        assert on.reps.quota > 0 and [r.name for r in on.policies.incentives.rules] == ["President's club", "Top seller"]
        said = [L.describe(c) for c in L.changes(start, on)]
        assert "incentives: off → on (rules President's club, Top seller)" in said
        assert L.apply(start, {**settings, "policies.incentives": False}).to_dict() == start.to_dict()
    assert len(sim.simulate(on, seed=1).tables.opportunities) > 0     # the calibrated pipeline runs with it
    short = calibrated.replace(days=120)                               # shorter than a year: quarterly awards
    on = L.apply(short, {**{lv.path: L.current(short, lv) for lv in L.levers(short)}, "policies.incentives": True})
    assert {r.period for r in on.policies.incentives.rules} == {"quarter"}


def test_the_incentives_preset_runs_a_programme_from_the_start():
    sc = sim.Scenario.preset("incentives")
    assert sc.reps.quota and len(sc.policies.incentives.rules) == 2
    assert "incentives" in sim.Scenario.presets()


def test_a_new_move_cancels_at_once_even_while_the_pool_is_still_starting():
    """Issue 28: a pool whose workers are still starting blocks `submit`; a new pick or move cancels the older
    move's ticket without waiting for that (the page froze for as long as the forkserver took to import `sim`),
    and the blocked submit then ends as cancelled."""
    import threading
    from concurrent.futures import CancelledError, Executor, Future

    from sim.explorer.pool import Ticket

    entered, gate = threading.Event(), threading.Event()

    class Starting(Executor):
        def submit(self, fn, /, *args, **kwargs):
            entered.set()
            gate.wait(120)
            fut = Future()
            fut.set_result(fn(*args, **kwargs))
            return fut

    ticket, got = Ticket(Starting(), 2), []

    def submit() -> None:
        try:
            got.append(ticket.submit(pow, 2, 3))
        except CancelledError as err:
            got.append(err)

    thread = threading.Thread(target=submit)
    thread.start()
    assert entered.wait(120)
    ticket.cancel()                                   # returns although the submit above is still blocked
    assert ticket.cancelled and thread.is_alive() and not got
    gate.set()
    thread.join(120)
    assert len(got) == 1 and isinstance(got[0], CancelledError)
    with pytest.raises(CancelledError):
        ticket.submit(pow, 2, 3)


@pytest.fixture(scope="module")
def page_pool():
    """The page's process pool (forkserver or spawn, warmed), shared by the tests below to spare start-ups."""
    from sim.explorer.pool import Pool

    pool = Pool(workers=2)
    assert len(pool.wait_warm(timeout=300)) >= 1          # the warm-up ran a simulation in the workers
    pool._starting.join(300)
    assert pool.ready.is_set()
    yield pool
    pool.close()
    assert not any(p.is_alive() for p in (pool.executor._processes or {}).values())


def test_the_pool_gives_the_same_answer_as_serial(page_pool):
    """Issue 28: the page's replications run on its pool with common random numbers: identical numbers."""
    assert page_pool.context.get_start_method() in ("forkserver", "spawn")   # never fork in a kernel
    base = sim.Scenario.preset("baseline").replace(days=120)
    more = L.apply(base, {"reps.count": 10})
    serial = whatif.answer(base, more, seed=3, max_n=30)
    pooled = whatif.answer(base, more, seed=3, max_n=30, executor=page_pool.ticket())
    assert pooled.replications == serial.replications >= whatif.FIRST
    assert pooled.table.equals(serial.table) and pooled.sentence() == serial.sentence()


def test_the_pools_workers_import_only_what_a_run_needs_so_the_pool_is_warm_sooner(page_pool):
    """Issue 28: the forkserver preloads the engine, policies and `replicate`, not the loaders, the analyses,
    pandera or scipy.stats (seconds of imports before the first worker is warm); a run still works there."""
    base = sim.Scenario.preset("baseline").replace(days=60)
    pooled = whatif.answer(base, L.apply(base, {"reps.count": 10}), seed=3, max_n=10, executor=page_pool.ticket())
    assert pooled.replications >= whatif.FIRST
    # asked with a builtin: a function of this test module would import the module (and all it imports) there
    loaded = set(page_pool.executor.submit(eval, "list(__import__('sys').modules)").result(timeout=120))
    assert "sim.engine.model" in loaded
    assert not {"pandera", "scipy.stats", "sim.crm", "sim.analysis.fit", "matplotlib"} & loaded


def test_every_name_import_sim_offers_resolves():
    """`import sim` imports its parts on first use; every name it lists is there, and a wrong one says so."""
    for name in sim.__all__:
        assert getattr(sim, name) is not None, name
    assert set(sim.__all__) <= set(dir(sim))
    with pytest.raises(AttributeError, match="no attribute 'simulte'"):
        sim.simulte


def test_until_its_workers_are_warm_the_pool_answers_in_the_kernel_with_the_same_numbers(page_pool, monkeypatch):
    """Issue 28: a move made while the pool's workers still start is answered in the page's own process (the
    forkserver takes seconds to import `sim`), from then on by the workers; the numbers are the same."""
    import os
    import threading

    base = sim.Scenario.preset("baseline").replace(days=120)
    more = L.apply(base, {"reps.count": 10})
    warm = page_pool.ready
    assert warm.is_set()                                              # the fixture waited for the warm-up
    assert page_pool.submit(os.getpid).result(timeout=300) != os.getpid()
    monkeypatch.setattr(page_pool, "ready", threading.Event())         # as if the workers were still starting
    assert page_pool.submit(os.getpid).result() == os.getpid()
    early = whatif.answer(base, more, seed=3, max_n=30, executor=page_pool.ticket())
    monkeypatch.setattr(page_pool, "ready", warm)
    late = whatif.answer(base, more, seed=3, max_n=30, executor=page_pool.ticket())
    assert early.table.equals(late.table) and early.replications == late.replications


def test_a_second_quick_move_cancels_the_first_and_the_page_shows_its_answer(tmp_path, page_pool):
    """Issue 28: two levers moved one right after the other: the page says "Running…", the first move's queued
    runs are cancelled, and the answer shown (and kept for a snapshot) is the second move's, the same numbers
    as a serial answer to the second move."""
    app = Explorer(tmp_path, seed=5, max_n=40, executor=page_pool.executor)
    app.controls["reps.count"].value = app.start.reps.count + 2
    first = app._ticket
    assert "Running…" in app.result.value and app.answer is None
    app.controls["policies.qualification"].value = True          # the second move, at once
    assert first.cancelled and app._ticket is not first and "Running…" in app.result.value
    got = app.wait(timeout=600)
    assert got is not None and app.current.reps.count == app.start.reps.count + 2
    assert app.current.policies.qualification is not None
    want = whatif.answer(app.start, app.current, seed=5, max_n=40)     # serial, the second move's scenario
    assert got.table.equals(want.table)
    assert got.sentence() in app.result.value and "Running…" not in app.result.value
    assert app.chart.outputs and "image/png" in app.chart.outputs[0]["data"]
    assert app.snapshot() is not None
    app.close()                                                   # not its pool: the pool goes on for others
    assert page_pool.ticket().submit(pow, 2, 5).result(timeout=300) == 32


def test_a_move_made_while_the_start_still_runs_queues_its_own_first_round_and_answers_as_serial(tmp_path, page_pool):
    """Issue 28: the first move of a page comes while the starting scenario's first round is still running; the
    moved scenario's first round is queued behind it at once (no worker idles at the start's tail), the start's
    runs are not made twice, and the numbers are those of a serial answer."""
    app = Explorer(tmp_path, seed=5, max_n=10, executor=page_pool.executor)
    app.picker.value = "preset:customer-orbits"                   # two years of runs: its round takes a while
    assert app._prefetching(app.start)                            # the start's round is on its way
    app.controls["reps.count"].value = app.start.reps.count + 2
    got = app.wait(timeout=600)
    want = whatif.answer(app.start, app.current, seed=5, max_n=10)
    assert got is not None and got.table.equals(want.table) and got.replications == want.replications
    pair = {scenario_key(app.start), scenario_key(app.current)}
    ran = [key for key in app.known.keys() if key[0] in pair]                          # not the first pick's
    assert len(ran) == 2 * got.replications                                            # each scenario's runs, once
    app.close()


def _page_on_half_a_year(tmp_path, page_pool) -> Explorer:
    """A page on the pool, with no wait before its idle runs, on half a year of the baseline team just picked."""
    sim.Scenario.preset("baseline").replace(days=180, name="half a year").to_yaml(tmp_path / "start.yaml")
    app = Explorer(tmp_path, seed=5, max_n=40, executor=page_pool.executor)
    app.idle_seconds = 0.0
    app.picker.value = str(tmp_path / "start.yaml")
    return app


def _idle_runs_then_a_move_needing_20_makes_only_its_own(app: Explorer) -> None:
    """Once the page has idled, the start holds `SPARE` runs; a move needing 20 runs then makes only its own 20
    (not the start's as well), with a serial answer's numbers."""
    from sim.explorer.app import SPARE

    app._spare[2].join(600)                                         # the page idles: the start's runs go on
    start = scenario_key(app.start)
    assert sorted(i for digest, _, i in app.known.keys() if digest == start) == list(range(SPARE))
    made = app.known.made
    app.controls["reps.count"].value = app.start.reps.count + 1     # needs 20 runs to be within +-5%
    got = app.wait(timeout=600)
    assert whatif.FIRST < got.replications <= SPARE
    assert app.known.made - made == got.replications               # the moved scenario's runs, no more of the start's
    assert got.table.equals(whatif.answer(app.start, app.current, seed=5, max_n=40).table)
    app.close()


def test_while_the_leader_reads_an_answer_the_start_runs_on_so_a_second_round_runs_only_the_moved_scenario(
        tmp_path, page_pool):
    """Issue 28: once the page has been idle after an answer, the starting scenario's runs are taken on to `SPARE`;
    a later move whose interval needs a second round then makes only its own runs (not the start's as well),
    and gives the numbers of a serial answer."""
    app = _page_on_half_a_year(tmp_path, page_pool)
    app.controls["reps.count"].value = app.start.reps.count + 3
    assert app.wait(timeout=600).replications == whatif.FIRST      # one round: the start's first 10 runs only
    _idle_runs_then_a_move_needing_20_makes_only_its_own(app)


def test_while_the_leader_reads_the_levers_of_a_start_just_picked_its_runs_go_on_before_the_first_move(
        tmp_path, page_pool):
    """Issue 28: after a pick, once the start's first round is made and the page has stayed idle, the start's runs are
    taken on to `SPARE` before any move; a first move that needs a second round then makes only its own runs."""
    app = _page_on_half_a_year(tmp_path, page_pool)
    app._prefetch[1].join(600)                                      # the start's first round, then its idle runs
    _idle_runs_then_a_move_needing_20_makes_only_its_own(app)


def test_a_move_stops_the_idle_runs_and_a_page_answering_in_its_kernel_makes_none(tmp_path, page_pool):
    """Issue 28: the idle runs wait for the leader to read (`idle_seconds`) and give way to the next move at
    once; a serial page (tests, scripts) never makes them."""
    app = Explorer(tmp_path, seed=5, max_n=20, executor=page_pool.executor)
    app.idle_seconds = 600.0
    app.controls["reps.count"].value = app.start.reps.count + 2
    app.wait(timeout=600)
    waiting = app._spare[2]
    assert waiting.is_alive()                                       # waits for the leader to read the answer
    app.controls["reps.count"].value = app.start.reps.count + 1
    waiting.join(10)
    assert not waiting.is_alive()                                   # stopped at once
    got = app.wait(timeout=600)
    start = scenario_key(app.start)                                 # of the start, only the runs the answers needed
    assert sorted(i for digest, _, i in app.known.keys() if digest == start) == list(range(got.replications))
    app.close()
    serial = Explorer(tmp_path, seed=5, max_n=20)
    serial.controls["reps.count"].value = serial.start.reps.count + 2
    assert serial.answer is not None and serial._spare is None


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="reads /proc")
def test_the_pages_workers_die_with_its_kernel(tmp_path):
    """Issue 28: a kernel killed hard (SIGKILL) leaves none of its pool's workers running."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "kernel.py"
    script.write_text("if __name__ == '__main__':\n"
                      "    import time\n    from sim.explorer.pool import Pool\n"
                      "    pool = Pool(workers=2)   # held, as the page holds it: a pool no one holds is shut down\n"
                      "    print(*pool.wait_warm(timeout=300), flush=True)\n    time.sleep(600)\n")
    kernel = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        line = kernel.stdout.readline()
        workers = [int(p) for p in line.split()]
        assert workers and all(os.path.exists(f"/proc/{p}") for p in workers), f"the kernel printed {line!r}"
    finally:
        kernel.send_signal(signal.SIGKILL)
        kernel.wait()
    deadline = time.monotonic() + 120      # at once on Linux; a loaded machine may take a while to schedule them
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    assert not [p for p in workers if _alive(p)], f"workers {workers} still running after their kernel was killed"


def _alive(pid: int) -> bool:
    """A process that is running (a zombie waiting for its reaper is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
