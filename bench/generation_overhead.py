"""What the constraint mask and the copy model add to a generation step, as ratios
measured in one run.

    python bench/generation_overhead.py [MODEL.onnx] [--tunes 30] [--form auto]

Generates the same tunes (same request, same seeds) at batch 1, the live and
plugin case, through the real `Generator` in four set-ups, taking turns tune by
tune so that a busy machine slows them alike:
  bare   no mask, no copy model (the model step and sampling);
  mask   the constraint mask (bar rules, and the form asked for, `--form`);
  copy   the copy model alone;
  both   the mask and the copy model, as `abcgen generate` runs by default.
Each figure is CPU time per generated character (thread_time: other processes
barely disturb it); the ratios are to `bare`. The mask's cache starts cold, as
in a fresh process. The budget (shared/DESIGN.md): mask and copy model together
at most 15 % over bare.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from abcgen.exported import DEFAULT_MODEL
from abcgen.runtime.generate.generator import Generator
from abcgen.runtime.generate.onnx_model import Model
from abcgen.runtime.generate.params import GeneratorParams

SETUPS = {"bare": dict(free=True, copy=False), "mask": dict(copy=False),
          "copy": dict(free=True), "both": {}}
HEADERS = [("6/8", "D"), ("4/4", "G"), ("3/4", "Ador"), ("2/2", "Edor"), ("2/4", "A")]


def per_char(model: Model, params: GeneratorParams) -> tuple[float, int]:
    """(CPU seconds, characters) to generate the tune `params` asks for."""
    gen = Generator(model, params)
    start = time.thread_time()
    gen.append(params.prime)
    while not gen.is_done():
        gen.generate_next()
    return time.thread_time() - start, len(gen.texts()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--tunes", type=int, default=30)
    parser.add_argument("--form", default="auto", help="the mask's form: auto, free, AABB...")
    args = parser.parse_args()
    model = Model(args.model)
    if model.info.copy is None:
        raise SystemExit(f"{args.model} has no copy gate (abcgen-export MODEL.onnx -o OUT.onnx "
                         "fits one)")
    seconds = {name: [] for name in SETUPS}
    chars = {name: 0 for name in SETUPS}
    for seed in range(args.tunes):
        meter, key = HEADERS[seed % len(HEADERS)]
        for name, setup in SETUPS.items():
            form = "free" if setup.get("free") else args.form
            params = GeneratorParams(meter=meter, key=key, seed=seed, form=form, **setup)
            took, n = per_char(model, params)
            seconds[name].append(took)
            chars[name] += n
    bare = sum(seconds["bare"]) / chars["bare"]
    print(f"model: {args.model}; {args.tunes} tunes at batch 1 each, mask form {args.form}")
    for name in SETUPS:
        each = sum(seconds[name]) / chars[name]
        print(f"  {name:5s} {each * 1e6:7.1f} us per character  {each / bare:5.3f}x bare")
    tunes = [s / b for s, b in zip(seconds["both"], seconds["bare"], strict=True)]
    print(f"  both/bare per tune: median {statistics.median(tunes):.3f}x "
          "(tunes differ in length between set-ups: the per-character figures are the ones "
          "to read)")


if __name__ == "__main__":
    main()
