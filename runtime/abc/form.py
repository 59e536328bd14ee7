"""The form of a tune: its parts, how many bars each has, how often each is played.

A dance tune is built of parts of a fixed number of bars, each usually played
twice: a jig is AABB with 8-bar parts. `FormSpec` is a form asked for
(`AABB`, `AB`, `AABBCC`, `ABC`: one letter a part, doubled when the part is
repeated); `read_form` finds the form a parsed tune has, as musicians read
its repeat signs. Both the constrained generator and the evaluation use them,
so that what is asked for and what is measured are one notion.

Reading a form, from the bar lines in written order:
- a part ends at `:|` or `::` (played twice), or at `||`, `|]` or `[|` (played
  once) unless an explicit `|: ... :|` is open around it; `|:` starts a part;
- endings (`|1 ... :|2 ...`) belong to the part before them: it is played as
  often as its highest ending number, and its last ending is as many bars
  long as its first (so usually one bar, as repeats.py reads it) unless a
  section bar line ends it sooner;
- a part's length is the bars of its final pass (with its last ending) as
  written, the pickup into it (a first bar shorter than the meter's) not
  counted;
- a part's last note is the last note of its final pass (a chord counts by its
  first note), as semitones above the tonic of K:.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from abcgen.runtime.abc.events import Bar, Note, Tune
from abcgen.runtime.abc.keys import pitch_class
from abcgen.runtime.abc.repeats import ending_numbers

DOUBLE_BARS = ("||", "|]", "[|")  # end a part when no explicit |: ... :| is open

MAX_PARTS = 6
PART_BARS = (2, 64)  # the part lengths a form may ask for
TONIC, FIFTH = 0, 7  # semitones above the tonic
_SPEC = re.compile(r"(?:([A-Z])\1?)+")


@dataclass(frozen=True)
class FormSpec:
    """A form asked for: how often each part is played (1 or 2), and its bars."""

    plays: tuple[int, ...]
    lengths: tuple[int, ...]  # bars of each part

    @property
    def text(self) -> str:
        return "".join(chr(65 + i) * n for i, n in enumerate(self.plays))

    @property
    def key(self) -> str:
        """A short text naming the form and its part lengths: `AABB:8`, `AAB:4+8`."""
        uniform = len(set(self.lengths)) == 1
        return f"{self.text}:{self.lengths[0] if uniform else '+'.join(map(str, self.lengths))}"

    @property
    def bars_text(self) -> str:
        """`8-bar parts`, or `parts of 4+8 bars`."""
        if len(set(self.lengths)) == 1:
            return f"{self.lengths[0]}-bar parts"
        return f"parts of {'+'.join(map(str, self.lengths))} bars"

    def cadence(self, part: int) -> frozenset[int]:
        """Where part `part` may end: the tonic; the first of several also the fifth."""
        return frozenset({TONIC, FIFTH}) if part == 0 < len(self.plays) - 1 else frozenset({TONIC})


def parse_form(text: str, bars: int | Sequence[int] = 8) -> FormSpec:
    """`AABB`, `AB`, `AABBCC`, `ABC`...: parts lettered from A in order, each written
    once (played once) or twice (repeated); `bars` for every part, or one per part.
    ValueError names what is wrong."""
    letters = text.strip().upper()
    if not _SPEC.fullmatch(letters):
        raise ValueError(f"form {text!r}: write one letter a part, doubled when the part "
                         "repeats, e.g. AABB, AB, AABBCC, ABC")
    runs = [m[0] for m in re.finditer(r"([A-Z])\1?", letters)]
    if [r[0] for r in runs] != [chr(65 + i) for i in range(len(runs))]:
        raise ValueError(f"form {text!r}: parts are lettered A, B, C... in order, each once")
    if len(runs) > MAX_PARTS:
        raise ValueError(f"form {text!r}: at most {MAX_PARTS} parts")
    lengths = (bars,) * len(runs) if isinstance(bars, int) else tuple(bars)
    low, high = PART_BARS
    if len(lengths) != len(runs) or not all(low <= n <= high for n in lengths):
        raise ValueError(f"part bars must be {low}..{high} (one number, or one a part), "
                         f"got {bars}")
    return FormSpec(tuple(len(r) for r in runs), lengths)


@lru_cache(maxsize=256)
def spec_of(key: str) -> FormSpec:
    """The FormSpec a `FormSpec.key` names (cached: the automaton asks per step)."""
    text, _, bars = key.partition(":")
    return parse_form(text, tuple(int(n) for n in bars.split("+")) if "+" in bars else int(bars))


def tonic_semitone(tune: Tune) -> int:
    """Pitch class of the tonic of the tune's K: (C when there is none)."""
    return 0 if tune.key is None else pitch_class(tune.key.tonic)


# ---------------------------------------------------------------- reading a form


@dataclass(frozen=True)
class PartFound:
    bars: int  # bars of its final pass, rounded
    plays: int  # 1, or how often its repeat plays it
    endings: bool  # it has first and second (or more) endings
    last: int | None  # its last note, semitones above the tonic (None: no note)


@dataclass(frozen=True)
class FormFound:
    parts: tuple[PartFound, ...]
    last: int | None  # the tune's last note (as written), semitones above the tonic

    @property
    def text(self) -> str:
        return "".join(chr(65 + i) * min(p.plays, 2) for i, p in enumerate(self.parts))

    def matches(self, spec: FormSpec) -> bool:
        """The parts, their repeats and their lengths are the ones asked for."""
        return (len(self.parts) == len(spec.plays)
                and all(p.plays == n and p.bars == bars
                        for p, n, bars in zip(self.parts, spec.plays, spec.lengths, strict=True)))

    def cadences_kept(self, spec: FormSpec | None = None) -> list[bool]:
        """Per part: ends on the tonic, or (the first of several parts) on the fifth."""
        shape = spec or FormSpec((1,) * len(self.parts), (0,) * len(self.parts))
        return [p.last in shape.cadence(min(i, len(shape.plays) - 1))
                for i, p in enumerate(self.parts)]


