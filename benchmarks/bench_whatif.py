"""What-if latency: a two-scenario `compare` answering "how much do bookings change?" to +-5% of the mean.

The question: the baseline team of 8 reps against the same team with 2 more reps. `compare(..., n="auto",
precision=0.05)` adds paired replications until the 95% CI of the bookings difference has a half-width of at
most 5% of the baseline's mean bookings. Target: the answer in <= 5 s on 2 cores (a process pool on all cores,
as `compare` picks by itself), started from a fresh call (pool start-up included).

Prints wall and CPU time (all processes), the replications it took, the answer, and the load average.

Then the what-if explorer's own latency (`sim.explorer.whatif.answer`, as the page calls it: serial in the
page's kernel, the starting scenario's runs kept from the page's first answer): the time from moving a
control to the answer, for two moves a leader makes (reps 8 -> 10, qualification on at threshold 0.4).
Target: <= 2 s on 2 cores for the baseline.
Run: `.venv/bin/python benchmarks/bench_whatif.py [--fixed 200]` (`--fixed N` also times the same question
with a fixed N paired replications, the way it was asked before n="auto").
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import sim

TARGET_SECONDS, PRECISION = 5.0, 0.05
EXPLORER_TARGET = 2.0


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
    args = parser.parse_args()
    base = sim.Scenario.preset("baseline")
    scenarios = {"8 reps": base, "10 reps": base.replace({"reps.count": 10}, name="10 reps")}
    load = os.getloadavg()[0]
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
    explorer(base, args.repeat)
    print(f"  load average after: {os.getloadavg()[0]:.1f}")


def explorer(base: sim.Scenario, repeat: int) -> None:
    """The explorer page's wait after a move: `whatif.answer` with the session's kept runs (`known`)."""
    from sim.explorer import levers, whatif

    known: dict = {}
    first = time.perf_counter()
    whatif.answer(base, levers.apply(base, {"reps.count": 9}), known=known)   # the page's first answer
    first = time.perf_counter() - first
    print(f"explorer (serial in the page's kernel): first answer of a session {first:.1f} s (both scenarios simulated)")
    moves = {"reps 8 -> 10": {"reps.count": 10},
             "qualification on, threshold 0.4": {"policies.qualification": True, "policies.qualification.threshold": 0.4}}
    start = base.model_dump_json()
    for label, settings in moves.items():
        times = []
        for _ in range(repeat):
            kept = {k: v for k, v in known.items() if k[0] == start}   # only the start's runs kept
            began = time.perf_counter()
            got = whatif.answer(base, levers.apply(base, settings), known=kept)
            times.append(time.perf_counter() - began)
        wall = sorted(times)[len(times) // 2]
        print(f"  {label}: {wall:.1f} s (median of {repeat}; best {min(times):.1f} s), {got.replications} paired "
              f"replications; target <= {EXPLORER_TARGET:.0f} s: {'met' if wall <= EXPLORER_TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
