"""How tunes are built: what comes back, how they end, whether they keep whole bars.

Bar by bar a generated tune can be idiomatic and still give itself away by its
build: human folk tunes restate bars and figures, answer a phrase with its
echo, land on a long final note and play a whole number of bars. Each measure
is computed per tune from the parsed events; `summarise_structure` counts them
over a set of tunes, overall and per meter, for `abcgen eval` to show the runs
beside the test split. The melody is the first note of each chord, rests
included, grace notes left out; notes are compared by MIDI pitch and length.

Definitions (written order, as a musician reads the page, unless said):

- bar: a written bar that holds notes. The opening pickup (a first bar shorter
  than the meter's) is not a bar; other short bars (a part's closing bar, the
  last) are.
- repeated bars: the share of a tune's bars equal to an earlier bar of it.
- restated figures: the share of a tune's notes inside a 6-note window of
  (pitch, length) that the tune has already played, in a window ending before
  this one starts (a run of one repeated note is no restatement).
- echo: bars 5-8 echo bars 1-4 when at least two of them equal the bar four
  before (tunes of 8 bars or more).
- second half reuses the first: a bar of the second half of the bars equals
  one of the first half.
- final note: the last sounding note (ties joined) with the rests after it
  lasts a beat or more. The beat: three of the denominator's notes in compound
  meters (6/8, 9/8, 12/8, 6/4), else the denominator's note (the quarter in
  4/4, the half in 2/2).
- lead-in (tunes ending `|]`): the last note starts off the pulse of its bar
  and, with the rests after it, lasts less than a pulse: an upbeat into
  nothing (`BdcA G2 FD|]`). The pulse is the beat, but never longer than a
  quarter in simple meters: a reel's `BEE2|]` lands on its last quarter.
- phrase ends: the last sounding note of every fourth bar of a section
  (counted from the section's start, its pickup not counted) and of a
  section's last bar, a section ending at any bar line but `|`; compared, as
  the share longer than the tune's median note, with the other bars' last notes.
- whole bars: the played length (repeats, endings and parts as abc2midi plays
  them, rests included) is a whole number of the meter's bars, by our played
  order and by the real abc2midi's MIDI file (its longest track, less the
  fixed tail abc2midi adds, measured once on a one-bar tune).
- loops (played order, pickups included): the most times a sequence of 1, 2
  or 4 bars is played in a row; for one bar, the longest run of a bar.

Shares of bars and notes are averaged over tunes (each tune counts once), the
phrase-end shares pooled over notes. Measures that need a meter skip M:none.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

import numpy as np

from abcgen.runtime.abc.events import Bar, Note, Tune
from abcgen.runtime.abc.meter import Meter
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.abc.repeats import play_order, tied
from abcgen.runtime.evaluate.abc2midi import run_abc2midi

FIGURE = 6  # notes in a restated figure
PHRASE = 4  # bars in a phrase
LOOPS = (1, 2, 4)  # bars in the sequences the loop guard counts
SHOWN_BARS = 32  # bars of a self-similarity picture
IDENTICAL, SIMILAR, DIFFERENT = 2, 1, 0  # self-similarity of two bars

Melody = tuple[tuple[int | None, Fraction], ...]  # (MIDI pitch or None for a rest, length)


@dataclass(frozen=True)
class WrittenBar:
    start: Fraction
    end: Fraction
    closed_by: str | None  # the bar line's kind; None where the tune ends without one
    notes: tuple[Note, ...]  # melody notes and rests

    @property
    def melody(self) -> Melody:
        return tuple((n.pitch.midi if n.pitch else None, n.duration) for n in self.notes)


def written_bars(tune: Tune) -> list[WrittenBar]:
    """The bars that hold notes, in written order, the opening pickup included."""
    bars: list[WrittenBar] = []
    start, held = Fraction(0), []
    for e in tune.events:
        if isinstance(e, Note) and not e.grace and e.chord_index == 0:
            held.append(e)
        elif isinstance(e, Bar):
            if held:
                bars.append(WrittenBar(start, e.onset, e.kind, tuple(held)))
            start, held = e.onset, []
    if held:
        bars.append(WrittenBar(start, max(n.onset + n.duration for n in held), None, tuple(held)))
    return bars


def has_pickup(bars: Sequence[WrittenBar], meter: Meter | None) -> bool:
    return (meter is not None and len(bars) > 1
            and bars[0].end - bars[0].start < meter.bar_length)


def pulse(meter: Meter) -> Fraction:
    """Where notes fall on or off the beat: the beat, at most a quarter in simple meters."""
    b = meter.beat
    return b if b.numerator == 3 else min(b, Fraction(1, 4))


# ---------------------------------------------------------------- one tune


@dataclass
class Structure:
    """The structure facts of one tune (None: the measure does not apply)."""

    meter: str  # as in M: ('none' for free meter)
    bars: int
    repeated_bars: int
    notes: int
    restated_notes: int
    echo: bool | None  # None: fewer than 8 bars
    second_half: bool | None  # None: fewer than 2 bars
    final_long: bool | None  # None: no meter or no note
    lead_in: bool | None  # None: the tune does not end `|]`
    phrase_ends: tuple[int, int]  # (longer than the median note, all)
    other_ends: tuple[int, int]
    whole_bars: bool | None  # by our played order; None: no meter
    whole_bars_abc2midi: bool | None  # None: not checked, or no meter
    loops: tuple[int, ...]  # per LOOPS: the most plays in a row of one sequence


def tune_structure(text: str, tune: Tune | None = None, *, abc2midi: bool = False
                   ) -> Structure:  # fmt: skip
    """The structure facts of one tune (`tune`: the text already parsed); `abc2midi`
    also plays it through the real abc2midi."""
    tune = parse(text) if tune is None else tune
    meter = tune.meter
    everything = written_bars(tune)
    bars = everything[has_pickup(everything, meter):]
    melodies = [b.melody for b in bars]
    notes = [m for b in everything for m in b.melody]
    lengths = _sounding_lengths(tune)
    ends = _bar_ends(bars, lengths, meter)
    return Structure(
        meter="none" if meter is None else f"{meter.numerator}/{meter.denominator}",
        bars=len(bars),
        repeated_bars=sum(m in melodies[:i] for i, m in enumerate(melodies)),
        notes=len(notes),
        restated_notes=restated(notes),
        echo=sum(melodies[i] == melodies[i + PHRASE] for i in range(PHRASE)) >= 2
        if len(bars) >= 2 * PHRASE else None,
        second_half=bool(set(melodies[len(bars) // 2:]) & set(melodies[:len(bars) // 2]))
        if len(bars) >= 2 else None,
        final_long=_final_long(tune, lengths),
        lead_in=_lead_in(tune, everything, lengths),
        phrase_ends=_long(ends, True, lengths),
        other_ends=_long(ends, False, lengths),
        whole_bars=_whole(played_length(tune), meter) if meter else None,
        whole_bars_abc2midi=_whole(abc2midi_length(text), meter) if abc2midi and meter else None,
        loops=tuple(most_in_a_row(played_bars(tune, everything), k) for k in LOOPS),
    )


def restated(melody: Sequence[tuple[int | None, Fraction]], size: int = FIGURE) -> int:
    """How many notes lie inside a window of `size` notes played before, in a window
    ending before this one starts."""
    first: dict[tuple, int] = {}
    inside: set[int] = set()
    for i in range(len(melody) - size + 1):
        window = tuple(melody[i:i + size])
        j = first.setdefault(window, i)
        if j + size <= i:
            inside.update(range(i, i + size))
    return len(inside)


def played_bars(tune: Tune, bars: Sequence[WrittenBar] | None = None) -> list[Melody]:
    """The written bars (pickups included) in the order they are played."""
    bars = written_bars(tune) if bars is None else bars
    starts = [b.start for b in bars]
    out = []
    for a, b in play_order(tune):
        out += [bars[i].melody for i in range(len(bars)) if a <= starts[i] < b]
    return out


def most_in_a_row(melodies: Sequence[Melody], size: int) -> int:
    """The most times one sequence of `size` bars is played in a row (0: fewer bars)."""
    best = 1 if len(melodies) >= size else 0
    for i in range(len(melodies) - 2 * size + 1):
        times = 1
        while melodies[i + times * size:i + (times + 1) * size] == melodies[i:i + size]:
            times += 1
        best = max(best, times)
    return best


def _sounding_lengths(tune: Tune) -> dict[int, Fraction]:
    """id(note) -> its length with its ties joined, for the melody's sounding notes."""
    notes = [n for n in tune.notes if not n.grace]
    joined, silent = tied(notes)
    return {id(n): joined.get(i, n.duration) for i, n in enumerate(notes)
            if n.pitch is not None and n.chord_index == 0 and i not in silent}


