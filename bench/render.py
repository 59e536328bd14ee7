"""What sheet music and audio cost: time to render one tune to SVG and to WAV as a
ratio to generating it, and the install size of the render extra.

    python bench/render.py [--tunes N] [--runs R] [--model M.onnx]

In process, for N generated tunes (bar-exact, seeds 1..N): median time to
generate one tune with the shipped model, to engrave it (MusicXML -> verovio ->
SVG text) and to play it (MIDI -> FluidSynth -> WAV bytes), and the ratios.
Then the whole command from a cold start, R runs each, medians:
`abcgen generate --seed S -o t.abc` against `-o t.svg` and `-o t.wav`. Last,
the disk size of the Python packages that the render extra adds to the base
runtime (from their installed file lists), and of the Debian packages behind
it when dpkg knows them.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from packaging.requirements import Requirement

from abcgen.exported import DEFAULT_MODEL
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.abc.writer import format_abc
from abcgen.runtime.formats.audio import encode, render_midi
from abcgen.runtime.formats.midi import tune_to_midi
from abcgen.runtime.formats.soundfonts import find_soundfont
from abcgen.runtime.formats.svg import tune_to_svg
from abcgen.runtime.generate.generator import generate
from abcgen.runtime.generate.onnx_model import Model
from abcgen.runtime.generate.params import GeneratorParams

DEBIAN = ["libfluidsynth3", "fluidsynth", "timgm6mb-soundfont", "fluid-soundfont-gm"]


def clock(work) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def in_process(model_path: Path, tunes: int) -> None:
    model, font = Model(model_path), find_soundfont()
    gen, svg, wav, seconds = [], [], [], []
    for seed in range(1, tunes + 1):
        params = GeneratorParams(seed=seed, form="free")
        took, made = clock(lambda params=params: generate(model, params))
        gen.append(took)
        tune = parse(format_abc(made[0].text, index=1, title=f"seed {seed}"))
        svg.append(clock(lambda tune=tune: tune_to_svg(tune))[0])
        midi = tune_to_midi(tune)
        seconds.append(midi.length)
        wav.append(clock(lambda midi=midi: encode(render_midi(midi, font), ".wav"))[0])
    g, s, w = (statistics.median(x) for x in (gen, svg, wav))
    print(f"in process, {tunes} tunes, medians (SoundFont {font.name}):")
    print(f"  generate one tune  {g * 1e3:8.1f} ms")
    print(f"  engrave to SVG     {s * 1e3:8.1f} ms  = {s / g:.2f} x generating it")
    print(f"  play to WAV        {w * 1e3:8.1f} ms  = {w / g:.2f} x generating it "
          f"({statistics.median(seconds):.0f} s of music: {statistics.median(seconds) / w:.0f}x "
          "real time)")


def cold(runs: int) -> None:
    abcgen = Path(sys.executable).with_name("abcgen")
    times: dict[str, list[float]] = {".abc": [], ".svg": [], ".wav": []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            for suffix, took in times.items():
                command = [str(abcgen), "generate", "--seed", str(run + 1), "-o",
                           str(Path(tmp) / f"t{run}{suffix}")]
                took.append(clock(lambda command=command: subprocess.run(
                    command, check=True, capture_output=True, timeout=120))[0])
    base = statistics.median(times[".abc"])
    print(f"whole command from a cold start, {runs} runs, medians:")
    for suffix, took in times.items():
        t = statistics.median(took)
        print(f"  abcgen generate -o t{suffix:5} {t:6.2f} s  = {t / base:.2f} x -o t.abc")


def closure(names: list[str], extras: tuple[str, ...] = ()) -> set[str]:
    """Installed distributions needed by `names`, with `extras` of the first ones."""
    seen: set[str] = set()
    todo = [(n, extras) for n in names]
    while todo:
        name, wanted = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen and not wanted:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(key)
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in
                                         ("", *wanted)):
                if req.name.lower() != "abcgen":
                    todo.append((req.name, ()))
                else:
                    todo.append((req.name, tuple(req.extras)))
    return seen


def size(name: str) -> int:
    dist = metadata.distribution(name)
    return sum(f.size or 0 for f in dist.files or [])


def install_size() -> None:
    base = closure(["abcgen"])
    render = closure(["abcgen"], ("render",)) - base
    print("install size the render extra adds (Python packages, as installed):")
    total = 0
    for name in sorted(render):
        b = size(name)
        total += b
        print(f"  {name:18} {metadata.version(name):10} {b / 1e6:6.1f} MB")
    print(f"  {'total':29} {total / 1e6:6.1f} MB")
    if shutil.which("dpkg-query"):
        print("Debian packages (Installed-Size; the SoundFont is one of the two):")
        for package in DEBIAN:
            done = subprocess.run(["dpkg-query", "-W", "-f", "${Installed-Size} ${Status}",
                                   package], capture_output=True, text=True)
            if done.returncode == 0 and done.stdout.endswith("install ok installed"):
                kb = int(done.stdout.split()[0])
                print(f"  {package:20} {kb / 1e3:6.1f} MB")
            else:
                print(f"  {package:20} (not installed here)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--tunes", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    in_process(args.model, args.tunes)
    cold(args.runs)
    install_size()


if __name__ == "__main__":
    main()
