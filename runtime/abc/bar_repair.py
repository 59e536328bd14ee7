"""The normaliser's one repair of a tune's bars: a line that ends where a bar is
exactly full, with no bar line there, gets one (tunebooks often leave it out at
a line break).

Time is counted as the parser counts it, exactly (in fractions of the unit length), with
meter.py's lengths, broken rhythm and tuplets; a bar whose length cannot be
known for sure (an unreadable length, a multi-bar rest, an ending, a broken
rhythm or tuplet running over the bar line or after a grace note or a field)
is left alone.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction

from abcgen.runtime.abc.meter import broken_lengths, note_length, parse_meter, tuplet_q

Token = tuple[str, str]  # (kind, text), as normalise.py tokenises a body line
_NOTE = re.compile(r"[A-Ga-g][,']*\d*(?:/+\d*)?")  # a chord's first note (its length)
_LENGTH_TAIL = re.compile(r"\d*/*\d*$")


@functools.lru_cache(maxsize=4096)
def _length(text: str) -> Fraction | int | None:
    """A note's length in units (None for a zero length); an int when it is whole, as
    most are, which adds much faster than a Fraction."""
    length = note_length(_LENGTH_TAIL.search(text)[0])
    return int(length) if length is not None and length.denominator == 1 else length


@functools.lru_cache(maxsize=4096)
def _chord_length(text: str) -> Fraction | int | None:
    inner, tail = text[1:].split("]")
    first, outer = _length(_NOTE.search(inner)[0]), _length(tail)
    return None if first is None or outer is None else first * outer


class BarTime:
    """Time since the last bar line, as the parser counts it but in unit lengths (L:),
    so that a note costs one addition: `time` is None once it cannot be known for
    sure."""

    def __init__(self, meter: str, unit: str) -> None:
        self.meter, self.unit = parse_meter(meter), Fraction(unit)
        self.time: Fraction | int | None = 0
        self.last: tuple[Fraction, Fraction] | None = None  # the last note: written, scale
        self.broken: tuple[str, Fraction, Fraction] | None = None  # `>` waiting: mark, last
        self.tuplet: tuple[Fraction, int] | None = None  # factor, notes left

    def at_end(self, following: list[Token] | None) -> Fraction | None:
        """The time at the end of a line, in whole notes, before `following` (the next
        line): None while it is not known for sure, and when `following` opens with
        `>` or `<`, which lengthens or shortens the line's last note."""
        if self.time is None or self.broken or self.tuplet or (
                following and following[0][0] == "broken"):
            return None
        return self.time * self.unit

    def full(self, following: list[Token] | None) -> bool:
        return self.meter is not None and self.at_end(following) == self.meter.bar_length

    def bar(self) -> None:
        # a broken rhythm or tuplet over the bar line: not known from here on
        self.time = None if self.broken or self.tuplet else 0
        self.last = None

    def unknown(self) -> None:
        self.time, self.last = None, None

    def add(self, written: Fraction | int | None) -> None:
        if written is None or self.time is None:
            return self.unknown()
        scale = 1
        if self.tuplet:
            scale, left = self.tuplet
            self.tuplet = (scale, left - 1) if left > 1 else None
        if self.broken:
            mark, first, first_scale = self.broken
            self.broken = None
            lengths = broken_lengths(mark, first, written)
            if lengths is not None:  # (else the parser ignores the mark, as abc2midi)
                self.time += (lengths[0] - first) * first_scale
                written = lengths[1]
        self.time += written if scale == 1 else written * scale
        self.last = (written, scale)

    def start_broken(self, mark: str) -> None:
        if self.last is None or self.broken:
            return self.unknown()
        self.broken = (mark, *self.last)

    def start_tuplet(self, text: str) -> None:
        parts = [*text[1:].split(":"), "", ""]
        p = int(parts[0])
        q = int(parts[1]) if parts[1] else tuplet_q(p, self.meter)
        r = int(parts[2]) if parts[2] else p
        if p < 2 or p > 9 or q == 0 or r == 0:
            return self.unknown()
        self.tuplet = (Fraction(q, p), r)

    def field(self, text: str) -> None:
        """A K:, M: or L: field: the parser releases what it holds there."""
        if text[0] == "M":
            self.meter = parse_meter(text[2:])
        elif text[0] == "L":
            unit = Fraction(text[2:])
            if self.time is not None:
                self.time = self.time * self.unit / unit
            self.unit = unit
        self.last = None

    def feed(self, kind: str, text: str) -> None:
        if kind in ("note", "rest"):
            self.add(_length(text))
        elif kind == "chord":
            self.add(_chord_length(text))
        elif kind == "bar":
            self.bar()
        elif kind == "broken":
            self.start_broken(text)
        elif kind == "tuplet":
            self.start_tuplet(text)
        elif kind == "grace":
            self.last = None  # the parser refuses `>` after a grace group
        elif kind in ("field", "fieldline"):
            self.field(text.strip("[]"))
        elif kind in ("mrest", "ending"):
            self.unknown()


def bar_times(lines: list[list[Token]], meter: str, unit: str
              ) -> Iterator[tuple[BarTime, list[Token] | None]]:  # fmt: skip
    """The bar time at the end of each line, in turn, with the music line that follows
    (None after the last music line and after a field line). A caller may add a bar
    line there (`BarTime.bar`) before going on."""
    music = [i for i, line in enumerate(lines) if line[0][0] != "fieldline"]
    nexts = dict(itertools.pairwise(music))
    clock = BarTime(meter, unit)
    for i, line in enumerate(lines):
        for kind, text in line:
            clock.feed(kind, text)
        yield clock, lines[nexts[i]] if i in nexts else None


def repair_bars(
    lines: list[list[Token]], meter: str, unit: str, bar: str, steps: Counter[str]
) -> None:
    """Add a bar line at a line end where the bar is exactly full and none follows."""
    for line, (clock, following) in zip(lines, bar_times(lines, meter, unit), strict=True):
        if following is None or line[-1][0] == "bar" or following[0][0] == "bar":
            continue
        if clock.full(following):
            line.append(("bar", bar))
            steps["bar-repaired"] += 1
            clock.bar()
