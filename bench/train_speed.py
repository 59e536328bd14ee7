"""Training speed per epoch, with the real training loop: characters per second
counting the training steps only, and counting everything the epoch does (data,
steps, validation, checkpoints, logs), here and, with --baseline, for another
revision of the trainer in the same run.

    python bench/train_speed.py [--baseline main] [--preset tiny] [--epochs 3]
        [--transpose 1] [--batch-size N] [--tunes 1805] [--device cpu|cuda]
        [--threads 1] [--max-minutes M] [--target 1.20] [--repeat 1]

Each revision trains in its own process on the first --tunes tunes of O'Neill's
1850 (music21's corpus); --tunes 0 takes the whole default corpus. The baseline
is `git archive REF` unpacked as a temporary `abcgen` package, so it runs the old
code unchanged. Both are timed the same way, from the hooks: steps are the time
between progress reports within an epoch (its first report, which also covers
the epoch's data, is left out), the whole epoch the time between epoch reports
(the first epoch also holds the setup: tokens, model, precomputed
transpositions). Rates are given by the wall clock and by this process's CPU
time: on a shared CPU the wall clock varies with the load, the CPU time much
less; on a GPU only the wall clock means anything. Printed: one row per epoch,
the mean of the epochs after the first, and this tree / baseline ratios.
--target prints when a run first validated at or below that many bits/char,
counted from the call to train() (on a GPU: the time to 1.20).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def worker(args: argparse.Namespace) -> None:
    """One training run; prints its epochs as JSON on the last line of stdout."""
    from abcgen.runtime.abc.corpus import build_corpus, default_corpus_paths
    from abcgen.trainer import train as training

    config_for = getattr(training, "config_for", None)  # where revisions before config.py kept it
    if config_for is None:
        from abcgen.trainer.config import config_for

    if args.tunes:
        corpus = build_corpus([default_corpus_paths()[0]])
        corpus = dataclasses.replace(corpus, train=corpus.train[: args.tunes])
    else:
        corpus = build_corpus(None)
    overrides = dict(epochs=args.epochs, patience=args.epochs, transpose=args.transpose,
                     device=args.device, threads=args.threads, max_minutes=args.max_minutes)
    if args.batch_size:
        overrides["batch_size"] = args.batch_size
    cfg = config_for(args.preset, **overrides)
    per_step = cfg.batch_size * cfg.seq_len

    def now() -> dict[str, float]:
        return {name: clock() for name, clock in CLOCKS.items()}

    reports: list[tuple[dict, dict]] = []
    epochs: list[tuple[dict, dict]] = []
    with tempfile.TemporaryDirectory() as tmp:
        start = now()
        result = training.train(corpus, cfg, Path(tmp) / "run",
                                on_step=lambda info: reports.append((now(), info)),
                                on_epoch=lambda row: epochs.append((now(), row)))
    rows, before, last_step = [], start, 0
    for at, row in epochs:
        chars = (row["step"] - last_step) * per_step
        steps = [(a, b) for a, b in itertools.pairwise(reports)
                 if last_step < a[1]["global_step"] and b[1]["global_step"] <= row["step"]
                 and a[1]["epoch"] == b[1]["epoch"]]
        step_chars = sum(b["global_step"] - a["global_step"] for (_, a), (_, b) in steps)
        rows.append(dict(
            epoch=row["epoch"], chars=chars,
            valid=min(row["valid_bpc"], row.get("ema_valid_bpc", row["valid_bpc"])),
            since_start=at["wall"] - start["wall"],
            **{f"steps_{c}": step_chars * per_step / (sum(b[0][c] - a[0][c] for a, b in steps)
                                                        or float("nan")) for c in CLOCKS},
            **{f"epoch_{c}": chars / (at[c] - before[c]) for c in CLOCKS},
        ))
        before, last_step = at, row["step"]
    print(json.dumps(dict(rows=rows, device=result.metrics["device"], batch=cfg.batch_size,
                          train_chars=result.metrics["train_chars"])))


def baseline_tree(ref: str, into: Path) -> Path:
    """`ref`'s runtime/ and trainer/ as an importable `abcgen` package under `into`."""
    package = into / "abcgen"
    package.mkdir()
    (package / "__init__.py").write_text("")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "runtime", "trainer",
                              "exported", "plugins"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(package)], input=archive, check=True)
    return into


def measure(pythonpath: Path | None) -> dict:
    env = None if pythonpath is None else {**os.environ, "PYTHONPATH": str(pythonpath)}
    proc = subprocess.run([sys.executable, __file__, "--worker", *sys.argv[1:]],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


COLUMNS = ("steps_wall", "epoch_wall", "steps_cpu", "epoch_cpu")


def mean_after_first(rows: list[dict]) -> dict[str, float]:
    """Characters over seconds of the epochs after the first (all of them if only one)."""
    later = rows[1:] or rows
    chars = sum(r["chars"] for r in later)
    return {c: chars / sum(r["chars"] / r[c] for r in later) for c in COLUMNS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", help="git revision to measure too (e.g. main)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--transpose", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=0, help="0: the preset's")
    parser.add_argument("--tunes", type=int, default=1805, help="0: the whole default corpus")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-minutes", type=float, default=0.0)
    parser.add_argument("--target", type=float, default=1.20)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the fastest counts")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    tries: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        trees: dict[str, Path | None] = {"this tree": None}
        if args.baseline:
            trees = {args.baseline: baseline_tree(args.baseline, Path(tmp)), **trees}
        for _ in range(args.repeat):  # alternating, so that a busy spell slows both alike
            for name, tree in trees.items():
                tries.setdefault(name, []).append(measure(tree))
    results = {name: max(runs, key=lambda r: mean_after_first(r["rows"])["epoch_cpu"])
               for name, runs in tries.items()}

    first = next(iter(results.values()))
    print(f"preset {args.preset}, transpose {args.transpose}, {first['train_chars']:,} train "
          f"chars, {first['device']}, threads {args.threads}, fastest of {args.repeat}")
    print("chars/s:" + " " * 22 + "steps (wall)  epoch (wall)   steps (cpu)   epoch (cpu)")
    means = {}
    for name, r in results.items():
        label = f"{name} (batch {r['batch']})"
        for row in r["rows"]:
            print(f"{label:>22} {row['epoch']:>7g}"
                  + "".join(f"{row[c]:>14,.0f}" for c in COLUMNS) + f"   valid {row['valid']:.4f}")
        mean = means[name] = mean_after_first(r["rows"])
        print(f"{label:>22} {'2nd on':>7}" + "".join(f"{mean[c]:>14,.0f}" for c in COLUMNS)
              + f"   epoch/steps (wall) {mean['epoch_wall'] / mean['steps_wall']:.2f}")
        reached = next((row for row in r["rows"] if row["valid"] <= args.target), None)
        print(f"{label:>22}: " + (
            f"valid {args.target:.2f} bits/char at epoch {reached['epoch']:g}, "
            f"{reached['since_start']:.1f} s from the start" if reached else
            f"valid {args.target:.2f} bits/char not reached"))
    if args.baseline:
        ratios = [means["this tree"][c] / means[args.baseline][c] for c in COLUMNS]
        print(f"{'this tree / ' + args.baseline:>30}" + "".join(f"{x:>13.2f}x" for x in ratios))


if __name__ == "__main__":
    main()
