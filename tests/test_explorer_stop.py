"""`playbook whatif` stopped with `kill` or Ctrl-C stops its Voilà server, which then shuts its kernels down."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from sim.explorer.serve import run_until_stopped

SERVER = """
import pathlib, signal, sys, time
def stop(*_):
    pathlib.Path(sys.argv[2]).write_text("stopped")   # where Voila shuts its kernels down
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
pathlib.Path(sys.argv[1]).write_text("up")
time.sleep(120)
"""


def _signal_when(path: Path, sig: int) -> threading.Thread:
    def send() -> None:
        for _ in range(600):
            if path.exists():
                break
            time.sleep(0.05)
        os.kill(os.getpid(), sig)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    return t


def test_sigterm_to_playbook_whatif_stops_the_server(tmp_path):
    up, stopped = tmp_path / "up", tmp_path / "stopped"
    _signal_when(up, signal.SIGTERM)
    start = time.perf_counter()
    assert run_until_stopped([sys.executable, "-c", SERVER, str(up), str(stopped)], tmp_path, dict(os.environ)) == 0
    assert stopped.read_text() == "stopped" and time.perf_counter() - start < 60
    assert signal.getsignal(signal.SIGTERM) is not None   # our handler is gone again


def test_ctrl_c_stops_the_server_too(tmp_path):
    up, stopped = tmp_path / "up", tmp_path / "stopped"
    _signal_when(up, signal.SIGINT)
    assert run_until_stopped([sys.executable, "-c", SERVER, str(up), str(stopped)], tmp_path, dict(os.environ)) == 0
    assert stopped.read_text() == "stopped"


def test_a_server_that_ignores_sigterm_is_killed_after_the_grace(tmp_path):
    up = tmp_path / "up"
    stubborn = "import pathlib, signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" \
               "pathlib.Path(sys.argv[1]).write_text('up')\ntime.sleep(120)"
    _signal_when(up, signal.SIGTERM)
    start = time.perf_counter()
    assert run_until_stopped([sys.executable, "-c", stubborn, str(up)], tmp_path, dict(os.environ), grace=1) == 0
    assert time.perf_counter() - start < 30


POOL = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from sim.experiments.replicate import worker_start
with ProcessPoolExecutor(1, initializer=worker_start) as pool:
    print(pool.submit(os.getpid).result(), flush=True)
    time.sleep(120)
"""


def test_pool_workers_end_when_the_command_that_started_them_is_killed(tmp_path):
    import subprocess

    parent = subprocess.Popen([sys.executable, "-c", POOL], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)          # a timeout's kill: no chance to stop the pool
    parent.wait()
    for _ in range(200):
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(worker, signal.SIGKILL)
        raise AssertionError("the pool worker outlived the command that started it")
