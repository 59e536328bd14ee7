"""`abcgen eval MODEL`: bits/char on the test split and statistics of generated
tunes, with and without the constraint mask; a JSON report, PNG plots and a
short table."""

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

    try:
        temps = [float(t) for t in temperatures.split(",") if t.strip()]
    except ValueError:
        raise AbcgenError(f"--temperatures {temperatures!r}: give numbers like 0.8,1.0") from None
    if not temps or not all(0 < t < float("inf") for t in temps):  # also refuses nan
        raise AbcgenError("--temperatures must be positive numbers, e.g. 0.8,1.0")
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
                        f"{2 * num * len(temps)} tunes"):
        report, hists = evaluate(model, splits, num=num, temperatures=temps, seed=seed,
                                 max_chars=max_chars, abc2midi=use_abc2midi)
    write_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")
    written = [out / "report.json"]
    if plots:
        from abcgen.runtime.evaluate.plots import plot_bar_errors, plot_histograms

        plot_histograms(hists, out / "histograms.png")
        plot_bar_errors(report, out / "bar_errors.png")
        written += [out / "histograms.png", out / "bar_errors.png"]

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
    console.print("wrote " + ", ".join(str(p) for p in written))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"
