"""`abcgen generate`: tunes from the shipped (or a given) model to stdout or files.

Every `abcgen` call imports this module to register the command, so the heavy
imports (numpy, onnxruntime, the writers) happen inside the command: they cost
only when tunes are generated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from abcgen.exported import DEFAULT_MODEL
from abcgen.runtime.cli import app
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.generate import MAX_SEED


@app.command()
def generate(
    model: Annotated[
        Path, typer.Option(help="Exported .onnx model.", show_default="the shipped model")
    ] = DEFAULT_MODEL,
    meter: Annotated[str | None, typer.Option(help="M: of the tunes, e.g. 6/8, 4/4, C.")] = None,
    key: Annotated[
        str | None, typer.Option(help="K: with mode, e.g. G, Em, Ador (needs --meter).")
    ] = None,
    unit: Annotated[
        str | None, typer.Option(help="L: unit note length, e.g. 1/8 (default: from the meter).")
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(help="ABC music the tunes continue, or a fragment with its own M:/K:."),
    ] = None,
    num: Annotated[int, typer.Option(min=1, max=1024, help="How many tunes.")] = 1,
    temperature: Annotated[
        float, typer.Option(help="Sampling temperature; 0 picks the likeliest.")
    ] = 1.0,
    top_k: Annotated[int, typer.Option(min=0, help="Sample among the k likeliest (0: all).")] = 0,
    top_p: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Sample within this probability mass.")
    ] = 1.0,
    seed: Annotated[
        int | None,
        typer.Option(min=0, max=MAX_SEED,
                     help="Random seed; the same seed and --num give the same tunes "
                     "(default: a random one, written in each tune's title)."),
    ] = None,
    max_chars: Annotated[
        int, typer.Option(min=1, help="Longest tune body, in characters.")
    ] = 2000,
    form: Annotated[
        str, typer.Option(help="Form of the tunes: AABB, AB, AABBCC, ABC... (one letter a "
                          "part, doubled when it repeats); auto: what the corpus does for the "
                          "meter; free: bar rules only.")
    ] = "auto",
    part_bars: Annotated[
        int | None, typer.Option(help="Bars in each part of --form (e.g. 16 for some airs).",
                                 show_default="8")
    ] = None,
    free: Annotated[
        bool, typer.Option("--free", help="Sample without the constraint mask (tunes may "
                           "then have wrong bar lengths or no end).")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="OUT.abc (all tunes), OUT.mid, OUT.musicxml, sheet "
                     "music OUT.svg or audio OUT.wav/.flac/.ogg (OUT-1, OUT-2, ... for several "
                     "tunes); stdout when left out."),
    ] = None,
    bpm: Annotated[
        float | None,
        typer.Option(min=20, max=400, help="MIDI and audio tempo in quarter notes per minute.",
                     show_default="a dance tempo for the meter"),
    ] = None,
    program: Annotated[
        int, typer.Option(min=0, max=127, help="General MIDI program (0-based) of the melody.")
    ] = 0,
    soundfont: Annotated[
        Path | None,
        typer.Option(help="SoundFont (.sf2/.sf3) for audio output.", envvar="ABCGEN_SOUNDFONT",
                     show_default="a General MIDI SoundFont found on the system"),
    ] = None,
) -> None:
    """Generate folk tunes in ABC notation."""
    from abcgen.runtime.generate.generator import generate as run_generator
    from abcgen.runtime.generate.onnx_model import Model
    from abcgen.runtime.generate.params import GeneratorParams

    kind = _output_kind(out)
    if kind == "audio":
        from abcgen.runtime.formats.soundfonts import find_soundfont

        soundfont = find_soundfont(soundfont)
    paths = _paths(kind, out, num)
    if paths:  # before the work: a read-only file or folder costs nothing
        from abcgen.runtime.atomic import check_writable

        check_writable(*paths, inputs=[model])
    params = GeneratorParams(meter=meter, key=key, unit=unit, prefix=prefix, num=num,
                             temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                             max_chars=max_chars, form=form, part_bars=part_bars, free=free)
    if model == DEFAULT_MODEL and not model.is_file():
        raise AbcgenError(
            f"the shipped model is missing ({model}); pass --model FILE.onnx "
            "(abcgen-train, then abcgen-export, make one)"
        )
    tunes = run_generator(Model(model), params)
    for i, tune in enumerate(tunes, 1):
        if not tune.ended:
            typer.echo(f"warning: tune {i} reached --max-chars {max_chars} before its end",
                       err=True)
    titles = [f"abcgen seed {params.seed}" + (f" #{i}" if num > 1 else "")
              for i in range(1, num + 1)]
    _write(kind, paths, [t.text for t in tunes], titles,
           {"bpm": bpm, "program": program, "soundfont": soundfont})


def _output_kind(out: Path | None) -> str | None:
    if out is None:
        return None  # stdout: the writers stay unimported
    from abcgen.runtime.formats.outputs import output_kind

    return output_kind(out)


def _paths(kind: str | None, out: Path | None, num: int) -> list[Path]:
    """The files written: one .abc for all tunes, else one file per tune."""
    if out is None:
        return []
    if kind == "abc" or num == 1:
        return [out]
    from abcgen.runtime.formats.outputs import numbered

    return [numbered(out, i) for i in range(1, num + 1)]


def _write(kind: str | None, paths: list[Path], texts: list[str], titles: list[str],
           opts: dict) -> None:
    from abcgen.runtime.abc.writer import format_abc

    abc = [format_abc(text, index=i, title=title)
           for i, (text, title) in enumerate(zip(texts, titles, strict=True), 1)]
    if kind is None:
        typer.echo("\n".join(abc), nl=False)
        return
    if kind == "abc":
        from abcgen.runtime.atomic import write_atomic

        write_atomic(paths[0], "\n".join(abc))
        typer.echo(f"wrote {paths[0]}")  # as convert reports: on stdout
        return
    from abcgen.runtime.abc.parser import parse
    from abcgen.runtime.formats.outputs import write_tune

    for text, path in zip(abc, paths, strict=True):
        write_tune(kind, parse(text), path, **opts)
        typer.echo(f"wrote {path}")
