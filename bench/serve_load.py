"""`abcgen serve` under load on loopback, against generation in process, in one run.

    python bench/serve_load.py [--requests R] [--soak S] [--model M.onnx]

1. In process (this process, the same model): one jig at a time, seeds 1..R
   (median seconds a tune, tunes/s), and batches of 8 and 32 (tunes/s).
2. A real server (`abcgen serve --port 0`, its own archive in a scratch
   folder, workers one per core): one client composing the same R seeded jigs
   one after another (p50/p95 latency, and p50 against the in-process median:
   budget 1.5x), then 8 and 32 clients composing at once, seeds left to chance as
   on the page (R requests in all at each level: tunes/s against in-process
   batches of the same size, budget 0.8x at 8; p50/p95 latency).
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
from abcgen.runtime.generate.model import Model
from abcgen.runtime.generate.params import GeneratorParams

JIG = {"meter": "6/8", "key": "D"}


def in_process(model_path: Path, requests: int) -> dict[str, float]:
    model = Model(model_path)
    generate(model, GeneratorParams(**JIG, seed=0))  # warm up
    times = []
    for seed in range(1, requests + 1):
        start = time.perf_counter()
        generate(model, GeneratorParams(**JIG, seed=seed))
        times.append(time.perf_counter() - start)
    out = {"median_s": statistics.median(times), "tunes_per_s_1": requests / sum(times)}
    for batch in (8, 32):
        start, made = time.perf_counter(), 0
        for seed in range(max(2, requests // batch)):
            made += len(generate(model, GeneratorParams(**JIG, num=batch, seed=seed)))
        out[f"tunes_per_s_{batch}"] = made / (time.perf_counter() - start)
    return out


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
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--soak", type=int, default=2000)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--workers", type=int, default=None, help="the server's (default: its own)")
    args = ap.parse_args()

    base = in_process(args.model, args.requests)
    print(f"in process: {base['median_s'] * 1000:.0f} ms a tune (median), tunes/s "
          f"{base['tunes_per_s_1']:.2f} one at a time, {base['tunes_per_s_8']:.2f} in batches "
          f"of 8, {base['tunes_per_s_32']:.2f} in batches of 32")

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

            wall, lat = clients(1, args.requests, lambda i: post(compose, {**JIG, "seed": i + 1}))
            ratio = statistics.median(lat) / base["median_s"]
            print(f"1 client: {args.requests / wall:.2f} tunes/s, p50 {p(lat, 50) * 1000:.0f} ms, "
                  f"p95 {p(lat, 95) * 1000:.0f} ms; p50 / in-process median {ratio:.2f} "
                  f"(budget <= 1.5)")
            for n in (8, 32):
                before = json.loads(get(f"{url}/api/info"))["batches"]
                wall, lat = clients(n, args.requests, lambda i: post(compose, JIG))
                after = json.loads(get(f"{url}/api/info"))["batches"]
                sizes = {k: v - before.get(k, 0) for k, v in after.items() if v > before.get(k, 0)}
                print(f"  batches of (tunes: count) {sizes}")
                rate = args.requests / wall
                print(f"{n} clients: {rate:.2f} tunes/s, p50 {p(lat, 50) * 1000:.0f} ms, "
                      f"p95 {p(lat, 95) * 1000:.0f} ms; / in-process batches of {n} "
                      f"{rate / base[f'tunes_per_s_{n}']:.2f}" + (" (budget >= 0.8)" if n == 8
                                                                    else ""))

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
