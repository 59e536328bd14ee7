"""Time from plugin start to the opened score, with MuseScore 3 headless.

    python bench/plugin_open.py [--model M.onnx] [--runs N] [--bars B]

Installs the plugin into a temporary folder and runs "Generate tune…" N times
(`mscore3 -p`, QT_QPA_PLATFORM=offscreen). Prints medians of: the plugin's own
clock from its start to the score opened by readScore, the part of it spent in
abcgen, the whole MuseScore process, and, measured in the same run as
baselines, a bare `abcgen plugin generate` process and MuseScore running an
empty plugin; then the ratios between them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from abcgen.exported import DEFAULT_MODEL

EMPTY_PLUGIN = """import QtQuick 2.0
import MuseScore 3.0
MuseScore {
    menuPath: "Plugins.empty"
    requiresScore: false
    onRun: Qt.quit()
}
"""


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env, timeout=300)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bars", type=int, default=16)
    args = ap.parse_args()
    mscore = shutil.which("mscore3")
    abcgen = Path(sys.executable).with_name("abcgen")
    if mscore is None or not args.model.is_file():
        sys.exit("needs mscore3 (apt musescore3) and a model (--model)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        out = root / "out"
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(root),
               "XDG_RUNTIME_DIR": str(root)}
        subprocess.run([str(abcgen), "plugin", "install", "--dir", str(root / "plugins"),
                        "--out-dir", str(out), "--model", str(args.model), "--no-enable"],
                       check=True, capture_output=True, env=env)
        folder = root / "plugins" / "abcgen"
        config = json.loads((folder / "abcgen-config.json").read_text())
        request = {"meter": "6/8", "key": "D", "bars": args.bars, "seed": 1}
        config["generate"] = request
        (folder / "abcgen-config.json").write_text(json.dumps(config))
        (root / "empty.qml").write_text(EMPTY_PLUGIN)
        (root / "request.json").write_text(json.dumps({**request, "model": str(args.model)}))

        plugin, inside, abcgen_part, bare, empty = [], [], [], [], []
        for _ in range(args.runs):
            plugin.append(timed([mscore, "-p", str(folder / "abcgen-generate.qml")], env))
            report = json.loads((out / "abcgen-plugin-last.json").read_text())
            if not report.get("ok"):
                sys.exit(f"the plugin failed: {report.get('error')}")
            inside.append(report["total_ms"] / 1000)
            abcgen_part.append(report["abcgen_ms"] / 1000)
            bare.append(timed([str(abcgen), "plugin", "generate", "--request",
                               str(root / "request.json"), "--out-dir", str(out)], env))
            empty.append(timed([mscore, "-p", str(root / "empty.qml")], env))

    med = statistics.median
    print(f"runs: {args.runs}, model: {args.model}, bars: {args.bars}")
    print(f"plugin start -> score opened (plugin's clock): {med(inside) * 1000:7.0f} ms")
    print(f"  of which abcgen (process, model, tune, files): {med(abcgen_part) * 1000:5.0f} ms")
    print(f"whole mscore3 -p process:                      {med(plugin) * 1000:7.0f} ms")
    print(f"bare `abcgen plugin generate` process:          {med(bare) * 1000:7.0f} ms")
    print(f"mscore3 -p with an empty plugin:                {med(empty) * 1000:7.0f} ms")
    print(f"ratio opened / bare abcgen:  {med(inside) / med(bare):.2f}")
    print(f"ratio opened / whole process: {med(inside) / med(plugin):.2f}")


if __name__ == "__main__":
    main()
