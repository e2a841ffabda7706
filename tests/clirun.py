"""Run the `playbook` command inside a test as a shell would see it."""

from __future__ import annotations

from sim.cli import main


def run(argv, capsys):
    """main(argv) as a shell would see it: (exit status, stdout, stderr); argparse's exits included."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def check(argv, capsys):
    """main(argv)'s (exit status, stdout, stderr), asserting no traceback reached the user."""
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err
