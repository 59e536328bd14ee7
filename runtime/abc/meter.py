"""Time in ABC, in one place: the meter and its beats, note lengths, broken rhythm,
tuplets and Q: tempi.

Everything that counts time reads these definitions: the parser (exact fractions of
a whole note), the normaliser's bar repair (the same fractions), the constraint
automaton (integer ticks derived from these tables), MIDI accents and tempi, and
live swing. Where ABC 2.1 leaves room, abc2midi's reading is taken, as the parser
takes it: a tuplet `(5` `(7` `(9` is in the time of three in every meter whose
numerator is a multiple of three (3/4 and 3/8 too), else of two. Each reader
raises ValueError with a plain message on bad input; the parser turns that into a
diagnostic and keeps the previous value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

# (p: q of `(p` when q is not written: p notes in the time of q; other p: see tuplet_q.
TUPLET_Q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}
# Broken rhythm: the factors of the first and second note (`<` the other way round).
BROKEN = {">": (Fraction(3, 2), Fraction(1, 2)), ">>": (Fraction(7, 4), Fraction(1, 4)),
          ">>>": (Fraction(15, 8), Fraction(1, 8))}  # fmt: skip
METER = re.compile(r"\(?(\d+(?:\+\d+)*)\)?\s*/\s*(\d+)")  # `6/8`, `2+3/8`, `(2+3)/8`
FRACTION = re.compile(r"\s*(\d+)\s*(?:/\s*(\d+))?\s*")  # `1/8`, `3`
_LENGTH = re.compile(r"(\d*)(/*)(\d*)")


@dataclass(frozen=True, slots=True)
class Meter:
    """A time signature: how long a bar is, and the beats it is counted in."""

    numerator: int  # the sum of an additive numerator (`2+3/8` is 5)
    denominator: int
    symbol: str | None = None  # 'common' for C, 'cut' for C|

    @property
    def bar_length(self) -> Fraction:
        """In whole notes."""
        return Fraction(self.numerator, self.denominator)

    @property
    def compound(self) -> bool:
        """Counted in beats of three notes: 6/8, 9/8, 12/8, 6/4, 15/8... (3/4 and 3/8
        count single notes)."""
        return self.numerator % 3 == 0 and self.numerator > 3

    @property
    def beat(self) -> Fraction:
        """The length of one beat, in whole notes: a dotted note in compound meters."""
        return Fraction(3 if self.compound else 1, self.denominator)


def tuplet_q(p: int, meter: Meter | None) -> int:
    """q of `(p` when it is not written: ABC 2.1's table, and beyond it 3 where the
    meter's numerator is a multiple of three, else 2 (as abc2midi reads it; free
    meter: 2)."""
    return TUPLET_Q.get(p, 3 if meter is not None and meter.numerator % 3 == 0 else 2)


def broken_lengths(mark: str, first: Fraction, second: Fraction, ratio: tuple[int, int] = (3, 1)
                   ) -> tuple[Fraction, Fraction] | None:  # fmt: skip
    """The lengths of two notes written `first` and `second` long and joined by the
    broken rhythm `mark`; None when they are written unequally long, where abc2midi
    (and so the parser) ignores the mark. `ratio` is the n:m of `%%MIDI ratio n m`
    for `>` and `<`; as in abc2midi, `>>` and `>>>` keep theirs."""
    if first != second:
        return None
    if len(mark) == 1:
        n, m = ratio
        longer, shorter = Fraction(2 * n, n + m), Fraction(2 * m, n + m)
    else:
        longer, shorter = BROKEN[mark.replace("<", ">")]
    return (first * shorter, second * longer) if mark[0] == "<" else (
        first * longer, second * shorter)


_RATIO = re.compile(r"(?:%%|I:)\s*MIDI\s+ratio\b\s*(\d*)\s*(\d*)")


def midi_ratio(text: str) -> tuple[int, int] | None:
    """The n:m of a `%%MIDI ratio n m` line or an `I:MIDI ratio n m` field: (0, 0) if
    it cannot be read, None if `text` is something else."""
    m = _RATIO.match(text)
    if m is None:
        return None
    return (int(m[1]), int(m[2])) if m[1] and m[2] and int(m[1]) and int(m[2]) else (0, 0)


def parse_meter(value: str) -> Meter | None:
    """`6/8`, `C`, `C|`, `2+3/8`, `none` (None: free meter)."""
    text = value.strip()
    if text in ("", "none"):
        return None
    if text == "C":
        return Meter(4, 4, "common")
    if text == "C|":
        return Meter(2, 2, "cut")
    m = METER.fullmatch(text)
    if not m or int(m[2]) == 0:
        raise ValueError(f"M: cannot read meter {text!r}")
    numerator = sum(int(n) for n in m[1].split("+"))
    return Meter(numerator, int(m[2]))


def default_unit(meter: Meter | None) -> Fraction:
    """ABC 2.1: L: defaults to 1/16 below 3/4, else 1/8 (and 1/8 for free meter)."""
    if meter is not None and meter.bar_length < Fraction(3, 4):
        return Fraction(1, 16)
    return Fraction(1, 8)


def parse_fraction(text: str) -> Fraction:
    m = FRACTION.fullmatch(text)
    if not m or int(m[2] or 1) == 0 or int(m[1]) == 0:
        raise ValueError(f"cannot read length {text.strip()!r}")
    return Fraction(int(m[1]), int(m[2] or 1))


@lru_cache(maxsize=256)
def note_length(text: str) -> Fraction | None:
    """`2` `/2` `/` `//` `3/2` `3/` as a multiple of the unit length; None when it is zero
    (cached: a tune uses a handful of lengths over and over)."""
    num, slashes, den = _LENGTH.fullmatch(text).groups()
    numerator = int(num) if num else 1
    denominator = (int(den) if den else 2) << (len(slashes) - 1) if slashes else 1
    return Fraction(numerator, denominator) if numerator and denominator else None


def length_text(units: Fraction) -> str:
    """A length in units as ABC writes it after a note: '' (one unit), `2`, `/2`, `3/2`."""
    if units.denominator == 1:
        return "" if units == 1 else str(units.numerator)
    if units.numerator == 1:
        return f"/{units.denominator}"
    return f"{units.numerator}/{units.denominator}"


def parse_unit(value: str) -> Fraction:
    """`1/8`: the length of a note written without a number."""
    try:
        return parse_fraction(value)
    except ValueError:
        raise ValueError(f"L: cannot read unit length {value.strip()!r}") from None


def parse_tempo(value: str, unit: Fraction) -> float | None:
    """Quarter notes per minute from `1/4=120`, `3/8=40`, `"Allegro" 1/2=80` or `120`.

    A bare number counts unit notes (L:) per minute, as ABC 1.x did; a tempo
    given only in words has no number and gives None.
    """
    text = re.sub(r'"[^"]*"', " ", value).strip()
    if not text:
        return None
    try:
        if "=" in text:
            beats, bpm = text.split("=", 1)
            if beats.strip().upper() == "C":
                beat = unit
            else:
                beat = sum((parse_fraction(b) for b in beats.split()), Fraction(0))
        else:
            beat, bpm = unit, text
        per_minute = float(bpm)
    except ValueError:
        raise ValueError(f"Q: cannot read tempo {value.strip()!r}") from None
    if per_minute <= 0 or beat <= 0:
        raise ValueError(f"Q: tempo must be positive: {value.strip()!r}")
    return float(per_minute * beat * 4)
