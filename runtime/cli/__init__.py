"""The `abcgen` command. Each subcommand lives in its own module and only
declares options; the work is done by plain functions elsewhere in the runtime."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import typer

from abcgen.runtime.errors import AbcgenError, Interrupted

try:  # typer vendors click from 0.2x on; before, it depends on click
    from typer._click.exceptions import ClickException
    from typer._click.types import FloatParamType
except ImportError:  # pragma: no cover - older typer
    from click.exceptions import ClickException
    from click.types import FloatParamType

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


# What a stop signal prints; the exit code is 128 + its number, as a shell reports it.
STOPS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}
# A write to stdout fails with these (the file named by `> FILE` is full, or gone).
_STREAM_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EBADF}


def run_app(typer_app: typer.Typer) -> Callable[[], None]:
    """Wrap a Typer app so that every expected failure leaves the same way: one
    `error:` line on stderr and exit code 2, never a traceback. That covers our
    own errors, bad options (typer would draw a boxed panel; a float option must
    also be finite), a missing extra and a stdout that cannot be written; a stop
    signal prints one word and exits 128 + its number, once `finally` blocks ran."""

    def entry() -> None:
        try:
            with _stop_signals():
                command = typer.main.get_command(typer_app)
                _finite_floats(command)
                code = command(standalone_mode=False)
                sys.stdout.flush()  # a full disk behind `> FILE` shows here, not at exit
        except Interrupted as stop:
            _fail(STOPS[stop.signum], 128 + stop.signum, prefix="")
        except OSError as err:
            if err.filename is not None or err.errno not in (*_STREAM_ERRORS, errno.EPIPE):
                raise
            _silence_stdout()
            if err.errno == errno.EPIPE:  # the reader went (`| head`): nothing to say
                sys.exit(1)
            _fail(f"cannot write to standard output: {err.strerror or err}", 2)
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
    with contextlib.suppress(OSError):  # stderr may be gone too (a closed terminal)
        print(f"{prefix}{message}", file=sys.stderr, flush=True)
    sys.exit(code)


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise Interrupted while the command runs (typer
    would turn Ctrl-C into a silent exit 130, and the others end the process at
    once, leaving its temporary files). A signal ignored on entry (nohup, a
    background job) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: Any) -> None:
        raise Interrupted(signum)

    previous = {sig: signal.getsignal(sig) for sig in STOPS}
    for sig, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)


def _finite_floats(command: Any) -> None:
    """Every float option of `command` and its subcommands refuses nan and inf: a
    range in typer (`min=0`) lets inf through, and `--gap inf` would wait forever."""
    for param in command.params:
        kind = param.type
        if isinstance(kind, FloatParamType) and not getattr(kind, "finite", False):
            kind.convert = _finite_convert(kind, kind.convert)
            kind.finite = True
    for sub in getattr(command, "commands", {}).values():
        _finite_floats(sub)


def _finite_convert(kind: Any, convert: Callable) -> Callable:
    def checked(value: Any, param: Any, ctx: Any) -> Any:
        with contextlib.suppress(TypeError, ValueError):  # not a number: convert says so
            if not math.isfinite(float(value)):
                kind.fail(f"{value} is not a finite number", param, ctx)
        return convert(value, param, ctx)

    return checked


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush at exit
    does not fail again with a second message."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


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
