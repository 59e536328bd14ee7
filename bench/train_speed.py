"""Training speed of the presets, measured in one run with the real training loop.

    python bench/train_speed.py [--seconds 30] [--presets tiny,seed,default]
                                [--device cpu] [--threads 1]

Each preset trains for --seconds on O'Neill's 1850 (music21's corpus). Printed
per preset: parameters, characters per second of wall time and of this
process's CPU time (the machine may be shared; with --threads 1 the CPU rate is
per core), and the speed relative to the first preset. The first step is
left out (warm-up).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from abcgen.runtime.abc.corpus import build_corpus, default_corpus_paths
from abcgen.trainer.train import config_for, train


def measure(corpus, preset: str, seconds: float, device: str, threads: int) -> dict:
    marks: list[tuple[float, float, int]] = []

    def on_step(info: dict) -> None:
        marks.append((time.perf_counter(), time.process_time(), info["global_step"]))

    cfg = config_for(preset, max_minutes=seconds / 60, device=device, threads=threads,
                     checkpoint_every=1e9)
    with tempfile.TemporaryDirectory() as tmp:
        result = train(corpus, cfg, Path(tmp) / "run", on_step=on_step)
    if len(marks) < 2:
        raise SystemExit(f"{preset}: only {len(marks)} steps in {seconds} s; raise --seconds")
    (w0, c0, s0), (w1, c1, s1) = marks[1], marks[-1]
    chars = (s1 - s0) * cfg.batch_size * cfg.seq_len
    return dict(params=result.metrics["params"], steps=s1 - s0, wall=chars / (w1 - w0),
                cpu=chars / (c1 - c0), device=result.metrics["device"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--presets", default="tiny,seed,default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    corpus = build_corpus([default_corpus_paths()[0]])
    rows = {p: measure(corpus, p, args.seconds, args.device, args.threads)
            for p in args.presets.split(",")}
    first = next(iter(rows.values()))
    print(f"device {first['device']}, threads {args.threads}, {args.seconds:g} s per preset")
    print(f"{'preset':8} {'params':>10} {'steps':>6} {'chars/s wall':>13} {'chars/s cpu':>12} "
          f"{'x first':>8}")
    for name, r in rows.items():
        print(f"{name:8} {r['params']:>10,} {r['steps']:>6} {r['wall']:>13,.0f} {r['cpu']:>12,.0f} "
              f"{r['wall'] / first['wall']:>8.2f}")


if __name__ == "__main__":
    main()
