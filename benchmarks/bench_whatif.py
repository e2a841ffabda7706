"""What-if latency: a two-scenario `compare` answering "how much do bookings change?" to +-5% of the mean.

The question: the baseline team of 8 reps against the same team with 2 more reps. `compare(..., n="auto",
precision=0.05)` adds paired replications until the 95% CI of the bookings difference has a half-width of at
most 5% of the baseline's mean bookings. Target: the answer in <= 5 s on 2 cores (a process pool on all cores,
as `compare` picks by itself), started from a fresh call (pool start-up included).

Prints wall and CPU time (all processes), the replications it took, the answer, and the load average.

Then the what-if explorer page's own latency, per bundled preset (issue 28): a fresh page with its process
pool (`Explorer(executor="pool")`), the preset picked, a lever moved at once — the first answer, pool warm-up
included — then `--repeat` more moves (qualification switched, reps changed), each timed from the move to
the answer on the page. Targets: <= 2 s after a move, <= 4 s for the first answer, on 2 cores.
`--executor serial` times the same page answering in its kernel, one run after another (`--executor both`: each
preset both ways, one right after the other, so that both meet the same load).
Run: `.venv/bin/python benchmarks/bench_whatif.py [--fixed 200] [--presets baseline demo] [--explorer-only]
[--executor pool|serial|both] [--scenario runs/demo-calibrated.yaml] [--pause 3]` (`--scenario`: also these scenario files, e.g.
what `playbook calibrate` made of the demo export, as a leader's own pipeline would be explored; `--pause S`: the leader
reads each answer S seconds before the next move, which the page spends on the start's later runs).
(`--fixed N` also times the same question with a fixed N paired replications, as asked before n="auto").
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import sim

TARGET_SECONDS, PRECISION = 5.0, 0.05
EXPLORER_TARGET, FIRST_TARGET = 2.0, 4.0


def cpu_all() -> float:
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


def ask(scenarios: dict[str, sim.Scenario], **kwargs) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), cpu_all()
    table = sim.compare(scenarios, seed=15, progress=False, metrics=["bookings"], **kwargs)
    return time.perf_counter() - wall, cpu_all() - cpu, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixed", type=int, default=0, help="also time a compare with this many fixed replications")
    parser.add_argument("--repeat", type=int, default=3, help="times to ask the question (median and best reported)")
    parser.add_argument("--presets", nargs="*", default=None, help="explorer presets to time (default: all bundled)")
    parser.add_argument("--explorer-only", action="store_true", help="time only the explorer page")
    parser.add_argument("--executor", choices=("pool", "serial", "both"), default="pool",
                        help="the page's way of running replications (both: each preset both ways)")
    parser.add_argument("--scenario", nargs="*", default=[], help="scenario YAML files to time as well (a calibration)")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="seconds the leader reads each answer before the next move (default 0: moves back to back)")
    args = parser.parse_args()
    base = sim.Scenario.preset("baseline")
    scenarios = {"8 reps": base, "10 reps": base.replace({"reps.count": 10}, name="10 reps")}
    load = os.getloadavg()[0]
    ways = ("pool", "serial") if args.executor == "both" else (args.executor,)
    starts = [f"preset:{p}" for p in (args.presets if args.presets is not None else sim.Scenario.presets())]
    starts += [str(os.path.abspath(f)) for f in args.scenario]
    if args.explorer_only:
        explorer(starts, args.repeat, ways, args.pause)
        return
    sim.simulate(base, seed=0)   # imports and caches warm, as in a session that already ran something
    asked = [ask(scenarios, n="auto", precision=PRECISION) for _ in range(args.repeat)]
    walls = sorted(a[0] for a in asked)
    wall, cpu, table = sorted(asked, key=lambda a: a[0])[len(asked) // 2]
    status = table.attrs["precision"]
    row, mean = table.loc[("10 reps", "bookings")], table.loc[("8 reps", "bookings"), "mean"]
    print(f"what-if: 8 vs 10 reps on the baseline, bookings difference to +-{PRECISION:.0%} of the mean (95% CI), "
          f"{os.cpu_count()} cores, load average {load:.1f}")
    print(f"  answer: +{row['diff']:,.0f} (95% CI {row['diff_low']:,.0f} to {row['diff_high']:,.0f}); half-width "
          f"{status['half_width']:,.0f} = {status['half_width'] / mean:.1%} of mean bookings {mean:,.0f}; "
          f"{status['n']} paired replications per scenario in {status['rounds']} round(s)")
    print(f"  time: {wall:.1f} s wall (median of {args.repeat}; best {walls[0]:.1f} s), {cpu:.1f} s CPU in all processes; "
          f"target <= {TARGET_SECONDS:.0f} s: {'met' if wall <= TARGET_SECONDS else 'MISSED'} "
          f"(CPU / cores = {cpu / (os.cpu_count() or 1):.1f} s: the wall time on an idle machine is about this)")
    if args.fixed:
        fwall, fcpu, _ = ask(scenarios, n=args.fixed)
        print(f"  the same question with n={args.fixed} fixed: {fwall:.1f} s wall, {fcpu:.1f} s CPU")
    explorer(starts, args.repeat, ways, args.pause)
    print(f"  load average after: {os.getloadavg()[0]:.1f}")


def explorer(starts: list[str], repeat: int, ways: tuple[str, ...] = ("pool",), pause: float = 0.0) -> None:
    """The explorer page's waits, as a leader meets them, per starting scenario: a fresh page (`Explorer(executor=
    "pool")`: its process pool started and warmed when it opens; or "serial": runs in the kernel), the scenario
    picked, a lever moved at once (the first answer: pool warm-up and the starting scenario's runs included), then
    more moves (the start's runs kept), each `pause` seconds after the answer before it (not counted: the page
    spends them on the start's later runs, `sim.explorer.app.SPARE`)."""
    import shutil
    import tempfile

    from sim.explorer.app import Explorer

    print(f"explorer page on {os.cpu_count()} cores, per starting scenario ({' and '.join(ways)}"
          f"{f'; {pause:g} s read between moves' if pause else '; moves back to back'}):")
    for start_at in starts:
        for way in ways:
            with tempfile.TemporaryDirectory() as folder:
                picked = start_at
                if not start_at.startswith("preset:"):     # a scenario file: the page lists those of its folder
                    shutil.copy(start_at, folder)
                    picked = str(os.path.join(folder, os.path.basename(start_at)))
                load = os.getloadavg()[0]
                opened = time.perf_counter()
                app = Explorer(folder, executor=way)
                app.picker.value = picked
                opened = time.perf_counter() - opened
                start = app.start
                moves = [("reps.count", start.reps.count + 2), ("reps.count", max(1, start.reps.count - 1)),
                         ("reps.count", start.reps.count + 1), ("reps.count", start.reps.count + 3)]
                waits, reps = [], []
                for k, (path, value) in enumerate(moves[: 1 + repeat]):
                    if k:
                        time.sleep(pause)
                    began = time.perf_counter()
                    app.controls[path].value = value
                    got = app.wait()
                    waits.append(time.perf_counter() - began)
                    reps.append(got.replications)
                app.close()
            first, after = waits[0], sorted(waits[1:])
            mid = after[len(after) // 2]
            name = start_at.split(":", 1)[1] if start_at.startswith("preset:") else os.path.basename(start_at)
            print(f"  {name:<22} {way:<6} page open {opened:4.1f} s; first answer {first:5.1f} s (target <= "
                  f"{FIRST_TARGET:.0f}: {'met' if first <= FIRST_TARGET else 'MISSED'}); after a move {mid:5.1f} s "
                  f"median of {len(after)} ({', '.join(f'{w:.1f}' for w in after)}; target <= {EXPLORER_TARGET:.0f}: "
                  f"{'met' if mid <= EXPLORER_TARGET else 'MISSED'}); replications {', '.join(map(str, reps))}; "
                  f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after", flush=True)


if __name__ == "__main__":
    main()
