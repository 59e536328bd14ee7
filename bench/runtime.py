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
         weight bytes over the GFLOP/s and GB/s of one numpy matrix-vector product
         over a matrix of that size, measured just before, with 1 thread and with
         every core;
  torch  the same step in torch eager mode (when torch is installed).
Timings are the best of several repeats (a shared machine only ever adds time),
the median beside it. One-thread rows also give CPU time (thread_time), which
other processes on a busy machine barely disturb.
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


def timed(fn, steps: int = STEPS, repeats: int = REPEATS) -> tuple[float, float, float]:
    """(best wall, median wall, best CPU time of this thread) seconds per call."""
    for _ in range(steps // 10):
        fn()
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.thread_time()
        for _ in range(steps):
            fn()
        cpus.append((time.thread_time() - cpu) / steps)
        walls.append((time.perf_counter() - start) / steps)
    return min(walls), float(np.median(walls)), min(cpus)


# -- models ---------------------------------------------------------------------


def random_models(folder: Path) -> dict[str, tuple[Path, Path]]:
    import torch

    from abcgen.runtime.tune import BOS, EOS
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


MATVEC = """
import json, sys, time
import numpy as np
macs, cols = int(sys.argv[1]), 1024
w = np.random.default_rng(0).random((max(1, macs // cols), cols), dtype=np.float32)
x, out = np.ones(cols, np.float32), np.empty(w.shape[0], np.float32)
for _ in range(50):
    np.matmul(w, x, out=out)
clock = time.thread_time if sys.argv[2] == "cpu" else time.perf_counter
best = float("inf")
for _ in range(7):
    start = clock()
    for _ in range(200):
        np.matmul(w, x, out=out)
    best = min(best, (clock() - start) / 200)
print(json.dumps([w.size, best]))
"""


def floor_time(macs: int, threads: int) -> float:
    """Seconds for one numpy matvec over `macs` float32 weights (BLAS threads fixed)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", MATVEC, str(macs),
                           "cpu" if threads == 1 else "wall"],
                          capture_output=True, text=True, env=env, check=True)
    size, best = json.loads(done.stdout)
    return best * macs / size


def step_latency(name: str, onnx_path: Path, ckpt: Path | None) -> None:
    from abcgen.runtime.generator import Generator
    from abcgen.runtime.model import Model

    info = Model(onnx_path).info
    macs = step_macs(info)
    cores = os.cpu_count() or 1
    floors = {1: floor_time(macs, 1), cores: floor_time(macs, cores)}
    print(f"\n[step latency, batch 1, state carried] {name}: {info.layers} x LSTM "
          f"{info.hidden}, vocab {len(info.vocab)}: {2 * macs / 1e6:.2f} MFLOP, "
          f"{4 * macs / 1e6:.2f} MB of float32 weights per step")
    for threads, floor in floors.items():
        print(f"  floor, numpy matvec of that size on {threads} thread(s): {floor * 1e6:6.1f} us "
              f"({2 * macs / floor / 1e9:.1f} GFLOP/s, {4 * macs / floor / 1e9:.1f} GB/s)")
    rows = []
    for path in (onnx_path, onnx_path.with_stem(onnx_path.stem + "-int8")):
        if not path.is_file():
            continue
        kind = "int8 " if path != onnx_path else ""
        for threads in sorted({1, cores}):
            model = Model(path, threads=threads)
            rows.append((f"onnxruntime {kind}step", threads, *timed(model.stepper(1).step)))
            if not kind:
                rows.append(("  + sampling (generate_next)", threads,
                             *timed(next_char(Generator, model))))
    if ckpt is not None:
        rows += torch_step(ckpt)
    print(f"  {'':38s} {'best':>8s} {'median':>8s} {'cpu':>8s}   vs floor (1 thread / "
          f"{cores})")
    for label, threads, best, median, cpu in rows:
        cpu_text = f"{cpu * 1e6:8.1f}" if threads == 1 else " " * 8
        measure = cpu if threads == 1 else best
        print(f"  {label + f', {threads} thread(s)':38s} {best * 1e6:8.1f} {median * 1e6:8.1f} "
              f"{cpu_text} us {measure / floors[1]:5.2f} x / {measure / floors[cores]:4.2f} x")
    ort = min(cpu if t == 1 else best for label, t, best, _, cpu in rows
              if label == "onnxruntime step")
    torch_best = [cpu if t == 1 else best for label, t, best, _, cpu in rows
                  if label.startswith("torch")]
    if torch_best:
        print(f"  float onnxruntime step: {min(torch_best) / ort:.1f} x faster than torch eager")


def next_char(generator, model):
    """One generate_next per call, as `abcgen generate` runs it; a new tune after an end."""
    gen = None

    def call() -> None:
        nonlocal gen
        if gen is None or gen.is_done():
            gen = generator(model, max_chars=10**9, seed=0)
            gen.append("")
        gen.generate_next()

    return call


def torch_step(ckpt: Path) -> list[tuple]:
    try:
        import torch
    except ImportError:
        return []
    from abcgen.trainer.checkpoint import load_trained

    model = load_trained(ckpt).model
    default_threads = torch.get_num_threads()
    rows = []
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        tokens = torch.zeros((1, 1), dtype=torch.long)
        state = list(model.zero_state(1))

        def step(tokens=tokens, state=state):
            with torch.no_grad():
                _, state[0], state[1] = model(tokens, state[0], state[1])

        rows.append(("torch eager step", threads, *timed(step, steps=300)))
    torch.set_num_threads(default_threads)
    return rows


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
    from abcgen.runtime.generator import generate
    from abcgen.runtime.model import Model

    print(f"\n[throughput, {CHARS} chars per tune, sampling included] {name}")
    for threads in sorted({1, os.cpu_count() or 1}):
        model = Model(onnx_path, threads=threads)
        line = []
        for batch in (1, 8, 32, 128):
            mask = NoEnd(model.info, batch)
            start = time.perf_counter()
            generate(model, "M:6/8\nL:1/8\nK:D\n", num=batch, max_chars=CHARS, seed=0,
                     mask=mask)
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
        ratio = np.median([r[i] for r in theirs]) / np.median([r[i] for r in ours])
        print(f"  abcgen generate is {ratio:.1f} x faster from a cold start ({clock} time)")


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
    args = parser.parse_args()
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
