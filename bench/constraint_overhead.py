"""Step-time overhead of the constraint mask, as ratios measured in one run.

    python bench/constraint_overhead.py [MODEL.onnx] [--tunes 40] [--seed 0] [--follow]
                                        [--form free|auto|AABB...]

Generates tunes one at a time (batch 1, the live and plugin case) and times,
per step, the model call plus sampling (the step) and the mask's work as the
generator asks for it (`accepts` on the pick, `allowed` only when the pick is
refused, `advance` after the draw), with the form asked for (`--form`, default
free: the bar rules only). The rules' mask cache starts cold, as in a fresh
process; the first tunes warm it. Without a model
argument it uses the shipped model, or (when that is missing and torch is
installed) a randomly initialised model of the seed shape (3 x LSTM 256).
An untrained model writes noise that no trained model would, so --follow
(on by default for the random model) feeds real corpus tunes instead of the
draws: the same work per step, on text like a trained model's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from abcgen.exported import DEFAULT_MODEL
from abcgen.runtime.constrain.forms import PENDING, form_choice
from abcgen.runtime.constrain.mask import Constraint
from abcgen.runtime.constrain.rules import Rules
from abcgen.runtime.generate.onnx_model import Model
from abcgen.runtime.generate.sampling import SamplingOptions, sample_checked


def random_seed_shape_model(folder: Path) -> Path:
    """An untrained model of the seed shape, exported with abcgen's exporter."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tiny_models import exported

    return exported(folder, embed=512, hidden=256, layers=3, scale=3.0)


def corpus_tunes(count: int) -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tiny_models import real_tunes

    return list(real_tunes(count))


def run(model: Model, tunes: int, seed: int, follow: list[str] | None, form: str = "free",
        max_chars: int = 2000):
    """Per-step seconds of (model + sampling) and of the mask's work, as the generator
    draws: the pick is checked first, and a whole mask is built only when it is refused."""
    rules = Rules(model.info.vocab)
    choice = form_choice(form)
    key = choice.spec.key if choice.spec else PENDING if choice.auto else ""
    draws = np.random.default_rng(seed).random(tunes)  # what `auto` draws a form with
    rng = np.random.default_rng(seed)
    options = SamplingOptions()
    bos = model.info.vocab[model.info.bos]
    steps, masks = [], []
    index = {ch: i for i, ch in enumerate(model.info.vocab)}
    spent = [0.0, 0]  # seconds in the mask's calls during the draw, whole masks built

    def accepts(ids: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        ok = np.array([rules.accepts(constraint.state, int(ids[0]))])
        spent[0] += time.perf_counter() - start
        return ok

    def allowed(refused: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        mask = constraint.allowed()[None]
        spent[0] += time.perf_counter() - start
        spent[1] += 1
        return mask

    for n in range(tunes):
        script = None if follow is None else [index[ch] for ch in follow[n % len(follow)]]
        stepper = model.stepper(1)
        stepper.tokens[0, 0] = model.info.bos
        constraint = Constraint(rules, steer_at=max_chars - 200, form=key, draw=float(draws[n]))
        constraint.feed(bos)
        for k in range(max_chars):
            t0 = time.perf_counter()
            logits = stepper.step()
            spent[0] = 0.0
            token = int(sample_checked(logits, rng, options, accepts, allowed)[0])
            t2 = time.perf_counter()
            if script is not None:
                token = script[k] if k < len(script) else model.info.eos
            constraint.advance(token)
            t3 = time.perf_counter()
            steps.append((t2 - t0) - spent[0])
            masks.append(spent[0] + (t3 - t2))
            if token == model.info.eos or constraint.lost:  # (a tune the rules refuse)
                break
            stepper.tokens[0, 0] = token
    return steps, masks, spent[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", type=Path)
    parser.add_argument("--tunes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--follow", action="store_true", help="feed corpus tunes, not draws")
    parser.add_argument("--form", default="free", help="free (bar rules only), auto, AABB...")
    args = parser.parse_args()
    random_model = args.model is None and not DEFAULT_MODEL.is_file()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.model or (random_seed_shape_model(Path(tmp)) if random_model
                              else DEFAULT_MODEL)
        model = Model(path)
    follow = corpus_tunes(args.tunes) if args.follow or random_model else None
    steps, masks, built = run(model, args.tunes, args.seed, follow, args.form)
    step, mask = statistics.median(steps), statistics.median(masks)
    what = "following corpus tunes" if follow else "sampling"
    print(f"model: {path} ({len(steps)} steps, {args.tunes} tunes at batch 1, {what}, "
          f"form {args.form})")
    print(f"median step (model + sampling): {step * 1e6:.1f} us")
    print(f"median mask work (accepts, allowed when refused, advance): {mask * 1e6:.1f} us")
    print(f"median overhead: {mask / step:.1%} of a step")
    print(f"mean overhead: {statistics.mean(masks) / statistics.mean(steps):.1%} of a step "
          f"(whole masks asked for: {built / len(steps):.1%} of steps; cold cache at start)")


if __name__ == "__main__":
    main()