@dataclass
class _Part:
    start: Fraction
    explicit: bool = False  # opened by `|:` or `::`: a double bar inside does not end it
    common_end: Fraction | None = None  # where its first ending starts
    last_ending: Fraction | None = None  # where its last ending starts
    passes: int = 1
    counting: int = 0  # bars of the first ending so far
    first_bars: int = 0  # bars of the first ending, once the next one starts
    last_bars: int = 0  # bars of the last ending so far


def read_form(tune: Tune) -> FormFound | None:
    """The form of a parsed tune; None without a meter or without notes."""
    notes = [n for n in tune.notes if not n.grace]
    if tune.meter is None or not notes:
        return None
    end = max(n.onset + n.duration for n in notes)
    melody = [n for n in notes if n.pitch is not None and n.chord_index == 0]
    lines = [b for b in _merged(tune) if b.onset <= end]
    bar = tune.meter.bar_length
    tonic = tonic_semitone(tune)
    spans: list[tuple[_Part, Fraction]] = []  # each part and where its final pass ends
    part = _Part(Fraction(0))
    for i, line in enumerate(lines):
        kind = line.kind
        if part.last_ending is not None:  # a bar of the last ending ends here
            part.last_bars += 1
            if kind != "|" or part.last_bars >= part.first_bars:
                spans.append((part, line.onset))  # ... and the part with it
                part = _Part(line.onset)
            else:
                continue
        elif part.common_end is not None and part.first_bars == 0:
            part.counting += 1  # a bar of the first ending ends here
        if line.ending is not None:
            numbers = ending_numbers(line.ending)
            if part.common_end is None:
                part.common_end = line.onset
                part.passes = _passes(lines, i)
            elif part.first_bars == 0:
                part.first_bars = max(1, part.counting)
            if part.passes in numbers:
                part.last_ending = line.onset
            continue
        if kind == "|" or (part.common_end is not None and kind == ":|"):
            continue
        music = line.onset - part.start >= bar  # more than a pickup since the part began
        if kind in (":|", "::"):
            part.passes = 2
            spans.append((part, line.onset))
            part = _Part(line.onset, explicit=kind == "::")
        elif kind == "|:":
            if music:
                spans.append((part, line.onset))
                part = _Part(line.onset)
            part.explicit = True
        elif kind in DOUBLE_BARS and not part.explicit and music:
            spans.append((part, line.onset))
            part = _Part(line.onset)
    if end > part.start:
        spans.append((part, end))
    onsets = [line.onset for line in lines]
    found = [_part_found(p, stop, bar, onsets, melody, tonic) for p, stop in spans]
    kept = tuple(p for p, (span, stop) in zip(found, spans, strict=True)
                 if stop - span.start >= bar / 2)
    last = (melody[-1].pitch.midi - tonic) % 12 if melody else None
    return FormFound(kept, last)


def _merged(tune: Tune) -> list[Bar]:
    """Bar lines in written order, those at one onset read as one (`:| |:` is `::`)."""
    out: list[Bar] = []
    for bar in (e for e in tune.events if isinstance(e, Bar)):
        if not out or out[-1].onset != bar.onset:
            out.append(bar)
            continue
        kinds = {out[-1].kind, bar.kind}
        closes, opens = bool(kinds & {":|", "::"}), bool(kinds & {"|:", "::"})
        kind = ("::" if closes and opens else ":|" if closes else "|:" if opens
                else next((k for k in ("|]", "||", "[|") if k in kinds), "|"))
        out[-1] = Bar(bar.onset, kind, bar.number, bar.line, bar.col,
                      out[-1].ending or bar.ending)
    return out


def _passes(lines: list[Bar], first: int) -> int:
    """How often a part whose endings start at lines[first] is played."""
    highest = 2
    for line in lines[first:]:
        if line.ending is not None:
            highest = max([highest, *ending_numbers(line.ending)])
        elif line.kind != "|":
            break
    return highest


def _part_found(part: _Part, stop: Fraction, bar: Fraction, onsets: list[Fraction],
                melody: list[Note], tonic: int) -> PartFound:
    if part.common_end is None:
        segments = [(part.start, stop)]
    else:
        ending = part.last_ending if part.last_ending is not None else part.common_end
        segments = [(part.start, part.common_end), (ending, stop)]
    bars = []
    for start, end in segments:
        cuts = [start, *(t for t in onsets if start < t < end), end]
        bars += [b - a for a, b in itertools.pairwise(cuts) if b > a]
    pickup = len(bars) > 1 and bars[0] < bar  # the pickup into the part is not a bar
    final = segments[-1]
    last = _last_note(melody, *final) or (
        _last_note(melody, *segments[0]) if len(segments) > 1 else None)
    return PartFound(bars=len(bars) - pickup, plays=part.passes,
                     endings=part.common_end is not None,
                     last=None if last is None else (last.pitch.midi - tonic) % 12)


def _last_note(melody: list[Note], start: Fraction, stop: Fraction) -> Note | None:
    inside = [n for n in melody if start <= n.onset < stop]
    return inside[-1] if inside else None
