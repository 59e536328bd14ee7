"""Parse the whole default corpus, or the held-out tunebooks: speed, linearity,
and agreement with abc2midi.

    python bench/parse_corpus.py [--limit N] [--raw | --heldout] [--no-abc2midi] [--examples K]

Prints characters per second of CPU time (the machine may be shared) for
whole-tune parsing and for one-character feeding, the time ratio of 8n to n
copies of a body (linear: about 8), and the share of tunes whose notes agree
with abc2midi in written order and in played order (repeats, endings and
parts), with the kinds of disagreement and a few examples of each.
Tunes are the normaliser's canonical text unless --raw (the corpus files as
written) or --heldout (tests/data/heldout: real tunebooks not in the corpus,
as written; see its SOURCES.md).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from pathlib import Path

from abcgen.runtime.abc import repeats
from abcgen.runtime.abc.corpus import build_corpus, raw_tunes
from abcgen.runtime.abc.parser import Parser, parse
from abcgen.runtime.evaluate.abc2midi import comparable, first_difference, run_abc2midi
from abcgen.runtime.formats.outputs import read_tunes

HELD_OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "heldout"


def corpus_tunes(raw: bool) -> list[str]:
    if not raw:
        corpus = build_corpus()
        return corpus.train + corpus.valid + corpus.test
    return list(raw_tunes())


def held_out_tunes() -> list[str]:
    return [text for path in sorted(HELD_OUT.glob("*.abc")) for _, text in read_tunes(path)]


def speed(tunes: list[str]) -> None:
    chars = sum(map(len, tunes))
    start = time.process_time()
    for text in tunes:
        parse(text)
    whole = time.process_time() - start
    sample = tunes[:: max(1, len(tunes) // 300)]
    sample_chars = sum(map(len, sample))
    start = time.process_time()
    for text in sample:
        parser = Parser()
        for ch in text:
            parser.feed(ch)
        parser.close()
    by_char = time.process_time() - start
    print(f"tunes: {len(tunes)}, characters: {chars}")
    print(f"parse whole tunes: {chars / whole:,.0f} chars/s ({whole:.2f} s)")
    rate = sample_chars / by_char
    print(f"feed one character at a time ({len(sample)} tunes): {rate:,.0f} chars/s")
    body = max(tunes, key=len)
    header, _, music = body.partition("K:")
    key_line, _, music = music.partition("\n")
    times = []
    for copies in (4, 32):
        text = header + "K:" + key_line + "\n" + music * copies
        start = time.process_time()
        parse(text)
        times.append(time.process_time() - start)
    ratio = times[1] / times[0]
    print(f"linearity: time(8n)/time(n) = {ratio:.1f} (n: 4 copies of the longest body)")


def agreement(tunes: list[str], examples: int) -> None:
    counts: Counter[str] = Counter()
    kinds: dict[str, Counter[str]] = {"written": Counter(), "played": Counter()}
    shown: dict[str, list[str]] = defaultdict(list)
    for text in tunes:
        tune = parse(text)
        written = run_abc2midi(text, written_order=True).notes
        played = run_abc2midi(text).notes
        results = {
            "written": first_difference(comparable(tune.notes), written),
            "played": first_difference(comparable(repeats.expand(tune)), played),
        }
        for view, diff in results.items():
            if diff is None:
                counts[view] += 1
                continue
            kind = diff.split()[0].rstrip(":")
            if view == "played" and results["written"] is None:
                kind = "played order only: " + kind
            kinds[view][kind] += 1
            if len(shown[view + kind]) < examples:
                shown[view + kind].append(f"{diff}\n{text}")
    for view in ("written", "played"):
        print(f"agree {view} order: {counts[view]}/{len(tunes)} = {counts[view] / len(tunes):.2%}")
        for kind, n in kinds[view].most_common():
            print(f"  {kind}: {n}")
            for example in shown[view + kind]:
                print("    " + example.replace("\n", "\n    "))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="first N tunes only")
    source = ap.add_mutually_exclusive_group()
    source.add_argument("--raw", action="store_true", help="raw tunes, not the normaliser's text")
    source.add_argument("--heldout", action="store_true", help="the held-out tunebooks")
    ap.add_argument("--no-abc2midi", action="store_true", help="speed only")
    ap.add_argument("--examples", type=int, default=2, help="examples per kind of disagreement")
    args = ap.parse_args()
    tunes = held_out_tunes() if args.heldout else corpus_tunes(args.raw)
    if args.limit:
        tunes = tunes[: args.limit]
    speed(tunes)
    if not args.no_abc2midi:
        agreement(tunes, args.examples)


if __name__ == "__main__":
    main()