def _last_sounding(notes: Iterable[Note], lengths: dict[int, Fraction]) -> Note | None:
    return next((n for n in reversed(list(notes)) if id(n) in lengths), None)


def _final_long(tune: Tune, lengths: dict[int, Fraction]) -> bool | None:
    last = _last_sounding(tune.notes, lengths)
    if tune.meter is None or last is None:
        return None
    return _closing(tune, last, lengths) >= tune.meter.beat


def _closing(tune: Tune, last: Note, lengths: dict[int, Fraction]) -> Fraction:
    """How long the last note lasts with the rests after it."""
    end = max(n.onset + n.duration for n in tune.notes if not n.grace)
    return max(lengths[id(last)], end - last.onset)


def _lead_in(tune: Tune, bars: Sequence[WrittenBar], lengths: dict[int, Fraction]
             ) -> bool | None:  # fmt: skip
    if not bars or bars[-1].closed_by != "|]" or tune.meter is None:
        return None
    last = _last_sounding(bars[-1].notes, lengths)
    if last is None:
        return False
    step = pulse(tune.meter)
    return (last.onset - bars[-1].start) % step != 0 and _closing(tune, last, lengths) < step


def _bar_ends(bars: Sequence[WrittenBar], lengths: dict[int, Fraction], meter: Meter | None
              ) -> list[tuple[Note, bool]]:  # fmt: skip
    """The last sounding note of each bar, and whether it ends a phrase: every fourth
    bar of a section, and a section's last. The pickup into a section is neither."""
    out, count = [], 0
    for i, bar in enumerate(bars):
        closes = bar.closed_by not in ("|", None) or i == len(bars) - 1
        if i == 0 or bars[i - 1].closed_by not in ("|", None):
            count = 0
            if not closes and meter is not None and bar.end - bar.start < meter.bar_length:
                continue
        count += 1
        last = _last_sounding(bar.notes, lengths)
        if last is not None:
            out.append((last, closes or count % PHRASE == 0))
    return out


