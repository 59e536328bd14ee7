"""Bar accounting: which bar a note stands in, and whether each bar fits the meter.

Short bars are fine where ABC practice puts them, as abc2midi also has it:
the first bar (a pickup), the last bar, and next to a section boundary (`||`,
`|]`, repeats, endings), where a part ends short and the pickup into the next
part sits. Any other short bar is an error once more music follows it: until
then it may be the tune's last. A bar too long is always an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from abcgen.runtime.abc.events import Diagnostic
from abcgen.runtime.abc.meter import Meter

_NOTE_NAMES = {1: "whole notes", 2: "half notes", 4: "quarter notes", 8: "eighth notes",
               16: "sixteenth notes", 32: "32nd notes"}  # fmt: skip


def bar_kind(text: str) -> str:
    """The kind of a bar-line token: '|' '||' '|]' '[|' '|:' ':|' '::'."""
    starts, ends = text.startswith(":"), text.endswith(":")
    if (starts and ends) or "::" in text:
        return "::"
    if starts or ends:
        return ":|" if starts else "|:"
    if text.startswith("["):
        return "[|"
    return "|]" if "]" in text else "||" if text.count("|") > 1 else "|"


# How abc2midi cuts a run of bar-line characters into bar lines, longest first.
_ABC2MIDI_BARS = re.compile(r"\|\||\|\]|\|:|:\||::|\[\||.")


def takes_ending_number(text: str) -> bool:
    """Whether abc2midi reads digits straight after the bar line `text` as an ending
    (`|1`, `:|2`): only after `|` or `:|`; after `||1` or `::2` it reads no ending."""
    return _ABC2MIDI_BARS.findall(text)[-1] in ("|", ":|")


@dataclass
class BarClock:
    """The bar being filled. A bar line is 'ending' when it starts a volta."""

    index: int = 0  # 0-based; bar 0 may be a pickup
    start: Fraction = Fraction(0)  # onset of the bar
    has_notes: bool = False
    measures: int = 0  # bars of multi-bar rests (`Z4`) in this bar
    opened_by: str | None = None  # kind of the bar line that began it; None: the first bar
    short: Diagnostic | None = None  # a short bar, an error once more music follows

    def add(self, measures: int = 0) -> Diagnostic | None:
        """A note or rest went into the bar; returns a short-bar error now certain."""
        self.has_notes = True
        if measures:
            self.measures += measures
            self.index += measures - 1
        short, self.short = self.short, None
        return short

    def close(self, time: Fraction, meter: Meter | None, kind: str, line: int, col: int
              ) -> Diagnostic | None:  # fmt: skip
        """A bar line at `time`; returns an error for a bar too long. A bar line
        with no music since the last (`|:` at the start, `:| |:`) opens no new bar."""
        if not self.has_notes:
            if kind != "|":
                self.opened_by = kind
            return None
        error = self.check(time, meter, kind, line, col)
        self.index, self.start, self.has_notes = self.index + 1, time, False
        self.measures, self.opened_by = 0, kind
        return error

    def finish(self, time: Fraction, meter: Meter | None, line: int, col: int) -> Diagnostic | None:
        """The end of the tune: the last bar may be short, not long."""
        self.short = None
        return self.check(time, meter, None, line, col) if self.has_notes else None

    def check(self, time: Fraction, meter: Meter | None, closing: str | None, line: int,
              col: int) -> Diagnostic | None:  # fmt: skip
        length, need = time - self.start, self.need(meter)
        if need is None or length == need:
            return None
        den = meter.denominator
        name = _NOTE_NAMES.get(den, f"1/{den} notes")
        message = f"bar has {length * den} {name}, M:{meter.numerator}/{den} needs {need * den}"
        if length > need:
            return Diagnostic(line, col, message)
        if closing == "|" and not self.short_is_fine():
            self.short = Diagnostic(line, col, message)
        return None

    def need(self, meter: Meter | None) -> Fraction | None:
        return None if meter is None else meter.bar_length * max(1, self.measures)

    def short_is_fine(self, closing: str = "|") -> bool:
        return self.index == 0 or closing != "|" or self.opened_by not in (None, "|")
