"""abcgen-live on a real JACK server (dummy driver), measured in one run.

    python bench/live_jitter.py [--model M.onnx | --abc FILE] [--tunes 3] [--bpm 120]
                                [--period 128] [--no-jack-realtime] [DAEMON OPTIONS]

Options it does not know go to abcgen-live (e.g. --no-realtime for its sender,
--max-chars 400).

The daemon plays `--tunes` tunes to a receiver in another process. Printed:
- onset jitter: each note_on's arrival (JACK's clock, relative to its tune's
  first note) against the tune's own score at --bpm (the ABC log of what was
  played, rendered by the same code), std and worst, also in JACK periods;
- first-note latency: from the composer being ready (model loaded; the
  daemon's own log) and from launching the process (receiver side);
- CPU use while playing (percent of one core) of the sender process and of
  the composer process, and their resident memory at the end.
Without --model and --abc, the shipped model is used if present, else the
first tunes of O'Neill's 1850 from music21's corpus.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from abcgen.exported import DEFAULT_MODEL
from abcgen.runtime.abc.corpus import default_corpus_paths, raw_tunes
from abcgen.runtime.abc.normalise import split_tunebook
from abcgen.runtime.live.performance import Performance, Style
from abcgen.runtime.live.playback import whole_note_seconds

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from jack import JackServer, Receiver

TICK = os.sysconf("SC_CLK_TCK")


def corpus_tunes(count: int, folder: Path) -> Path:
    texts = itertools.islice(raw_tunes([default_corpus_paths()[0]]), count)  # O'Neill's
    out = folder / "tunes.abc"
    out.write_text("\n".join(texts))
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):  # our own memory, not JACK's mapped segments
            return int(line.split()[1]) / 1024
    return 0.0


def composer(pid: int) -> list[int]:
    """The daemon's composer process (not multiprocessing's resource tracker)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(p) for p in path.read_text().split()] if path.exists() else []
    return [k for k in kids if b"resource_tracker" not in Path(f"/proc/{k}/cmdline").read_bytes()]


def intended(played: str, bpm: float) -> list[list[float]]:
    """Seconds of each note_on from its tune's first, per tune, as rendered for playing."""
    spw = whole_note_seconds(bpm)
    tunes = []
    for text in split_tunebook(played):
        performance = Performance(Style(bpm=bpm, humanise=0))
        items = performance.feed(text) + performance.close()
        ons = sorted(pos for pos, d in items
                     if isinstance(d, bytes) and d[0] & 0xF0 == 0x90 and d[2] > 0)
        if ons:
            tunes.append([(p - ons[0]) * spw for p in ons])
    return tunes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--abc", type=Path)
    parser.add_argument("--tunes", type=int, default=3)
    parser.add_argument("--bpm", type=float, default=120.0)
    parser.add_argument("--period", type=int, default=128)
    parser.add_argument("--jack-realtime", action=argparse.BooleanOptionalAction, default=None)
    args, daemon_options = parser.parse_known_args()

    with tempfile.TemporaryDirectory() as tmp, \
            JackServer(period=args.period, realtime=args.jack_realtime) as server:
        folder = Path(tmp)
        if args.model is None and args.abc is None:
            if DEFAULT_MODEL.is_file():
                args.model = DEFAULT_MODEL
            else:
                args.abc = corpus_tunes(args.tunes, folder)
        source = ["--model", str(args.model)] if args.model else ["--abc", str(args.abc)]
        receiver = Receiver(server, folder / "received.txt")
        log, daemon_log = folder / "played.abc", folder / "live.log"
        cmd = [sys.executable, "-m", "abcgen.runtime.cli.live", "--api", "jack", *source,
               "--tunes", str(args.tunes), "--bpm", str(args.bpm), "--humanise", "0",
               "--gap", "1", "--port", receiver.port, "--abc-log", str(log), "--seed", "1",
               *daemon_options]
        launched = time.monotonic()
        with daemon_log.open("w") as out:
            daemon = subprocess.Popen(cmd, env=server.env, stdout=out, stderr=subprocess.STDOUT)
        first_seen = None
        samples: dict[int, list[tuple[float, float, float]]] = {}
        while daemon.poll() is None:
            now = time.monotonic()
            if first_seen is None and any(d[0] & 0xF0 == 0x90 for _, d in receiver.messages()):
                first_seen = now
            for pid in [daemon.pid, *composer(daemon.pid)] if first_seen else []:
                with contextlib.suppress(OSError, IndexError):  # gone meanwhile
                    samples.setdefault(pid, []).append((now, cpu_seconds(pid), rss_mb(pid)))
            time.sleep(0.005 if first_seen is None else 0.5)
        receiver.stop()
        if daemon.returncode:
            sys.exit(f"abcgen-live failed ({daemon.returncode}):\n{daemon_log.read_text()}")
        received = receiver.messages()
        xruns = server.xruns()
        args.daemon_options = daemon_options
        report(args, received, xruns, log.read_text(), daemon_log.read_text(),
               first_seen - launched, samples, daemon.pid, server.realtime)


def report(args, received, xruns, played, daemon_log, first_after, samples, sender, rt) -> None:
    ons = [t for t, d in received if d[0] & 0xF0 == 0x90 and d[2] > 0]
    errors, start = [], 0
    for tune in intended(played, args.bpm):
        got = ons[start:start + len(tune)]
        if len(got) < len(tune):
            break
        errors += [(g - got[0]) - w for g, w in zip(got, tune, strict=True)]
        start += len(tune)
    period_ms = args.period / 48000 * 1e3
    std, worst = statistics.pstdev(errors) * 1e3, max(map(abs, errors)) * 1e3
    source = args.model or args.abc
    print(f"source: {source} {' '.join(args.daemon_options)}; {args.tunes} tunes at "
          f"{args.bpm:g} bpm; JACK period "
          f"{period_ms:.2f} ms, realtime {rt}; xruns during the run: {xruns}")
    print(f"jitter over {len(errors)} onsets: std {std:.2f} ms ({std / period_ms:.2f} periods), "
          f"max {worst:.2f} ms ({worst / period_ms:.2f} periods)")
    ready = re.search(r"first note (\d+) ms after start", daemon_log)
    print(f"first note: {ready[1] if ready else '?'} ms after the composer was ready; "
          f"{first_after * 1e3:.0f} ms after launching the process")
    for role, pid in (("sender", sender), *(("composer", p) for p in samples if p != sender)):
        rows = samples.get(pid, [])
        if len(rows) >= 2:
            cpu = (rows[-1][1] - rows[0][1]) / (rows[-1][0] - rows[0][0]) * 100
            print(f"{role}: {cpu:.1f}% of one core while playing, {max(r[2] for r in rows):.1f} MB "
                  "anonymous memory (heap; JACK's shared segments not counted)")


if __name__ == "__main__":
    main()
