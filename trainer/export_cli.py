"""`abcgen-export CHECKPOINT -o MODEL.onnx`: options and the report; the work is in export.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from abcgen.runtime.cli import run_app
from abcgen.runtime.errors import AbcgenError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="best.pt (or last.pt) of a training run.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .onnx file to write.")],
    quantize: Annotated[
        str | None, typer.Option(help="'int8': dynamic int8 weights (smaller, a little worse).")
    ] = None,
    valid: Annotated[
        Path | None,
        typer.Option(help="Tunes for the parity check and the bits/char of --quantize, one "
                     "blank line apart (valid.txt of `abcgen-train corpus`; default: the "
                     "valid split of the default corpus)."),
    ] = None,
) -> None:
    """Export a checkpoint to ONNX, checked against torch before it is written."""
    from abcgen.runtime.atomic import check_writable

    check_writable(out, inputs=[checkpoint, valid])  # before torch loads, or the corpus is read
    from abcgen.trainer.export import export as run_export

    report = run_export(checkpoint, out, tunes=_valid_tunes(valid), quantize=quantize)
    logits = {k: v for k, v in report.parity.items() if not k.endswith("/state")}
    state = max(v for k, v in report.parity.items() if k.endswith("/state"))
    typer.echo(f"parity with torch: max |logit diff| {max(logits.values()):.2e} over "
               f"{', '.join(logits)}; final state {state:.2e}")
    if report.quantized:
        typer.echo(f"int8: {report.bytes / 1e6:.2f} MB (float {report.float_bytes / 1e6:.2f} MB); "
                   f"valid bits/char {report.int8_bpc:.4f} vs {report.float_bpc:.4f} "
                   f"(+{report.int8_bpc - report.float_bpc:.4f})")
    typer.echo(f"wrote {report.path} ({report.bytes / 1e6:.2f} MB)")


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
