"""Serve the what-if explorer as a web page with Voilà: `python -m sim.explorer.serve [--port N] [--folder DIR]`.

The page runs `notebooks/whatif.ipynb` with no code shown, on localhost only, with a Voilà template of our own
(`voila/templates/playbook`: Voilà's "lab" template without its links to a font CDN, so it loads nothing
from the internet).
"""

from __future__ import annotations

import argparse
import os
import socket
import signal
import subprocess
import sys
from pathlib import Path

from ..experiments.replicate import die_with_parent

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE.parents[1] / "notebooks" / "whatif.ipynb"
FOLDER_VARIABLE = "PLAYBOOK_WHATIF_FOLDER"   # tells the page where scenario files are listed and saved


def command(port: int, notebook: Path = NOTEBOOK) -> list[str]:
    """The Voilà command line that serves the explorer on 127.0.0.1:`port`."""
    voila = Path(sys.executable).with_name("voila")
    return [str(voila), str(notebook.name), f"--port={port}", "--no-browser", "--Voila.ip=127.0.0.1",
            "--template=playbook", "--show_tracebacks=False",
            "--Voila.port_retries=0"]   # never a port other than the one printed (`free_port` chose it)


def environment(folder: Path) -> dict[str, str]:
    """The environment Voilà needs: our template, no progress bars, and the folder scenarios are listed and saved in."""
    paths = [str(HERE), os.environ.get("JUPYTER_PATH", "")]
    return {**os.environ, "JUPYTER_PATH": os.pathsep.join(p for p in paths if p), "PLAYBOOK_PROGRESS": "0",
            FOLDER_VARIABLE: str(folder.resolve())}


def arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `make whatif` / `playbook whatif`."""
    parser.add_argument("--port", type=int, default=8866, help="port on localhost (default 8866)")
    parser.add_argument("--folder", type=Path, default=Path("."),
                        help="where scenario files are listed and saved, e.g. the my_pipeline.yaml `playbook calibrate` "
                             "wrote (default: the folder you run this in)")


def free_port(port: int, tries: int = 50) -> int:
    """`port` when nothing listens on it on localhost, else the next free one (Voilà would move on by itself, and
    then the address printed would be another program's)."""
    for candidate in range(port, min(port + tries, 65536)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return candidate
    raise ValueError(f"--port: {port} and the {tries - 1} ports after it are taken; choose another with --port")


def serve(port: int, folder: Path) -> int:
    """Start Voilà on the explorer until Ctrl-C; the problems a user can fix come back as ValueError."""
    if not 1024 <= port <= 65535:
        raise ValueError(f"--port: {port} is not allowed, must be between 1024 and 65535")
    if not folder.is_dir():
        raise ValueError(f"--folder: {folder} is not a folder")
    if not NOTEBOOK.exists():
        raise ValueError(f"the explorer notebook is missing: {NOTEBOOK}")
    asked, port = port, free_port(port)
    if port != asked:
        print(f"Port {asked} is taken (another program listens on it); using {port}.", flush=True)
    print(f"The what-if explorer: open http://localhost:{port}/ in your browser (Ctrl-C here stops it).\n"
          f"Scenario files are listed from and saved to {folder.resolve()}.", flush=True)
    return run_until_stopped(command(port), cwd=NOTEBOOK.parent, env=environment(folder))


STOP_GRACE = 15   # seconds Voilà gets to shut its kernels down before it is killed


def run_until_stopped(cmd: list[str], cwd: Path, env: dict[str, str], grace: float = STOP_GRACE) -> int:
    """Run the server `cmd` until it exits, or until this process gets Ctrl-C (SIGINT) or `kill` (SIGTERM):
    then stop it with SIGTERM (Voilà then shuts its kernels down), and kill it after `grace` seconds.

    The server runs in a session of its own, so Ctrl-C in the terminal reaches it once, from here."""
    def stop(signum: int, frame) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True, preexec_fn=die_with_parent)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.explorer.serve", description=__doc__.splitlines()[0])
    arguments(parser)
    args = parser.parse_args(argv)
    try:
        return serve(args.port, args.folder)
    except ValueError as err:
        parser.error(str(err))


if __name__ == "__main__":
    sys.exit(main())
