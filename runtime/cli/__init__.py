"""The `abcgen` command. Each subcommand lives in its own module and only
declares options; the work is done by plain functions elsewhere in the runtime."""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer

from abcgen.runtime.errors import AbcgenError

app = typer.Typer(
    help="Generate, convert and check folk tunes in ABC notation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _group() -> None:
    # Keeps `abcgen NAME ...` a group even while only one subcommand is registered
    # (typer would otherwise run that command as the whole program).
    pass


def run_app(typer_app: typer.Typer) -> Callable[[], None]:
    """Wrap a Typer app so expected errors leave with a message, not a traceback."""

    def entry() -> None:
        try:
            typer_app()
        except AbcgenError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    return entry


SUBCOMMANDS: list[str] = ["generate", "plugin", "check", "convert", "eval"]


def register(names: list[str] = SUBCOMMANDS) -> None:
    """Import subcommand modules, which register themselves on `app`."""
    import importlib

    for name in names:
        importlib.import_module(f"abcgen.runtime.cli.{name}")


def main() -> None:
    """The `abcgen` script. Registers only the subcommand being run: typer builds
    every registered command on each call, and all five cost a tenth of a second
    of cold start (help and unknown names still see them all)."""
    words = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    register(words[:1] if words and words[0] in SUBCOMMANDS else SUBCOMMANDS)
    _entry()


_entry = run_app(app)
