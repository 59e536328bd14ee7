"""The normaliser's one repair of a tune's bars: a line that ends where a bar is
exactly full, with no bar line there, gets one (tunebooks often leave it out at
a line break).

Time is counted in floats of unit lengths, with the lengths and tuplet table of
fields.py; a bar whose length cannot be known for sure (an unreadable length,
a multi-bar rest, a broken rhythm or tuplet running over the bar line) is left
alone.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from fractions import Fraction

from abcgen.runtime.abc.meter import note_length, parse_meter, tuplet_q

Token = tuple[str, str]  # (kind, text), as normalise.py tokenises a body line
_NOTE = re.compile(r"[A-Ga-g][,']*\d*(?:/+\d*)?")  # a chord's first note (its length)
_LENGTH_TAIL = re.compile(r"\d*/*\d*$")


@functools.lru_cache(maxsize=4096)
def _length(text: str) -> float | None:
    """A note's length in units (None for a zero length); floats are exact enough
    here: bar sums of small fractions never come within 1e-9 of a wrong total."""
    length = note_length(_LENGTH_TAIL.search(text)[0])
    return None if length is None else float(length)


@functools.lru_cache(maxsize=4096)
def _chord_length(text: str) -> float | None:
    inner, tail = text[1:].split("]")
    first, outer = _length(_NOTE.search(inner)[0]), _length(tail)
    return None if first is None or outer is None else first * outer


class _BarClock:
    """Time since the last bar line, or None once it cannot be known for sure."""

    def __init__(self, meter: str, unit: str) -> None:
        self.meter, self.unit = meter, float(Fraction(unit))
        self.elapsed: float | None = 0.0
        self.last: float | None = None  # the previous note's length, for `>`
        self.next_factor: float | None = None  # pending from `>` / `<`
        self.tuplet: tuple[float, int] | None = None  # factor, notes left

    def field(self, text: str) -> None:
        if text[0] == "M":
            self.meter = text[2:]
        elif text[0] == "L":
            self.unit = float(Fraction(text[2:]))

    def bar(self) -> None:
        pending = self.next_factor is not None or self.tuplet is not None
        self.elapsed = None if pending else 0.0
        self.last = None

    def add(self, length: float | None) -> None:
        if length is None or self.elapsed is None:
            self.elapsed = None
            return
        d = length * self.unit
        if self.tuplet:
            factor, left = self.tuplet
            d *= factor
            self.tuplet = (factor, left - 1) if left > 1 else None
        if self.next_factor is not None:
            d *= self.next_factor
            self.next_factor = None
        self.elapsed += d
        self.last = d

    def broken(self, text: str) -> None:
        short = 0.5 ** len(text)
        first, second = (2 - short, short) if text[0] == ">" else (short, 2 - short)
        if self.last is None or self.elapsed is None or self.next_factor is not None:
            self.elapsed = None
            return
        self.elapsed += self.last * (first - 1)
        self.next_factor = second

    def start_tuplet(self, text: str) -> None:
        parts = [*text[1:].split(":"), "", ""]
        p = int(parts[0])
        q = int(parts[1]) if parts[1] else tuplet_q(p, parse_meter(self.meter))
        r = int(parts[2]) if parts[2] else p
        if p < 2 or p > 9 or q == 0 or r == 0:
            self.elapsed = None
            return
        self.tuplet = (q / p, r)

    def full(self) -> bool:
        meter = parse_meter(self.meter)
        length = meter.bar_length if meter is not None else None
        return (
            length is not None
            and self.elapsed is not None
            and abs(self.elapsed - length) < 1e-9
            and self.next_factor is None
            and self.tuplet is None
        )

    def feed(self, kind: str, text: str) -> None:
        if kind in ("note", "rest"):
            self.add(_length(text))
        elif kind == "bar":
            self.bar()
        elif kind == "chord":
            self.add(_chord_length(text))
        elif kind == "broken":
            self.broken(text)
        elif kind == "tuplet":
            self.start_tuplet(text)
        elif kind in ("field", "fieldline"):
            self.field(text.strip("[]"))
        elif kind in ("mrest", "ending"):
            self.elapsed = None


def repair_bars(
    lines: list[list[Token]], meter: str, unit: str, bar: str, steps: Counter[str]
) -> None:
    """Add a bar line at a line end where the bar is exactly full and none follows."""
    clock = _BarClock(meter, unit)
    music = [i for i, line in enumerate(lines) if line[0][0] != "fieldline"]
    nexts = dict(itertools.pairwise(music))
    for i, line in enumerate(lines):
        for kind, text in line:
            clock.feed(kind, text)
        nxt = nexts.get(i)
        if nxt is None or line[-1][0] == "bar" or lines[nxt][0][0] == "bar":
            continue
        if clock.full():
            line.append(("bar", bar))
            steps["bar-repaired"] += 1
            clock.bar()
