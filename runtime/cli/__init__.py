"""The `abcgen` command. Each subcommand lives in its own module and only
declares options; the work is done by plain functions elsewhere in the runtime."""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer

from abcgen.runtime.errors import AbcgenError

try:  # typer vendors click from 0.2x on; before, it depends on click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer
    from click.exceptions import ClickException

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


# Modules of the optional extras, by the extra that installs them.
EXTRAS = {"torch": "train", "onnx": "train", "music21": "train", "matplotlib": "train",
          "safetensors": "train", "rtmidi": "live", "starlette": "serve",
          "uvicorn": "serve"}


def run_app(typer_app: typer.Typer) -> Callable[[], None]:
    """Wrap a Typer app so that every expected failure leaves the same way: one
    `error:` line on stderr and exit code 2, never a traceback. That covers our
    own errors, bad options (typer would draw a boxed panel) and a missing extra."""

    def entry() -> None:
        try:
            code = typer_app(standalone_mode=False)
        except AbcgenError as err:
            _fail(str(err), err.exit_code)
        except ClickException as err:
            if not err.format_message().strip():  # no arguments at all: the help was shown
                sys.exit(err.exit_code)
            _fail(_usage_message(err), 2)
        except ModuleNotFoundError as err:
            top = (err.name or "").partition(".")[0]
            if top not in EXTRAS:
                raise
            _fail(f"this command needs {top}, which comes with the [{EXTRAS[top]}] extra: "
                  f"pip install 'abcgen[{EXTRAS[top]}]'", 2)
        except (KeyboardInterrupt, typer.Abort):
            _fail("interrupted", 130, prefix="")
        sys.exit(code if isinstance(code, int) else 0)

    return entry


def _fail(message: str, code: int, prefix: str = "error: ") -> None:
    print(f"{prefix}{message}", file=sys.stderr)
    sys.exit(code)


def _usage_message(err: ClickException) -> str:
    """Click's message in our style: lower case, no full stop, the help to read."""
    text = err.format_message().strip().rstrip(".")
    text = text[:1].lower() + text[1:]
    ctx = getattr(err, "ctx", None)
    return f"{text} (see {ctx.command_path} --help)" if ctx is not None else text


SUBCOMMANDS: list[str] = ["generate", "plugin", "check", "convert", "eval", "serve"]


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
