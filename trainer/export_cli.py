"""`abcgen-export CHECKPOINT -o MODEL.onnx`: options and the report; the work is in export.py."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from abcgen.runtime.cli import run_app
from abcgen.runtime.errors import AbcgenError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(
        help="best.pt (or last.pt) of a training run; or an exported .onnx file, to fit its "
             "copy model again (nothing else changes).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .onnx file to write.")],
    quantize: Annotated[
        str | None, typer.Option(help="'int8': dynamic int8 weights (smaller, a little worse).")
    ] = None,
    copy: Annotated[bool, typer.Option(
        "--copy/--no-copy", help="Fit the copy model's gate on the valid split and put it in "
        "the file (generation then restates bars and phrases as tunes do).")] = True,
    valid: Annotated[
        Path | None,
        typer.Option(help="Tunes for the parity check, the bits/char of --quantize and the "
                     "copy model, one blank line apart (valid.txt of `abcgen-train corpus`; "
                     "default: the valid split of the default corpus)."),
    ] = None,
) -> None:
    """Export a checkpoint to ONNX, checked against torch before it is written."""
    from abcgen.runtime.atomic import check_writable

    check_writable(out, inputs=[checkpoint, valid])  # before torch loads, or the corpus is read
    if checkpoint.suffix == ".onnx":
        _refit(checkpoint, out, valid, copy, quantize)
        return
    from abcgen.trainer.export import export as run_export

    with _status() as say:
        report = run_export(checkpoint, out, tunes=_valid_tunes(valid), quantize=quantize,
                            copy=copy, say=say)
    logits = {k: v for k, v in report.parity.items() if not k.endswith("/state")}
    state = max(v for k, v in report.parity.items() if k.endswith("/state"))
    typer.echo(f"parity with torch: max |logit diff| {max(logits.values()):.2e} over "
               f"{', '.join(logits)}; final state {state:.2e}")
    if report.quantized:
        typer.echo(f"int8: {report.bytes / 1e6:.2f} MB (float {report.float_bytes / 1e6:.2f} MB); "
                   f"valid bits/char {report.int8_bpc:.4f} vs {report.float_bpc:.4f} "
                   f"(+{report.int8_bpc - report.float_bpc:.4f})")
    if report.copy is not None:
        _say_copy(report.copy)
    typer.echo(f"wrote {report.path} ({report.bytes / 1e6:.2f} MB)")


def _refit(model: Path, out: Path, valid: Path | None, copy: bool, quantize: str | None) -> None:
    from abcgen.runtime.atomic import write_atomic
    from abcgen.trainer.copy_fit import with_gate

    if quantize is not None or not copy:
        raise AbcgenError("an .onnx file only has its copy model fitted again: leave out "
                          "--quantize and --no-copy (export its checkpoint for those)")
    if not model.is_file():
        raise AbcgenError(f"model file not found: {model}")
    with _status() as say:
        fitted = with_gate(model.read_bytes(), _valid_tunes(valid), say=say)
    write_atomic(out, fitted.data)
    _say_copy(fitted)
    typer.echo(f"wrote {out} ({len(fitted.data) / 1e6:.2f} MB)")


@contextlib.contextmanager
def _status():
    """A line on stderr that says what the export is doing (the copy model takes minutes)."""
    from rich.console import Console

    with Console(stderr=True).status("exporting") as status:
        yield lambda text: status.update(text)


def _say_copy(fitted) -> None:  # (fitted: copy_fit.Fitted; torch stays unimported here)
    from abcgen.runtime.generate.copy_model import KINDS

    typer.echo(f"copy model: fitted on {fitted.tunes} valid tunes; valid bits/char "
               f"{fitted.lstm_bpc:.4f} with the LSTM alone, {fitted.copy_bpc:.4f} with the copy "
               "model; generation boosts "
               + ", ".join(f"{k} {b:g}" for k, b in zip(KINDS, fitted.boost, strict=True))
               + " (restating nearest the valid tunes)")


def _valid_tunes(path: Path | None) -> list[str]:
    from abcgen.runtime.abc.corpus import build_corpus, read_split

    if path is None:
        return build_corpus().valid
    tunes = read_split(path)
    if not tunes:
        raise AbcgenError(f"{path} holds no tunes")
    return tunes


main = run_app(app)

if __name__ == "__main__":
    main()
