"""Runtime benchmarks, printed as ratios measured in one run on this machine.

    python bench/runtime.py [--model M.onnx [--checkpoint M.pt]] [--only step,throughput,cold]

Without --model, random-weight models of the `seed` and `default` preset shapes
(vocabulary of 61, the corpus's size) are built with torch and exported, float
and int8, to a temporary folder; their EOS is made unreachable so every run
generates exactly the characters asked for. Latency does not depend on the
weights' values.

Step latency is one model step at batch 1 with the state carried (the Stepper
on bound buffers), against:
  floor  the time this machine needs to stream the step's weights once: the
         model's multiply-adds (embedding folded into a table lookup) and float32
         weight bytes over the rate of one numpy matrix-vector product over a
         matrix of that size, with the same number of threads;
  torch  the same step in torch eager mode (when torch is installed).
Floor and steps are timed in alternating rounds in one process per thread
count; each figure is the best round (a shared machine only ever adds time),
the median beside it. With one thread the clock is CPU time (thread_time),
which other processes on a busy machine barely disturb; with more, wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPEATS, STEPS = 7, 1000
CHARS = 300  # per tune in the throughput and cold start runs (a typical tune's length)


# -- models ---------------------------------------------------------------------


def random_models(folder: Path) -> dict[str, tuple[Path, Path]]:
    import torch

    from abcgen.runtime.abc.normalise import BOS, EOS
    from abcgen.trainer import checkpoint
    from abcgen.trainer.export import export
    from abcgen.trainer.model import CharLSTM, ModelConfig

    vocab = [BOS, EOS, "\n", *(chr(c) for c in range(32, 32 + 58))]
    shapes = {"seed": dict(embed=512, hidden=256, layers=3),
              "default": dict(embed=64, hidden=512, layers=3)}
    out = {}
    for name, shape in shapes.items():
        torch.manual_seed(0)
        config = ModelConfig(vocab_size=len(vocab), **shape)
        model = CharLSTM(config)
        with torch.no_grad():
            model.head.bias[vocab.index(EOS)] = -1e4  # never ends: runs have a known length
        ckpt = folder / f"{name}.pt"
        checkpoint.save(ckpt, {"config": config.to_dict(), "vocab": vocab,
                               "model": model.state_dict(), "metrics": {}, "corpus": {}})
        export(ckpt, folder / f"{name}.onnx")
        export(ckpt, folder / f"{name}-int8.onnx", quantize="int8")
        out[name] = (folder / f"{name}.onnx", ckpt)
    return out


def step_macs(info) -> int:
    """Multiply-adds of one step at batch 1, layer 0's input being a table lookup."""
    h, layers, vocab = info.hidden, info.layers, len(info.vocab)
    return 4 * h * h + (layers - 1) * 8 * h * h + h * vocab


# -- sections -------------------------------------------------------------------


def step_latency(name: str, onnx_path: Path, ckpt: Path | None) -> None:
    from abcgen.runtime.generate.onnx_model import Model

    info = Model(onnx_path).info
    macs = step_macs(info)
    print(f"\n[step latency, batch 1, state carried] {name}: {info.layers} x LSTM "
          f"{info.hidden}, vocab {len(info.vocab)}: {2 * macs / 1e6:.2f} MFLOP, "
          f"{4 * macs / 1e6:.2f} MB of float32 weights per step")
    print(f"  {'':38s} {'best':>8s} {'median':>8s}   {'x floor':>7s}  (CPU time for 1 thread)")
    best_of: dict[str, list[float]] = {}
    for threads in sorted({1, os.cpu_count() or 1}):
        # BLAS threads are fixed when numpy loads, so each thread count gets its own process
        env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads),
               "OMP_NUM_THREADS": str(threads)}
        done = subprocess.run([sys.executable, __file__, "--step-worker", str(threads),
                               str(onnx_path), str(ckpt or "")],
                              capture_output=True, text=True, env=env)
        if done.returncode:
            raise SystemExit(done.stderr)
        rows = json.loads(done.stdout)
        floor = rows.pop("floor")[0]
        print(f"  floor: numpy matvec over the step's weights  {floor * 1e6:8.1f} us "
              f"({2 * macs / floor / 1e9:.1f} GFLOP/s, {4 * macs / floor / 1e9:.1f} GB/s), "
              f"{threads} thread(s)")
        for label, (best, median) in rows.items():
            print(f"  {label + f', {threads} thread(s)':38s} {best * 1e6:8.1f} "
                  f"{median * 1e6:8.1f} us {best / floor:6.2f}")
            best_of.setdefault(label, []).append(best)
    if "torch eager step" in best_of:
        ratio = min(best_of["torch eager step"]) / min(best_of["onnxruntime step"])
        print(f"  best onnxruntime step ({onnx_path.name}) is {ratio:.1f} x faster than "
              "the best torch eager step")


