"""`abcgen eval MODEL`: bits/char on the test split and statistics of generated
tunes, with the constraint mask in each form asked for and without it, their
forms beside the test split's; a JSON report, PNG plots and short tables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from abcgen.runtime.cli import app
from abcgen.runtime.errors import AbcgenError


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
    seed: Annotated[int, typer.Option(help="Seed of the generation runs.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.json and the "
                                      "PNG plots.")] = Path("eval"),
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
) -> None:
    """Evaluate a model: test bits/char, valid rates, structure, originality, statistics."""
    from rich.console import Console
    from rich.table import Table

    from abcgen.runtime.abc.corpus import load_splits
    from abcgen.runtime.atomic import write_atomic
    from abcgen.runtime.evaluate.report import evaluate
    from abcgen.runtime.generate.forms import AUTO, FREE, form_choice
    from abcgen.runtime.generate.prime import prime_text

    try:
        temps = [float(t) for t in temperatures.split(",") if t.strip()]
    except ValueError:
        raise AbcgenError(f"--temperatures {temperatures!r}: give numbers like 0.8,1.0") from None
    if not temps or any(t <= 0 for t in temps):
        raise AbcgenError("--temperatures must be positive numbers, e.g. 0.8,1.0")
    words = [w.strip() for w in forms.split(",") if w.strip()]
    if not words:
        raise AbcgenError("--forms needs at least one form, e.g. auto or AABB")
    choices = [form_choice(w, None if w.lower() in (AUTO, FREE) else part_bars) for w in words]
    prime = prime_text(meter) if meter is not None else ""
    if not model.is_file():
        raise AbcgenError(f"model file not found: {model}")
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
            model, splits, num=num, temperatures=temps, forms=choices, prime=prime, seed=seed,
            max_chars=max_chars, abc2midi=use_abc2midi)
    write_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")
    written = [out / "report.json"]
    if plots:
        from abcgen.runtime.evaluate.plots import plot_bar_errors, plot_forms, plot_histograms

        plot_histograms(hists, out / "histograms.png")
        plot_forms(form_hists, out / "forms.png")
        plot_bar_errors(report, out / "bar_errors.png")
        written += [out / "histograms.png", out / "forms.png", out / "bar_errors.png"]

    bpc = report["test_bpc"]
    table = Table(title=f"{model.name}: test {bpc:.3f} bits/char" if bpc is not None
                  else model.name)
    for column in ("run", "valid", "abc2midi", "exact bars", "AABB", "final", "copied",
                   "chars"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for run in report["runs"]:
        table.add_row(
            run["name"], _pct(run["valid"]), _pct(run["abc2midi_valid"]),
            _pct(run["exact_interior_bars"]), _pct(run["aabb"]), _pct(run["final_bar"]),
            _pct(run["copied_4_bars"]), f"{run['chars']['median']:.0f}",
        )
    Console().print(table)
    console.print("exact bars: interior bars of the meter's length; final: ends with a final "
                  "bar line; copied: 4+ bars in a row from one training tune; chars: median")
    Console().print(_form_table(report))
    console.print("as asked: the form and part length asked for; tonic: the tune's last note; "
                  "cadences: parts ending on the tonic (the first of several also the fifth)")
    Console().print(_meter_table(report))
    console.print("wrote " + ", ".join(str(p) for p in written))


def _form_table(report: dict):
    from rich.table import Table

    table = Table(title="forms, beside the test split's")
    for column in ("run", "as asked", "tonic", "cadences", "commonest forms (bars a part)"):
        table.add_column(column, justify="left" if column[0] in "rc" and column != "cadences"
                         else "right")
    rows = [("test split", report["test_forms"])] + [(r["name"], r["forms"])
                                                     for r in report["runs"]]
    for name, forms in rows:
        common = ", ".join(f"{k} {v:.0%}" for k, v in list(forms["forms"].items())[:4])
        table.add_row(name, _pct(forms["as_asked"]), _pct(forms["ends_on_tonic"]),
                      _pct(forms["parts_keep_cadence"]), common)
    return table


def _meter_table(report: dict, least: int = 20):
    """Per meter (with `least` tunes in the test split), the test split's form shares
    beside each run's."""
    from rich.table import Table

    table = Table(title=f"forms by meter (meters with {least}+ test tunes)")
    for column in ("meter", "run", "tunes", "repeated", "one part", "8-bar parts", "tonic",
                   "commonest form"):
        table.add_column(column, justify="left" if column in ("meter", "run", "commonest form")
                         else "right")
    sources = [("test split", report["test_forms"])] + [
        (r["name"], r["forms"]) for r in report["runs"]]
    for meter, shape in report["test_forms"]["by_meter"].items():
        if shape["tunes"] < least:
            continue
        for name, forms in sources:
            row = forms["by_meter"].get(meter)
            if row is None:
                continue
            top = next(iter(row["forms"].items()), ("-", 0))
            table.add_row(meter, name, str(row["tunes"]), _pct(row["repeated"]),
                          _pct(row["one_part"]), _pct(row["eight_bar_parts"]),
                          _pct(row["ends_on_tonic"]), f"{top[0]} {top[1]:.0%}")
    return table


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"
