"""`abcgen-live`: an endless session of new tunes on a MIDI port."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from abcgen.runtime.cli import run_app
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.generate import MAX_SEED

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

RANDOM = "random"


def _controls(specs: list[str]) -> dict[str, int]:
    from abcgen.runtime.live.config import DEFAULT_CONTROLS

    controls = dict(DEFAULT_CONTROLS)
    for spec in specs:
        name, _, number = spec.partition("=")
        if name not in controls or not number.isdigit():
            raise AbcgenError(f"--cc {spec!r}: write NAME=NUMBER with NAME one of "
                              f"{', '.join(controls)}")
        controls[name] = int(number)
    return controls


@app.command()
def live(
    port: Annotated[str | None, typer.Option(
        help="Output port to play to: its exact name or a unique part of it.")] = None,
    virtual: Annotated[str | None, typer.Option(
        help="Open a virtual output port of this name for synths and DAWs to connect to.",
        show_default="'out', when no --port is given")] = None,
    api: Annotated[str, typer.Option(
        help="MIDI system: auto, alsa, jack, coremidi or winmm; auto tries them in turn.")
    ] = "auto",
    list_ports: Annotated[bool, typer.Option(
        "--list-ports", help="List the MIDI ports of every working API and exit.")] = False,
    model: Annotated[Path | None, typer.Option(
        help="ONNX model.", show_default="the shipped model")] = None,
    abc: Annotated[Path | None, typer.Option(
        help="Play the tunes of this ABC file, in turn, instead of generating.")] = None,
    temperature: Annotated[float, typer.Option(
        help="Sampling temperature; a controller can change it live (0.1..2.0).")] = 1.0,
    free: Annotated[bool, typer.Option(
        "--free", help="Sample without the constraint mask (tunes may then have wrong bar "
                       "lengths or no end).")] = False,
    max_chars: Annotated[int, typer.Option(
        min=1, help="Longest tune body, in characters.")] = 2000,
    seed: Annotated[int | None, typer.Option(
        min=0, max=MAX_SEED, help="Seed for tunes, header choices and humanisation.",
        show_default="random")] = None,
    meter: Annotated[str, typer.Option(help="Meter of every tune, e.g. 6/8, or 'random'.")
                     ] = RANDOM,
    key: Annotated[str, typer.Option(help="Key (and mode) of every tune, e.g. D, Ador, "
                                          "or 'random'.")] = RANDOM,
    unit: Annotated[str | None, typer.Option(
        help="Unit note length, e.g. 1/8.", show_default="from the meter")] = None,
    form: Annotated[str, typer.Option(
        help="Form of every tune: AABB, AB, AABBCC... auto (what the corpus does for the "
             "meter, drawn once a set) or free.")] = "auto",
    part_bars: Annotated[int | None, typer.Option(
        help="Bars in each part of --form.", show_default="8")] = None,
    set_size: Annotated[int, typer.Option(
        min=1, help="Tunes in a set: one meter and one form, as dancers need.")] = 3,
    bpm: Annotated[float | None, typer.Option(
        min=20, max=400, help="Quarter notes per minute.",
        show_default="Q: of the tune, else a dance tempo for its meter")] = None,
    swing: Annotated[float, typer.Option(
        min=0.25, max=0.74, help="Share of each pair of eighths the first takes: 0.5 is "
                                 "straight, 0.6-0.67 swung.")] = 0.5,
    channel: Annotated[int, typer.Option(min=1, max=16, help="MIDI channel of the melody.")
                       ] = 1,
    program: Annotated[int, typer.Option(
        min=0, max=127, help="General MIDI program (0-based), sent at each tune's start.")] = 0,
    chords: Annotated[bool, typer.Option(
        "--chords", help="Play chord symbols, when a tune has them, on a second channel.")
    ] = False,
    chord_channel: Annotated[int | None, typer.Option(
        min=1, max=16, help="MIDI channel of the chords.", show_default="the next one")
    ] = None,
    humanise: Annotated[int, typer.Option(
        min=0, max=30, help="Velocities vary by up to this much either way.")] = 6,
    gap: Annotated[float, typer.Option(min=0, help="Seconds of silence between tunes.")
                   ] = 2.0,
    tunes: Annotated[int | None, typer.Option(
        min=1, help="Stop after this many tunes.", show_default="play until stopped")
    ] = None,
    record: Annotated[Path | None, typer.Option(
        help="Also write everything played to this .mid file (as it plays: a crash keeps "
             "it).")] = None,
    abc_log: Annotated[Path, typer.Option(
        help="Append every tune played to this ABC file.")] = Path("abcgen-live.abc"),
    clock: Annotated[str, typer.Option(
        help="MIDI clock: 'master' sends 24 per quarter note with start/stop; 'follow' "
             "takes tempo and start/stop from --clock-in; 'off'.")] = "off",
    clock_in: Annotated[str | None, typer.Option(help="Input port carrying MIDI clock.")
                        ] = None,
    control_in: Annotated[str | None, typer.Option(
        help="Input port for control changes (see --cc).")] = None,
    cc: Annotated[list[str] | None, typer.Option(
        help="Map a controller: temperature=20, tempo=21, next=22, panic=23 (the defaults); "
             "repeat for several.")] = None,
    time_scale: Annotated[float, typer.Option(
        help="Stretch time by this factor (below 1 plays faster; for tests and soaks).")
    ] = 1.0,
    realtime: Annotated[bool, typer.Option(
        help="Send at realtime priority when the system allows it (steadier timing).")
    ] = True,
) -> None:
    """Play new tunes to a MIDI port, one after another, in time, until stopped.

    Stop with Ctrl-C, SIGTERM or SIGHUP: every sounding note is released first.
    """
    from abcgen.runtime.live import ports

    if list_ports:
        for name, found in ports.list_ports(api).items():
            typer.echo(f"{name}:")
            for kind in ("outputs", "inputs"):
                for port_name in found[kind]:
                    typer.echo(f"  {kind[:-1]:6}  {port_name}")
        return

    from abcgen.runtime.generate.sampling import random_seed
    from abcgen.runtime.live.config import LiveConfig
    from abcgen.runtime.live.performance import Style
    from abcgen.runtime.live.session import run

    seed = random_seed() if seed is None else seed

    style = Style(bpm=bpm, channel=channel - 1, program=program, chords=chords,
                  chord_channel=None if chord_channel is None else chord_channel - 1,
                  swing=swing, humanise=humanise, seed=seed)
    config = LiveConfig(
        style=style, model=model, abc=abc, temperature=temperature, free=free, max_chars=max_chars,
        seed=seed,
        meter=None if meter == RANDOM else meter, key=None if key == RANDOM else key,
        unit=unit, form=form, part_bars=part_bars, set_size=set_size,
        gap=gap, tunes=tunes, port=port, virtual=virtual, api=api,
        record=record, abc_log=abc_log, clock=clock, clock_in=clock_in,
        control_in=control_in, controls=_controls(cc or []), time_scale=time_scale,
        realtime=realtime)
    run(config, log=_log)


def _log(line: str) -> None:
    """A line on stderr, unless stderr is gone (its terminal closed: SIGHUP follows),
    which must not stop the way out that releases every note."""
    with contextlib.suppress(OSError):
        typer.echo(line, err=True)


main = run_app(app)


if __name__ == "__main__":
    main()