def _long(ends: list[tuple[Note, bool]], phrase: bool, lengths: dict[int, Fraction]
          ) -> tuple[int, int]:  # fmt: skip
    if not lengths:
        return 0, 0
    median = statistics.median(lengths.values())
    chosen = [lengths[id(n)] for n, at_end in ends if at_end == phrase]
    return sum(x > median for x in chosen), len(chosen)


def played_length(tune: Tune) -> Fraction:
    """How long the tune plays (whole notes), repeats, endings and parts as abc2midi
    plays them, closing rests included."""
    return sum((b - a for a, b in play_order(tune)), Fraction(0))


def abc2midi_length(text: str) -> Fraction | None:
    """How long the real abc2midi plays the tune: its MIDI file's length less the tail
    abc2midi adds after the music (None: no MIDI written)."""
    length = run_abc2midi(text).length
    return None if length is None else length - _abc2midi_tail()


@cache
def _abc2midi_tail() -> Fraction:
    """What abc2midi adds after the music: measured on a tune of one whole bar."""
    length = run_abc2midi("M:4/4\nL:1/4\nK:C\nC4|]\n").length
    return Fraction(0) if length is None else length - 1


def _whole(length: Fraction | None, meter: Meter) -> bool | None:
    return None if length is None else length % meter.bar_length == 0


# ---------------------------------------------------------------- a set of tunes

# (key in the summary, what it measures), in the order the tables show them
MEASURES: list[tuple[str, str]] = [
    ("repeated_bars", "bars that repeat an earlier bar"),
    ("restated_notes", "notes inside a restated 6-note figure"),
    ("echo", "tunes whose bars 5-8 echo bars 1-4"),
    ("second_half", "tunes whose second half reuses a bar of the first"),
    ("final_long", "final note a beat or longer"),
    ("lead_in", "a lead-in after the final cadence (tunes ending |])"),
    ("phrase_end_long", "phrase-end notes longer than the median note"),
    ("other_end_long", "other bars' last notes longer than the median note"),
    ("whole_bars", "played length a whole number of bars"),
    ("whole_bars_abc2midi", "played length a whole number of bars (abc2midi)"),
    ("run_over_3", "a bar played more than 3 times in a row"),
    ("loops_beyond_test", "a 1, 2 or 4-bar sequence played in a row more often than "
                          "in any test tune"),
]


