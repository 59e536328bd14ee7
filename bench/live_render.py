"""Cost of live rendering per bar line, early and late in a long tune, as ratios in one run.

    python bench/live_render.py [--bars 200]

`Performance` renders the tune at every bar line. Rendering the whole tune so
far each time costs more at every bar (quadratic in the tune's length); from
the latest bar line already played it costs the same at bar 10 and at bar 190.
The script streams a tune of --bars bars (no repeats, and the same bars inside
one long repeat) character by character, both ways, and prints the time per
bar line over the first and the last 20 bar lines, and their ratio.
"""

from __future__ import annotations

import argparse
import time

from abcgen.runtime.live import performance
from abcgen.runtime.live.performance import Performance, Style

BARS = ["GABc dBAG", "FGAB cAFD", "E2 GE DEGA", "B2 AG G4"]


def per_bar(text: str) -> list[float]:
    """Seconds spent feeding each bar, character by character (one of them renders)."""
    perf, times, spent = Performance(Style()), [], 0.0
    for ch in text:
        t = time.perf_counter()
        perf.feed(ch)
        spent += time.perf_counter() - t
        if ch == "|":
            times.append(spent)
            spent = 0.0
    perf.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=200)
    args = parser.parse_args()
    body = "|".join(BARS * (args.bars // len(BARS)))
    tunes = {"through-composed": f"M:4/4\nL:1/8\nK:G\n{body}|]\n",
             "one long repeat": f"M:4/4\nL:1/8\nK:G\n|:{body}:|\n"}
    whole_tune = performance._Part.latest
    for name, text in tunes.items():
        for way in ("from a bar line", "whole tune"):
            performance._Part.latest = (whole_tune if way == "from a bar line"
                                        else classmethod(lambda _, tune, *a: (tune, 0)))
            times = per_bar(text)[:-2]  # the last ones: the final bar line, the `:|`
            early, late = (sum(part) / len(part) * 1e3 for part in (times[:20], times[-20:]))
            print(f"{name:17} {way:15}: {early:6.2f} ms per bar line at the start, "
                  f"{late:6.2f} ms at the end ({late / early:4.1f}x)")
    performance._Part.latest = whole_tune


if __name__ == "__main__":
    main()
