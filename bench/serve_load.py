"""`abcgen serve` under load on loopback, against generation in process, in one run.

    python bench/serve_load.py [--requests R] [--rounds N] [--soak S] [--model M.onnx]

A real server (`abcgen serve --port 0`, its own archive in a scratch folder,
workers one per core) against generation in this process with the same model,
in N rounds, each measuring in process and then the server (a shared machine's
load then weighs on both alike); the medians of the rounds' ratios are reported.
1. One client composing R seeded jigs one after another: p50 latency against the
   in-process median for the same jigs (budget 1.5x).
2. 8 and 32 clients composing at once, seeds left to chance as on the page (R
   requests in all): tunes/s against in-process batches of 8 and 32 (budget
   0.8x at 8); p50/p95 latency, and the batch sizes the server formed.
3. Memory: S more composes from 8 clients, mixed with list, tune and check
   requests; the server's resident memory (VmRSS) after the first tenth and at
   the end.
Rendering (score, audio) is not part of a compose and is not timed here.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from abcgen.exported import DEFAULT_MODEL
from abcgen.runtime.generate.generator import generate
from abcgen.runtime.generate.onnx_model import Model
from abcgen.runtime.generate.params import GeneratorParams

JIG = {"meter": "6/8", "key": "D"}


def in_process(model: Model, n: int, requests: int, seed: int) -> tuple[float, float]:
    """(tunes/s, median seconds a tune) generating `requests` jigs in batches of n."""
    times, made = [], 0
    for i in range(max(requests // n, 1)):
        start = time.perf_counter()
        made += len(generate(model, GeneratorParams(**JIG, num=n, seed=seed + i)))
        times.append(time.perf_counter() - start)
    return made / sum(times), statistics.median(times)


def post(url: str, body: dict | bytes, kind: str = "application/json") -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": kind})
    with urllib.request.urlopen(request, timeout=600) as response:
        return response.read()


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=600) as response:
        return response.read()


def clients(n: int, total: int, work) -> tuple[float, list[float]]:
    """`total` calls of work(i) spread over n threads; (wall seconds, latencies)."""
    latencies: list[float] = []
    counter = iter(range(total))
    lock = threading.Lock()

    def loop() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            start = time.perf_counter()
            work(i)
            with lock:
                latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=loop) for _ in range(n)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=64, help="composes a round, per level")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--soak", type=int, default=2000)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--workers", type=int, default=None, help="the server's (default: its own)")
    args = ap.parse_args()

    model = Model(args.model)
    generate(model, GeneratorParams(**JIG, seed=0))  # warm up
    with tempfile.TemporaryDirectory() as folder:
        server = subprocess.Popen(
            [sys.executable, "-c", "from abcgen.runtime.cli import main; main()", "serve",
             "--port", "0", "--db", f"{folder}/a.sqlite", "--model", str(args.model),
             *(["--workers", str(args.workers)] if args.workers else [])],
            stdout=subprocess.PIPE, text=True)
        try:
            url = re.search(r"open (http://\S+)/", server.stdout.readline()).group(1)
            compose = f"{url}/api/compose"
            post(compose, {**JIG, "seed": 0})  # warm up
            # Each round measures in process and then the server, so that the load of a
            # shared machine weighs on both alike; the ratios' medians are reported.
            for n in (1, 8, 32):
                ratios, lines = [], []
                for r in range(args.rounds):
                    seed = 1000 * r + 1
                    rate, median = in_process(model, n, args.requests, seed)
                    before = json.loads(get(f"{url}/api/info"))["batches"]
                    if n == 1:  # the same seeded jigs, one after another
                        wall, lat = clients(1, args.requests,
                                            lambda i, s=seed: post(compose, {**JIG, "seed": s + i}))
                        ratios.append(statistics.median(lat) / median)
                    else:  # seeds left to chance, as the page does
                        wall, lat = clients(n, args.requests, lambda i: post(compose, JIG))
                        ratios.append(args.requests / wall / rate)
                    after = json.loads(get(f"{url}/api/info"))["batches"]
                    sizes = {int(k): v - before.get(k, 0) for k, v in after.items()
                             if v > before.get(k, 0)}
                    lines.append(f"  round {r + 1}: in process {rate:.2f} tunes/s "
                                 f"({median * 1000:.0f} ms a batch of {n}); server "
                                 f"{args.requests / wall:.2f} tunes/s, "
                                 f"p50 {p(lat, 50) * 1000:.0f} ms, p95 {p(lat, 95) * 1000:.0f} ms; "
                                 f"batches (tunes: count) {sizes}")
                what = ("p50 latency / in-process median, budget <= 1.5" if n == 1 else
                        f"tunes/s / in-process batches of {n}" + (", budget >= 0.8" if n == 8
                                                                   else ""))
                print(f"{n} client(s): {statistics.median(ratios):.2f} ({what}; rounds "
                      f"{', '.join(f'{x:.2f}' for x in ratios)})")
                print("\n".join(lines))

            sample = b"X:1\nT:t\nM:6/8\nL:1/8\nK:D\n|:dAF DFA|dfe dBA:|\n"
            mixed = [lambda i: post(compose, JIG), lambda i: get(f"{url}/api/tunes?q=seed"),
                     lambda i: get(f"{url}/api/tunes/{i % 50 + 1}"),
                     lambda i: post(f"{url}/api/check", sample, "text/plain")]
            tenth = max(args.soak // 10, 1)
            clients(8, tenth, lambda i: mixed[i % 4](i))
            early = rss_mb(server.pid)
            wall, _ = clients(8, args.soak - tenth, lambda i: mixed[i % 4](i))
            late = rss_mb(server.pid)
            print(f"memory: {early:.0f} MB after {tenth} requests, {late:.0f} MB after "
                  f"{args.soak} ({late - early:+.0f} MB; {args.soak - tenth} requests in "
                  f"{wall:.0f} s)")
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
