"""`abcgen convert IN.abc -o OUT.{mid,musicxml,abc,svg,wav}`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from abcgen.runtime.cli import app
from abcgen.runtime.errors import AbcgenError

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
        typer.Option(min=20, max=400, help="MIDI and audio tempo in quarter notes per minute "
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
    """Convert ABC tunes to MIDI, MusicXML (for MuseScore), clean ABC, sheet music or audio.

    Each file is reported as it is written (stdout); warnings and, on a terminal,
    a progress bar go to stderr.
    """
    # Imported here, not at the top: every `abcgen` call loads this module.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from abcgen.runtime.formats.outputs import NO_NOTES, convert_tune, plan
    from abcgen.runtime.formats.soundfonts import find_soundfont

    kind, jobs = plan(source, output, tune=tune)
    if kind == "audio":
        soundfont = find_soundfont(soundfont)  # before any work: none found is an error
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    progress = Progress(TextColumn("converting"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=console, transient=True,
                        redirect_stdout=sys.stdout.isatty(), disable=not console.is_terminal)
    written, reasons = 0, set()
    with progress:
        task = progress.add_task("convert", total=len(jobs))
        for job in jobs:
            r = convert_tune(job, kind, bpm=bpm, program=program, chords=chords,
                             soundfont=soundfont)
            for line in _warnings(source, r):
                console.print(line, markup=False)
            if r.path is not None:
                written += 1
                print(f"wrote {r.path}", flush=True)
            reasons.add(r.skipped)
            progress.advance(task)
    if not written:
        raise AbcgenError(f"no tune with notes in {source}" if reasons == {NO_NOTES}
                          else f"no tune of {source} converted (the warnings say why)")
    if len(jobs) > 1:
        console.print(f"{source}: {written} of {len(jobs)} tunes converted", markup=False)


def _warnings(source: Path, r) -> list[str]:
    shown = sorted(r.diagnostics, key=lambda d: d.severity != "error")[:SHOWN]
    lines = [f"{source}:{d.line}:{d.col}: warning: {d.message} (tune {r.index})" for d in shown]
    if len(r.diagnostics) > len(shown):
        lines.append(f"{source}: warning: {len(r.diagnostics) - len(shown)} more in tune "
                     f"{r.index} (abcgen check {source} --tune {r.index} lists them)")
    if r.skipped:
        lines.append(f"{source}: warning: tune {r.index} skipped: {r.skipped}")
    return lines
