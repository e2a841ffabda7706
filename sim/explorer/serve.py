"""Serve the what-if explorer as a web page with Voilà: `python -m sim.explorer.serve [--port N]`.

The page runs `notebooks/whatif.ipynb` with no code shown, on localhost only, with a Voilà template of our own
(`voila/templates/playbook`: Voilà's "lab" template without its links to a font CDN, so it loads nothing
from the internet).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE.parents[1] / "notebooks" / "whatif.ipynb"


def command(port: int, notebook: Path = NOTEBOOK) -> list[str]:
    """The Voilà command line that serves the explorer on 127.0.0.1:`port`."""
    voila = Path(sys.executable).with_name("voila")
    return [str(voila), str(notebook.name), f"--port={port}", "--no-browser", "--Voila.ip=127.0.0.1",
            "--template=playbook", "--show_tracebacks=False"]


def environment() -> dict[str, str]:
    """The environment Voilà needs to find our template (and no progress bars in the page)."""
    paths = [str(HERE), os.environ.get("JUPYTER_PATH", "")]
    return {**os.environ, "JUPYTER_PATH": os.pathsep.join(p for p in paths if p), "PLAYBOOK_PROGRESS": "0"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.explorer.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8866, help="port on localhost (default 8866)")
    args = parser.parse_args(argv)
    if not 1024 <= args.port <= 65535:
        parser.error(f"--port: {args.port} is not allowed, must be between 1024 and 65535")
    if not NOTEBOOK.exists():
        parser.error(f"the explorer notebook is missing: {NOTEBOOK}")
    print(f"The what-if explorer: open http://localhost:{args.port}/ in your browser (Ctrl-C here stops it).", flush=True)
    try:
        return subprocess.call(command(args.port), cwd=NOTEBOOK.parent, env=environment())
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