def loop_limits(test: Sequence[Structure]) -> list[int]:
    """Per LOOPS: the most times any test tune plays one sequence in a row."""
    return [max((f.loops[i] for f in test), default=1) for i in range(len(LOOPS))]


def summarise_structure(facts: Sequence[Structure], limits: Sequence[int]) -> dict[str, Any]:
    """Each measure as {"share", "of"} (of: the tunes it applies to, or for the phrase
    ends the notes), the longest runs of one bar, and the same per meter."""
    summary = _summary(facts, limits)
    groups: dict[str, list[Structure]] = {}
    for f in facts:
        groups.setdefault(f.meter, []).append(f)
    summary["by_meter"] = {meter: _summary(group, limits) for meter, group
                           in sorted(groups.items(), key=lambda kv: -len(kv[1]))}
    return summary


def _summary(facts: Sequence[Structure], limits: Sequence[int]) -> dict[str, Any]:
    runs = [f.loops[0] for f in facts]
    return {
        "tunes": len(facts),
        "repeated_bars": _mean([f.repeated_bars / f.bars for f in facts if f.bars]),
        "restated_notes": _mean([f.restated_notes / f.notes for f in facts if f.notes]),
        **{key: _mean([getattr(f, key) for f in facts if getattr(f, key) is not None])
           for key in ("echo", "second_half", "final_long", "lead_in", "whole_bars",
                       "whole_bars_abc2midi")},
        "phrase_end_long": _pooled([f.phrase_ends for f in facts]),
        "other_end_long": _pooled([f.other_ends for f in facts]),
        "run_over_3": _mean([r > 3 for r in runs]),
        "loops_beyond_test": _mean([any(n > most for n, most in zip(f.loops, limits, strict=True))
                                    for f in facts]),
        "longest_run": {"mean": float(np.mean(runs)) if runs else None,
                        "max": max(runs, default=0)},
    }


def _mean(values: Sequence[float | bool]) -> dict[str, Any]:
    return {"share": float(np.mean(values)) if values else None, "of": len(values)}


def _pooled(counts: Sequence[tuple[int, int]]) -> dict[str, Any]:
    hits, of = sum(c[0] for c in counts), sum(c[1] for c in counts)
    return {"share": hits / of if of else None, "of": of}


# ---------------------------------------------------------------- the picture


def pictured(texts: Sequence[str], shapes: Sequence[Structure],
             humans: Sequence[tuple[str, Structure]]) -> dict[str, str | None]:
    """The tune of a run to picture (the first with a meter and 8 bars or more) and a
    human tune of its meter (the first of `humans` with 8 bars or more)."""
    i = next((i for i, f in enumerate(shapes) if f.meter != "none" and f.bars >= 2 * PHRASE),
             0 if texts else None)
    if i is None:
        return {"tune": None, "human": None}
    human = next((text for text, f in humans
                  if f.meter == shapes[i].meter and f.bars >= 2 * PHRASE), None)
    return {"tune": texts[i], "human": human}


def self_similarity(tune: Tune, most: int = SHOWN_BARS) -> np.ndarray:
    """Bars x bars (the first `most`, the opening pickup left out): IDENTICAL, SIMILAR
    (the same rhythm and the same rise and fall, as a sequence moved up or down)
    or DIFFERENT."""
    everything = written_bars(tune)
    bars = everything[has_pickup(everything, tune.meter):][:most]
    melodies = [b.melody for b in bars]
    shapes = [_shape(m) for m in melodies]
    grid = np.full((len(bars), len(bars)), DIFFERENT, np.int8)
    for i, j in itertools.product(range(len(bars)), repeat=2):
        if melodies[i] == melodies[j]:
            grid[i, j] = IDENTICAL
        elif shapes[i] == shapes[j]:
            grid[i, j] = SIMILAR
    return grid


def _shape(melody: Melody) -> tuple:
    """Rhythm and contour: lengths, and whether each note rises, falls or repeats."""
    pitches = [p for p, _ in melody]
    steps = tuple(None if a is None or b is None else (b > a) - (b < a)
                  for a, b in itertools.pairwise(pitches))
    return tuple(d for _, d in melody), tuple(p is None for p in pitches), steps
