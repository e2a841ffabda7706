"""The `playbook` command's error boundary: help, flags, outputs, bugs and signals (issue 19)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import sim.cli as cli
from clirun import run
from sim.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]




def test_playbook_help_does_not_crash_on_a_percent_sign(capsys):
    code, out, err = run(["--help"], capsys)
    assert code == 0 and "Traceback" not in err
    assert "95% CIs" in out and all(name in out for name in COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_has_help(capsys, name):
    code, out, err = run([name, "--help"], capsys)
    assert code == 0 and f"usage: playbook {name}" in out and not err


def test_the_help_is_what_a_shell_sees():
    done = subprocess.run([sys.executable, "-m", "sim.cli", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "COMMAND" in done.stdout and not done.stderr


@pytest.mark.parametrize("argv, says", [
    (["simulate", "baseline", "--seed", "-1", "--out", "x"], "--seed: -1 is not allowed, must be a whole number >= 0"),
    (["synth", "--crm", "hubspot", "--out", "x", "--seed", "abc"], "--seed: 'abc' is not a whole number"),
    (["compare", "a", "b", "--reps", "1"], "--reps: 1 is not allowed, must be a whole number from 2 to 100,000"),
    (["synth", "--crm", "hubspot", "--out", "x", "--broken", "-3"], "--broken: -3 is not allowed"),
    (["report", "--workers", "0"], "--workers: 0 is not allowed"),
])
def test_bad_flags_are_one_usage_line(capsys, argv, says):
    code, _, err = run(argv, capsys)
    assert code == 2 and says in err and "Traceback" not in err


def test_compare_checks_metrics_before_any_replication(capsys, monkeypatch):
    def replications_ran(*args, **kwargs):
        raise AssertionError("replications ran before --metrics was checked")
    monkeypatch.setattr(cli, "compare", replications_ran)
    code, _, err = run(["compare", "baseline", "baseline", "--reps", "50", "--metrics", "bookings,nosuchmetric"], capsys)
    assert code == 2
    assert "--metrics: nosuchmetric is not a metric of these scenarios; choose from" in err and "bookings" in err


def test_output_onto_an_existing_file_is_refused_before_any_work(tmp_path, capsys):
    mine = tmp_path / "notes.txt"
    mine.write_text("keep me")
    for argv in (["simulate", "baseline", "--out", str(mine)], ["synth", "--crm", "pipedrive", "--out", str(mine)],
                 ["simulate", "baseline", "--out", str(mine / "sub")], ["report", "-o", str(mine), "--force"]):
        code, _, err = run(argv, capsys)
        assert code == 2 and "is a file" in err and "Traceback" not in err, argv
    assert mine.read_text() == "keep me"


def test_output_into_a_folder_that_cannot_be_written_is_one_message(tmp_path, capsys, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(Path, "mkdir", read_only)
    code, _, err = run(["simulate", "baseline", "--out", str(tmp_path / "locked" / "run")], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"{tmp_path / 'locked' / 'run'}: Permission denied; check its permissions" in err


def test_output_on_a_read_only_file_system(capsys):
    code, _, err = run(["synth", "--crm", "hubspot", "--out", "/proc/playbook-cannot-write-here"], capsys)
    assert code == 2 and "Traceback" not in err and "/proc/playbook-cannot-write-here" in err


def test_an_unreadable_scenario_file_is_named(tmp_path, capsys):
    folder = tmp_path / "scenario.yaml"
    folder.mkdir()     # a folder where a file is expected: the OS refuses to read it
    code, _, err = run(["simulate", str(folder), "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "Traceback" not in err and "scenario.yaml" in err


def test_metrics_json_is_valid_json_with_null_for_nan(tmp_path, capsys, monkeypatch):
    real = cli.simulate

    def no_won_deals(scenario, seed, **kwargs):
        result = real(scenario, seed=seed, **kwargs)
        result.metrics["median_cycle_days"] = math.nan
        result.metrics["realisation"] = math.inf
        return result
    monkeypatch.setattr(cli, "simulate", no_won_deals)
    code, _, _ = run(["simulate", "baseline", "--out", str(tmp_path / "run")], capsys)
    assert code == 0
    text = (tmp_path / "run" / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    metrics = json.loads(text)
    assert metrics["median_cycle_days"] is None and metrics["realisation"] is None and metrics["deals_won"] > 0


def test_a_bug_shows_its_traceback_and_says_it_is_a_bug(capsys, monkeypatch):
    def broken(args):
        raise TypeError("unsupported operand")
    monkeypatch.setitem(COMMANDS, "scenario", (COMMANDS["scenario"][0], COMMANDS["scenario"][1], broken))
    code, _, err = run(["scenario", "baseline"], capsys)
    assert code == cli.EXIT_BUG == 70
    assert "Traceback" in err and "TypeError: unsupported operand" in err
    assert "this is a bug in playbook, not a problem with your input" in err and "issue tracker" in err


def test_user_errors_are_sorted_from_bugs():
    import pandas as pd
    import yaml

    assert "no such file" in cli.user_error(FileNotFoundError(2, "no such file", "x.csv"))
    assert "x.csv" in cli.user_error(FileNotFoundError(2, "no such file", "x.csv"))
    assert cli.user_error(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")).startswith("a file is not text")
    assert "not valid YAML" in cli.user_error(yaml.YAMLError("bad"))
    assert "too large" in cli.user_error(pd.errors.OutOfBoundsDatetime("year 9999"))
    assert "too large" in cli.user_error(OverflowError("int too large"))
    for bug in (KeyError("x"), TypeError("x"), ValueError("x"), AttributeError("x")):
        assert cli.user_error(bug) is None


# ---- signals: forked pool workers must not inherit the report's handler ------------------------------------
def test_a_forked_worker_keeps_the_default_signal_behaviour():
    import os
    import signal

    with cli.interruptible():
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)   # the parent cleans up
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:    # the child: what a pool worker starts with
            seen = (signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
            os.write(write, repr(seen).encode())
            os._exit(0)
        os.close(write)
        seen = os.read(read, 100).decode()
        os.waitpid(pid, 0)
    assert seen == "(True, True)"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL   # restored afterwards


POOL_SCRIPT = """
import multiprocessing, sys
sys.path.insert(0, {root!r})
from sim.cli import interruptible

def work(x):
    return x * 2

if __name__ == "__main__":
    for _ in range(5):
        with interruptible():
            pool = multiprocessing.get_context("fork").Pool(2)   # forked like the report's pool
            try:
                print(sorted(pool.imap_unordered(work, range(4))))
                pool.close()
            finally:
                pool.terminate()    # SIGTERM to the workers still there, at the end of every report
                pool.join()
"""


def test_the_report_pool_ends_without_a_traceback(tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT.format(root=str(ROOT)))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.count("[0, 2, 4, 6]") == 5
    assert "Traceback" not in done.stderr, done.stderr
