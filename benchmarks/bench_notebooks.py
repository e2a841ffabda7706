"""How long each notebook takes to execute, as nbval and the report run it (goal: under ~40 s each).

Executes every `notebooks/*.ipynb` (or the ones named) in a fresh kernel into a temporary copy — the notebooks
themselves are not touched — and prints wall and CPU time per notebook (the kernel's CPU included), their sum,
and the load average. The report runs the principle notebooks (all but 00) two at a time; its goal is all
thirteen in <= 3 minutes on 2 cores, and CI's (pytest + nbval on every notebook) <= 20 minutes.
Run: `.venv/bin/python benchmarks/bench_notebooks.py [notebooks/01-force-concentration.ipynb ...]`.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
GOAL_EACH, GOAL_REPORT = 40.0, 180.0


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(path: Path) -> tuple[float, float, str]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    wall, cpu = time.perf_counter(), children_cpu() + time.process_time()
    try:
        client.execute()
        status = "ok"
    except Exception as err:   # report and go on: a failing notebook is a finding, not a crash of the benchmark
        status = f"FAILED: {type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}"
    return time.perf_counter() - wall, children_cpu() + time.process_time() - cpu, status


def main() -> None:
    os.environ["PLAYBOOK_PROGRESS"] = "0"
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    load = os.getloadavg()[0]
    print(f"{len(paths)} notebooks, load average {load:.1f} on {os.cpu_count()} cores")
    total_wall = total_cpu = principles = 0.0
    for path in paths:
        wall, cpu, status = run(path)
        total_wall, total_cpu = total_wall + wall, total_cpu + cpu
        if not path.name.startswith("00"):
            principles += wall
        goal = "met" if wall <= GOAL_EACH else "MISSED"
        print(f"  {path.name:36} {wall:6.1f} s wall {cpu:6.1f} s CPU  goal <= {GOAL_EACH:.0f} s: {goal}  {status}")
    print(f"  all: {total_wall:.1f} s wall, {total_cpu:.1f} s CPU, one after another; principle notebooks {principles:.1f} s "
          f"one after another, about {principles / 2:.0f} s two at a time as the report runs them "
          f"(goal for the report: <= {GOAL_REPORT:.0f} s once all thirteen exist)")
    print(f"  load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