def step_worker(threads: int, onnx_path: Path, ckpt: Path | None) -> None:
    """Floor and steps timed in alternating rounds, so that a change in the machine's
    load between measurements shifts them all alike. Prints JSON {label: [best, median]}."""
    from abcgen.runtime.generate.generator import Generator
    from abcgen.runtime.generate.onnx_model import Model

    model = Model(onnx_path, threads=threads)
    cols, macs = 1024, step_macs(model.info)
    w = np.random.default_rng(0).random((macs // cols, cols), dtype=np.float32)
    x, out = np.ones(cols, np.float32), np.empty(w.shape[0], np.float32)
    calls = {"floor": (lambda: np.matmul(w, x, out=out), w.size / macs),
             "onnxruntime step": (model.stepper(1).step, 1),
             "  + sampling (generate_next)": (next_char(Generator, model), 1),
             "  + mask and copy (the default)": (next_char(
                 Generator, model, meter="6/8", key="D", free=False, copy=True,
                 max_chars=2000), 1)}
    int8 = onnx_path.with_stem(onnx_path.stem + "-int8")
    if int8.is_file():
        calls["onnxruntime int8 step"] = (Model(int8, threads=threads).stepper(1).step, 1)
    if ckpt is not None:
        calls["torch eager step"] = (torch_step(ckpt, threads), 1)
    clock = time.thread_time if threads == 1 else time.perf_counter
    times: dict[str, list[float]] = {label: [] for label in calls}
    for fn, _ in calls.values():
        for _ in range(100):
            fn()
    for _ in range(REPEATS):
        for label, (fn, scale) in calls.items():
            steps = 100 if label.startswith("torch") else STEPS // 2
            start = clock()
            for _ in range(steps):
                fn()
            times[label].append((clock() - start) / steps / scale)
    print(json.dumps({label: [min(t), float(np.median(t))] for label, t in times.items()}))


def next_char(generator, model, **asked):
    """One generate_next per call, as `abcgen generate` runs it; a new tune after an end.
    `asked`: GeneratorParams' options (the step alone by default: no mask, no copy model)."""
    from abcgen.runtime.generate.params import GeneratorParams

    params = GeneratorParams(**{"max_chars": 10**6, "seed": 0, "free": True, "copy": False,
                                **asked})
    gen = None

    def call() -> None:
        nonlocal gen
        if gen is None or gen.is_done():
            gen = generator(model, params)
            gen.append(params.prime)
        gen.generate_next()

    return call


def torch_step(ckpt: Path, threads: int):
    import torch

    from abcgen.trainer.checkpoint import load_trained

    torch.set_num_threads(threads)
    model = load_trained(ckpt).model
    tokens = torch.zeros((1, 1), dtype=torch.long)
    state = list(model.zero_state(1))

    def step() -> None:
        with torch.no_grad():
            _, state[0], state[1] = model(tokens, state[0], state[1])

    return step


class NoEnd:
    """Step mask that forbids EOS, so every tune runs to max_chars."""

    def __init__(self, info, batch: int) -> None:
        self.mask = np.ones((batch, len(info.vocab)), bool)
        self.mask[:, info.eos] = False

    def feed(self, texts) -> None:
        pass

    def allowed(self) -> np.ndarray:
        return self.mask

    def advance(self, tokens) -> None:
        pass


def throughput(name: str, onnx_path: Path) -> None:
    from abcgen.runtime.generate.generator import generate
    from abcgen.runtime.generate.onnx_model import Model
    from abcgen.runtime.generate.params import GeneratorParams

    print(f"\n[throughput, {CHARS} chars per tune, sampling included] {name}")
    for threads in sorted({1, os.cpu_count() or 1}):
        model = Model(onnx_path, threads=threads)
        line = []
        for batch in (1, 8, 32, 128):
            mask = NoEnd(model.info, batch)
            start = time.perf_counter()
            generate(model, GeneratorParams(meter="6/8", key="D", num=batch, max_chars=CHARS,
                                            seed=0), mask=mask)
            line.append(f"batch {batch}: {batch * CHARS / (time.perf_counter() - start):8,.0f}")
        print(f"  {threads} thread(s)  " + "  ".join(line) + "  chars/s")


TORCH_SAMPLER = """
import sys, torch
from abcgen.trainer.checkpoint import load_trained
torch.set_num_threads(1)  # batch 1: as abcgen does; a second thread only contends
trained = load_trained(sys.argv[1])
vocab, model = trained.vocab, trained.model
torch.manual_seed(1)
h, c = model.zero_state(1)
token, text = torch.tensor([[vocab.index("\\x02")]]), []
with torch.no_grad():
    while len(text) < int(sys.argv[2]):
        logits, h, c = model(token, h, c)
        token = torch.multinomial(torch.softmax(logits[0, -1], -1), 1)[None]
        if vocab[token.item()] == "\\x03":
            break
        text.append(vocab[token.item()])
print("".join(text))
"""


LAUNCH = """
import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - start
if os.waitstatus_to_exitcode(status):
    sys.exit(proc.stderr.read().decode())
print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024)
"""


def run_measured(cmd: list[str]) -> tuple[float, float, int]:
    """Wall and CPU seconds and peak resident memory (MB) of one process.

    A small launcher starts it: Linux counts a parent's memory at the moment of
    the fork in the child's peak, and this process holds torch.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([sys.executable, "-c", LAUNCH, *cmd], capture_output=True, text=True,
                          env=env)
    if done.returncode:
        raise SystemExit(f"{cmd[:6]} failed: {done.stderr}")
    wall, cpu, peak = done.stdout.split()
    return float(wall), float(cpu), int(peak)


def cold_start(name: str, onnx_path: Path, ckpt: Path | None, runs: int = 5) -> None:
    abcgen = [sys.executable, "-c", "from abcgen.runtime.cli import main; main()", "generate",
              "--model", str(onnx_path), "--seed", "1", "--max-chars", str(CHARS)]
    print(f"\n[cold start: process start to one tune of {CHARS} chars on stdout] {name}")
    run_measured(abcgen)  # warm the page cache and compile bytecode, as an installed copy has
    ours = [run_measured(abcgen) for _ in range(runs)]
    print(f"  abcgen generate          {_summary(ours)}")
    imports = [run_measured([sys.executable, "-c", "import numpy, onnxruntime"])
               for _ in range(runs)]
    print(f"  floor: python, numpy and onnxruntime imports alone  {_summary(imports)}")
    print(f"  abcgen generate takes {_ratio(imports, ours, 0):.2f} x the floor (wall time)")
    if ckpt is None:
        return
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    sampler = [sys.executable, "-c", TORCH_SAMPLER, str(ckpt), str(CHARS)]
    run_measured(sampler)
    theirs = [run_measured(sampler) for _ in range(runs)]
    print(f"  the same through torch   {_summary(theirs)}")
    for i, clock in ((0, "wall"), (1, "CPU")):
        print(f"  abcgen generate is {_ratio(ours, theirs, i):.1f} x faster from a cold start "
              f"({clock} time)")


def _ratio(base: list[tuple[float, float, int]], runs: list[tuple[float, float, int]],
           column: int) -> float:
    return float(np.median([r[column] for r in runs]) / np.median([r[column] for r in base]))


def _summary(runs: list[tuple[float, float, int]]) -> str:
    wall, cpu, peak = (np.array([r[i] for r in runs]) for i in range(3))
    return (f"wall {np.median(wall):6.3f} s median (best {wall.min():.3f}), CPU "
            f"{np.median(cpu):6.3f} s median, peak memory {peak.max()} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="an exported .onnx (default: random shapes)")
    parser.add_argument("--checkpoint", type=Path, help="its checkpoint, for the torch rows")
    parser.add_argument("--only", default="step,throughput,cold",
                        help="comma-separated sections: step, throughput, cold")
    parser.add_argument("--step-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step_worker:
        threads, onnx_path, ckpt = args.step_worker
        step_worker(int(threads), Path(onnx_path), Path(ckpt) if ckpt else None)
        return
    sections = set(args.only.split(","))
    print(f"{os.cpu_count()} CPU(s); load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        models = ({args.model.stem: (args.model, args.checkpoint)} if args.model
                  else random_models(Path(tmp)))
        for name, (onnx_path, ckpt) in models.items():
            if "step" in sections:
                step_latency(name, onnx_path, ckpt)
            if "throughput" in sections:
                throughput(name, onnx_path)
            if "cold" in sections:
                cold_start(name, onnx_path, ckpt)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
