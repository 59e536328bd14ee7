"""`abcgen check IN.abc [--tune N]`: report each tune's problems, exit 1 if any is invalid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from abcgen.runtime.cli import app
from abcgen.runtime.errors import AbcgenError, BeyondLimits


@app.command()
def check(
    source: Annotated[Path, typer.Argument(help="ABC file with one or more tunes.")],
    tune: Annotated[
        int | None, typer.Option(min=1, help="Check only the Nth tune of the file.")
    ] = None,
) -> None:
    """Check ABC tunes: syntax, and bar lengths against the meter (as abc2midi does).

    Prints FILE:LINE:COL: SEVERITY: MESSAGE per problem; exits 1 when a tune has
    an error, 2 when the file cannot be read.
    """
    # Imported here, not at the top: every `abcgen` call loads this module.
    from abcgen.runtime.abc.limits import check_tune
    from abcgen.runtime.abc.parser import parse
    from abcgen.runtime.formats.outputs import MAX_TUNE_CHARS, read_tunes, too_long

    tunes = read_tunes(source)
    if not tunes:
        raise AbcgenError(f"no tune in {source} (a tune starts with an X: or K: line)")
    if tune is not None and not 1 <= tune <= len(tunes):
        raise AbcgenError(f"--tune {tune}: {source} has {len(tunes)} tune(s)")
    chosen = [tunes[tune - 1]] if tune else tunes
    invalid = 0
    for first_line, text in chosen:
        if len(text) > MAX_TUNE_CHARS:  # parsing it could cost gigabytes
            typer.echo(f"{source}:{first_line}:1: error: not checked: {too_long(text)}")
            invalid += 1
            continue
        parsed = parse(text)
        for d in sorted(parsed.diagnostics, key=lambda d: (d.line, d.col)):
            typer.echo(f"{source}:{first_line + d.line - 1}:{d.col}: {d.severity}: {d.message}")
        try:
            check_tune(parsed)
        except BeyondLimits as err:  # valid ABC, but convert and live would skip it
            typer.echo(f"{source}:{first_line}:1: warning: abcgen will not write it: {err}")
        invalid += not parsed.valid
    typer.echo(f"{source}: {len(chosen)} tune(s) checked, {invalid} invalid", err=True)
    if invalid:
        raise typer.Exit(1)
