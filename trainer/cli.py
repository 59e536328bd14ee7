"""`abcgen-train`: build the corpus and train a model. This module only declares
options and shows progress; the work is done in corpus.py and train.py.

`abcgen-train [PATHS]... [OPTIONS]` is short for `abcgen-train fit ...`; under
torchrun every process runs the same command and process 0 does the talking.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from abcgen.runtime.abc.corpus import build_corpus, write_splits
from abcgen.runtime.cli import run_app
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.generate import MAX_SEED
from abcgen.trainer.config import (
    CPU_BATCH,
    GPU_BATCH,
    PRESETS,
    SYNC_EVERY,
    config_for,
    resume_config,
)

app = typer.Typer(
    help="Train the abcgen LSTM on ABC folk tunes. `abcgen-train [PATHS]` = `abcgen-train fit`.",
    add_completion=False,
    pretty_exceptions_enable=False,
)

Paths = Annotated[
    list[Path] | None,
    typer.Argument(
        help=".abc files or folders (searched recursively); default: the folk collections "
        "in music21's corpus",
        show_default=False,
    ),
]
def _opt(help_text: str = "", *names: str) -> Any:
    # None everywhere means "the preset's value", so options never mask a preset.
    return typer.Option(*names, help=help_text, show_default=False)


@app.command()
def fit(
    paths: Paths = None,
    preset: Annotated[str | None, _opt(f"{' | '.join(PRESETS)} (default: default)")] = None,
    out: Annotated[Path | None, _opt("run folder (default: runs/PRESET)")] = None,
    resume: Annotated[bool, _opt("continue the run in --out from its last.pt", "--resume")] = False,
    embed: Annotated[int | None, _opt("embedding width")] = None,
    hidden: Annotated[int | None, _opt("LSTM width")] = None,
    layers: Annotated[int | None, _opt("LSTM layers")] = None,
    dropout: Annotated[float | None, _opt("between layers and before the output")] = None,
    embed_dropout: Annotated[float | None, _opt("input positions dropped")] = None,
    weight_drop: Annotated[float | None, _opt("DropConnect on recurrent weights")] = None,
    seq_len: Annotated[int | None, _opt("BPTT window in characters")] = None,
    batch_size: Annotated[str | None, typer.Option(
        help=f"streams per process, or auto (the default preset's): {GPU_BATCH['batch_size']} "
        f"on CUDA with --lr {GPU_BATCH['lr']:g} unless given, {CPU_BATCH} elsewhere",
        metavar="<int|auto>", show_default=False)] = None,
    transpose: Annotated[int | None, _opt("augment: shift tunes by up to +-N semitones")] = None,
    lr: Annotated[float | None, _opt("peak learning rate")] = None,
    min_lr: Annotated[float | None, _opt("learning rate at the end of the cosine")] = None,
    warmup_steps: Annotated[int | None, _opt()] = None,
    weight_decay: Annotated[float | None, _opt("AdamW, on matrices")] = None,
    grad_clip: Annotated[float | None, _opt("gradient norm limit")] = None,
    ema: Annotated[
        float | None, _opt("decay of a moving average of the weights, kept when it validates "
                           "better (0: none)")
    ] = None,
    epochs: Annotated[int | None, _opt()] = None,
    patience: Annotated[int | None, _opt("stop after N epochs without a better valid")] = None,
    max_minutes: Annotated[
        float | None, _opt("training-time budget (all resumes together); then finish cleanly")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, max=MAX_SEED, show_default=False)] = None,
    device: Annotated[str | None, _opt("auto | cpu | cuda")] = None,
    threads: Annotated[int | None, _opt("CPU threads per process (0: automatic)")] = None,
    amp: Annotated[bool | None, _opt("bf16 autocast on CUDA", "--amp/--no-amp")] = None,
    checkpoint_every: Annotated[
        float | None, _opt(f"seconds between mid-epoch saves of last.pt (0: every "
                           f"{SYNC_EVERY} steps, when the loss is read)")
    ] = None,
    keep_chords: Annotated[bool | None, _opt("chord symbols", "--keep-chords/--no-chords")] = None,
    quiet: Annotated[bool, _opt("no progress display", "--quiet", "-q")] = False,
) -> None:
    """Train a model into a run folder: best.pt, last.pt, log.csv/json, curves.png."""
    from abcgen.trainer.train import train  # torch: the [train] extra

    options: dict[str, Any] = dict(
        embed=embed, hidden=hidden, layers=layers, dropout=dropout, embed_dropout=embed_dropout,
        weight_drop=weight_drop, seq_len=seq_len, batch_size=_batch_size(batch_size),
        transpose=transpose, lr=lr, min_lr=min_lr, warmup_steps=warmup_steps,
        weight_decay=weight_decay, grad_clip=grad_clip, ema=ema, epochs=epochs,
        patience=patience, max_minutes=max_minutes,
        seed=seed, device=device, threads=threads, amp=amp, checkpoint_every=checkpoint_every,
        keep_chords=keep_chords, paths=[str(p.resolve()) for p in paths] if paths else None,
    )
    out = out or Path("runs") / (preset or "default")
    if resume:
        cfg = resume_config(out, preset=preset, **options)
    else:
        cfg = config_for(preset or "default", **options)
    lead = os.environ.get("RANK", "0") == "0"
    console = Console(stderr=True, quiet=quiet or not lead)
    corpus_paths = [Path(p) for p in cfg.paths] or None
    corpus = build_corpus(corpus_paths, keep_chords=cfg.keep_chords, progress=lead and not quiet)
    console.print(
        f"corpus: {len(corpus.train)} train, {len(corpus.valid)} valid, {len(corpus.test)} test "
        f"tunes; preset {cfg.preset}; run folder {out}"
    )
    with _Display(console) as display:
        result = train(corpus, cfg, out, resume=resume, on_step=display.step,
                       on_epoch=display.epoch)
    m = result.metrics
    if lead:
        print(
            f"valid {m['valid_bpc']:.4f} bits/char, test {m['test_bpc']:.4f} bits/char "
            f"({m['params']:,} parameters, {m['epochs']:g} epochs, stopped by {m['stopped']}, "
            f"{m['chars_per_s'] or 0:,} chars/s on {m['device']}); best model: {out / 'best.pt'}"
        )


def _batch_size(value: str | None) -> int | str | None:
    if value is None or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise AbcgenError(f"--batch-size must be a whole number or auto, not {value!r}") from None


@app.command()
def corpus(
    paths: Paths = None,
    out: Annotated[Path, typer.Option(help="folder for train/valid/test.txt, report.json")] = Path(
        "data"
    ),
    keep_chords: Annotated[bool, typer.Option("--keep-chords/--no-chords")] = False,
) -> None:
    """Normalise and split the corpus into text files that any tool can read."""
    built = build_corpus(paths or None, keep_chords=keep_chords, progress=True)
    written = write_splits(built, out)
    for line in _summary(built.report):
        print(line)
    print("wrote " + ", ".join(str(p) for p in written.values()))


def _summary(report: dict[str, Any]) -> list[str]:
    """The corpus report in a few lines; report.json has every count."""
    tunes, splits, chars = report["tunes"], report["splits"], report["characters"]

    def counts(items: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(items.items(), key=lambda kv: -kv[1]))

    lines = [
        f"source: {report['source']}",
        f"tunes: {tunes['raw']} read, {tunes['kept']} kept, {tunes['dropped']} dropped",
        "dropped: " + (counts(report["dropped"]) or "none"),
        "collections: " + ", ".join(
            f"{name} {c['kept']}/{c['raw']}" for name, c in report["collections"].items()
        ),
        "splits: " + ", ".join(f"{k} {splits[k]} tunes ({chars[k]:,} chars)" for k in splits),
    ]
    if report["missing_paths"] or report["empty_folders"]:
        lines.append("not found or empty: " + ", ".join(
            report["missing_paths"] + report["empty_folders"]))
    return lines


class _Display:
    """A rich progress bar over all training steps, and one line per epoch."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[stats]}"),
            console=console,
        )
        self.task: Any = None

    def __enter__(self) -> _Display:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def step(self, info: dict[str, Any]) -> None:
        if self.task is None:
            self.task = self.progress.add_task("train", total=info["total_steps"], epoch="",
                                               stats="")
        eta = int(info["eta_s"])
        self.progress.update(
            self.task,
            total=info["total_steps"],
            completed=info["global_step"],
            epoch=f"{info['epoch']}/{info['epochs']}",
            stats=f"loss {info['loss']:.3f}  {info['bpc']:.3f} bits/char  "
            f"{info['chars_per_s']:,.0f} chars/s  ETA {eta // 3600}:{eta // 60 % 60:02d}:"
            f"{eta % 60:02d}",
        )

    def epoch(self, row: dict[str, Any]) -> None:
        self.progress.console.print(
            f"epoch {row['epoch']:g}: train {row['train_bpc']:.4f}, valid {row['valid_bpc']:.4f} "
            f"bits/char{'  (best)' if row['best'] else ''}"
            + (f"  stopped: {row['stopped']}" if row["stopped"] else "")
        )


_entry = run_app(app)


def main() -> None:
    """Entry point; a first argument that is not a subcommand means `fit`."""
    if len(sys.argv) < 2 or sys.argv[1] not in ("fit", "corpus", "--help"):
        sys.argv.insert(1, "fit")
    _entry()


if __name__ == "__main__":
    main()
