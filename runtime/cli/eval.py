"""`abcgen eval MODEL`: bits/char on the test split and statistics of generated
tunes, with the constraint mask in each form asked for and without it, their
forms and structure beside the test split's; a JSON report, PNG plots, short tables, and
report.html with a few of the tunes as sheet music and sound."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from abcgen.runtime.cli import app
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.generate import MAX_SEED


@app.command("eval")
def eval_model(
    model: Annotated[Path, typer.Argument(help="Exported .onnx model.")],
    num: Annotated[int, typer.Option(min=1, max=10000, help="Tunes per run.")] = 100,
    temperatures: Annotated[
        str, typer.Option(help="Comma-separated sampling temperatures, one run pair each.")
    ] = "1.0",
    forms: Annotated[
        str, typer.Option(help="Comma-separated forms of the masked runs (auto, AABB, AB, "
                          "free...), one run each, beside one run without the mask.")
    ] = "auto",
    part_bars: Annotated[
        int | None, typer.Option(help="Bars in each part of the forms given.",
                                 show_default="8")
    ] = None,
    meter: Annotated[
        str | None, typer.Option(help="Prime every tune with this meter (e.g. 6/8), to "
                                 "compare one meter's forms with the test split's.")
    ] = None,
    primes: Annotated[
        str | None, typer.Option(help="'test': tune i of every run starts from the M:, L: "
                                 "and K: lines of a test tune (a seeded draw), so that runs "
                                 "and the test split are compared on the same headers.")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Seed of the generation runs.")
                    ] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.json, "
                                      "report.html, the PNG plots and the tunes.")] = Path("eval"),
    data: Annotated[
        Path | None,
        typer.Option(help="Folder with train.txt and test.txt (abcgen-train corpus --out); "
                     "default: the default corpus, split as DESIGN.md says."),
    ] = None,
    max_chars: Annotated[int, typer.Option(min=50, help="Longest tune, in characters.")] = 2000,
    abc2midi: Annotated[
        bool, typer.Option(help="Also check every tune with abc2midi (when installed).")
    ] = True,
    plots: Annotated[bool, typer.Option(help="Write PNG plots (needs matplotlib).")] = True,
    scores: Annotated[
        int,
        typer.Option(min=0, max=3, help="Tunes of each run shown in report.html as sheet music "
                     "with audio (needs the render extra and a SoundFont; 0: none)."),
    ] = 2,
    soundfont: Annotated[
        Path | None,
        typer.Option(help="SoundFont (.sf2/.sf3) for the tunes' audio.", envvar="ABCGEN_SOUNDFONT",
                     show_default="a General MIDI SoundFont found on the system"),
    ] = None,
) -> None:
    """Evaluate a model: test bits/char, valid rates, structure, originality, statistics."""
    from rich.console import Console
    from rich.table import Table

    from abcgen.runtime.abc.corpus import load_splits
    from abcgen.runtime.atomic import write_atomic
    from abcgen.runtime.constrain.forms import AUTO, FREE, form_choice
    from abcgen.runtime.evaluate.page import TUNES, render_examples, result_tables, write_page
    from abcgen.runtime.evaluate.report import evaluate
    from abcgen.runtime.generate.prime import prime_text
    from abcgen.runtime.generate.sampling import SamplingOptions

    try:
        temps = [float(t) for t in temperatures.split(",") if t.strip()]
    except ValueError:
        raise AbcgenError(f"--temperatures {temperatures!r}: give numbers like 0.8,1.0") from None
    if not temps:
        raise AbcgenError("--temperatures needs at least one number, e.g. 0.8,1.0")
    for t in temps:
        try:
            SamplingOptions(temperature=t)
        except AbcgenError as err:
            raise AbcgenError(f"--temperatures: {err}") from None
    words = [w.strip() for w in forms.split(",") if w.strip()]
    if not words:
        raise AbcgenError("--forms needs at least one form, e.g. auto or AABB")
    choices = [form_choice(w, None if w.lower() in (AUTO, FREE) else part_bars) for w in words]
    prime_text(meter)  # a bad --meter, named before the long work
    if primes is not None and primes != "test":
        raise AbcgenError(f"--primes {primes!r}: the only source of primes is 'test'")
    if primes is not None and meter is not None:
        raise AbcgenError("give --meter or --primes, not both")
    if not model.is_file():
        raise AbcgenError(f"model file not found: {model}")
    if scores:
        soundfont = _renderer_ready(soundfont)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AbcgenError(f"cannot create {out}: {err.strerror or err}") from None
    console = Console(stderr=True)
    use_abc2midi = abc2midi and shutil.which("abc2midi") is not None
    if abc2midi and not use_abc2midi:
        console.print("abc2midi is not installed: tunes are checked by our parser only")
    with console.status("reading the corpus"):
        splits = load_splits(data)
    with console.status(f"scoring {len(splits['test'])} test tunes, generating "
                        f"{(len(choices) + 1) * num * len(temps)} tunes"):
        report, hists, form_hists = evaluate(
            model, splits, num=num, temperatures=temps, forms=choices, meter=meter,
            primes=primes, seed=seed, max_chars=max_chars, abc2midi=use_abc2midi)
    write_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")
    written = [out / "report.json"]
    plotted = []
    if plots:
        from abcgen.runtime.evaluate.plots import (
            plot_bar_errors,
            plot_forms,
            plot_histograms,
            plot_structure,
        )

        plot_histograms(hists, out / "histograms.png")
        plot_forms(form_hists, out / "forms.png")
        plot_bar_errors(report, out / "bar_errors.png")
        plot_structure(report, out / "structure.png")
        plotted = ["histograms.png", "forms.png", "bar_errors.png", "structure.png"]
    examples = []
    if scores:
        with console.status(f"engraving and playing {scores * len(report['runs'])} tunes"):
            examples = render_examples(report, out, per_run=scores, soundfont=soundfont)
    tables = result_tables(report)
    write_page(report, out / "report.html", tables=tables, plots=plotted, examples=examples)
    written += [out / p for p in plotted] + [out / TUNES] * bool(examples) + [out / "report.html"]

    for t in tables:
        table = Table(title=t.title)
        for i, column in enumerate(t.headers):
            table.add_column(column, justify="left" if i < t.labels else "right")
        for row in t.rows:
            table.add_row(*row)
        Console().print(table)
        console.print(t.legend)
    console.print("wrote " + ", ".join(str(p) for p in written))


def _renderer_ready(soundfont: Path | None) -> Path:
    """The SoundFont for the tunes' audio, once verovio and FluidSynth are known to be
    there: checked before the long evaluation, not after it."""
    from abcgen.runtime.evaluate.page import AUDIO
    from abcgen.runtime.formats.audio import check_audio
    from abcgen.runtime.formats.extra import require
    from abcgen.runtime.formats.soundfonts import find_soundfont

    try:
        require("verovio", "sheet music")
        check_audio(Path(f"tune{AUDIO}"))
        return find_soundfont(soundfont)
    except AbcgenError as err:
        raise AbcgenError(f"{err} (or leave the tunes out with --scores 0)") from None
