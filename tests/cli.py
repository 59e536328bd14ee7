"""Run `abcgen` in process, through the same error boundary as the installed script."""

from __future__ import annotations

import sys

from abcgen.runtime.cli import app, main, register

register()  # every subcommand on `app`, for typer's CliRunner
__all__ = ["app", "run"]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `abcgen ARGV`."""
    old, sys.argv = sys.argv, ["abcgen", *argv]
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code or 0
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err
