"""`abcgen convert IN.abc -o OUT.{mid,musicxml,abc,svg,wav}`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from abcgen.runtime.cli import app

SHOWN = 3  # problems printed per tune: a tunebook can have thousands


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="ABC file with one or more tunes.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="OUT.mid, OUT.musicxml (or .xml), OUT.abc, sheet music OUT.svg or audio "
            "OUT.wav/.flac/.ogg. A file of several tunes gives OUT-1.mid, OUT-2.mid, ... "
            "(N is the tune's place in the file).",
        ),
    ],
    tune: Annotated[
        int | None, typer.Option(min=1, help="Convert only the Nth tune of the file, into OUT.")
    ] = None,
    bpm: Annotated[
        float | None,
        typer.Option(help="MIDI and audio tempo in quarter notes per minute "
                     "[default: Q:, else by meter]."),
    ] = None,
    program: Annotated[
        int, typer.Option(min=0, max=127, help="General MIDI program (0-based) of the melody.")
    ] = 0,
    chords: Annotated[
        bool, typer.Option("--chords", help="MIDI and audio: play chord symbols on a second "
                           "track.")
    ] = False,
    soundfont: Annotated[
        Path | None,
        typer.Option(help="SoundFont (.sf2/.sf3) for audio output.", envvar="ABCGEN_SOUNDFONT",
                     show_default="a General MIDI SoundFont found on the system"),
    ] = None,
) -> None:
    """Convert ABC tunes to MIDI, MusicXML (for MuseScore), clean ABC, sheet music or audio."""
    # Imported here, not at the top: every `abcgen` call loads this module.
    from abcgen.runtime.formats.convert import convert_file

    results = convert_file(source, output, tune=tune, bpm=bpm, program=program, chords=chords,
                           soundfont=soundfont)
    for r in results:
        shown = sorted(r.diagnostics, key=lambda d: d.severity != "error")[:SHOWN]
        for d in shown:
            typer.echo(
                f"{source}:{d.line}:{d.col}: warning: {d.message} (tune {r.index})", err=True
            )
        if len(r.diagnostics) > len(shown):
            more = len(r.diagnostics) - len(shown)
            typer.echo(
                f"{source}: warning: {more} more in tune {r.index} "
                f"(abcgen check {source} --tune {r.index} lists them)",
                err=True,
            )
        if r.path is None:
            typer.echo(f"{source}: warning: tune {r.index} has no notes; skipped", err=True)
        else:
            typer.echo(f"wrote {r.path}")
