"""The constraint automaton's state and the tables its rules read.

A `State` is everything the next mask depends on, as a small immutable tuple
that counts time relative to the unit length, so the same situation in any
tune is the same state and shares one cached mask. `canonical` clears what can
no longer matter. Lengths, tuplets, meters and keys are read with the parser's
own readers (abc/keys.py, abc/meter.py); the tables here only say which of the texts
those readers accept generation may write.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

from abcgen.runtime.abc.keys import MODE_SUFFIX, parse_key
from abcgen.runtime.abc.meter import BROKEN, TUPLET_Q, note_length, parse_meter, parse_unit

# Masks, transitions and note fits kept, each. A tune meets few states another tune met
# (the shipped model: about one new transition a character), so what pays is reuse
# within a tune; a small bound keeps a daemon that plays for hours at flat memory
# (200,000 grew it by 100 MB) and costs no measurable time (bench/constraint_overhead.py).
CACHE_LIMIT = 5_000
UNIT = 384  # ticks per unit note length (L:): exact for every length, tuplet and `>` here
GRID = UNIT // 8  # the shortest length, `/8`: what is left of a bar stays a multiple of it

# Note lengths generation writes after a note, and their ticks.
LENGTHS = {text: int(note_length(text) * UNIT)
           for text in ("", "2", "3", "4", "6", "8", "12", "16", "24", "32", "/", "/2", "//",
                        "/4", "3/2", "3/", "3/4", "/8", "3/8")}  # fmt: skip
COMPLETIONS = {s[:i]: tuple(t for t in LENGTHS if t.startswith(s[:i]))
               for s in LENGTHS for i in range(len(s) + 1)}
TUPLETS = {p: q for p, q in TUPLET_Q.items() if p <= 6}  # p notes in the time of q
# `>` and `<` between two notes: what the second note's written length is multiplied
# by, in halves (x1/2 after `>`, x3/2 after `<`).
BROKEN_HALVES = {">": int(BROKEN[">"][1] * 2), "<": int(BROKEN[">"][0] * 2)}
BARS = {"|", "||", "|]", "[|", "|:", ":|", "::", ":||"}
BAR_PREFIXES = {b[:i] for b in BARS for i in range(1, len(b) + 1)}
SECTION = {"||", "|]", ":|", "::"}  # may close a short bar (abc2midi: not `:||`)
FINAL = {"|]", "||", ":|", ":||"}  # may end a tune
LETTERS = frozenset("ABCDEFGabcdefg")


def readable(name: str, value: str) -> bool:
    """Whether the parser reads this M:, L: or K: value."""
    try:
        {"M": parse_meter, "L": parse_unit, "K": parse_key}[name](value)
    except ValueError:
        return False
    return True


# Header lines generation may write, in order; the parser reads every one. Bars of at
# most four whole notes (the corpus's longest is M:4/1): a longer one written in short
# notes could outlast the characters reserved for steering the tune to its end.
HEADER = [
    ("M", ["none"] + [f"{n}/{d}" for n in range(1, 13) for d in (1, 2, 4, 8, 16)
                      if n <= 4 * d]),
    ("L", ["1/1", "1/2", "1/4", "1/8", "1/16", "1/32"]),
    ("K", [k for t in "ABCDEFG" for a in ("", "#", "b") for m in MODE_SUFFIX.values()
           if readable("K", k := t + a + m)]),
]  # fmt: skip
HEADER_LINES = [{f"{name}:{v}" for v in values} for name, values in HEADER]
HEADER_PREFIXES = [{line[:i] for line in lines for i in range(len(line) + 1)}
                   for lines in HEADER_LINES]


class State(NamedTuple):
    """Everything the next mask depends on; equal states share one mask."""

    mode: str = "h"  # h header, b body, e ended, x lost (no constraint)
    tok: str = ""  # token in progress: '' acc note rest bar [ ( field quote
    buf: str = ""  # its text so far (header line, length, bar line, accidental, field)
    field: int = 0  # header line expected next: 0 M, 1 L, 2 K
    meter: str = "none"  # M: and L: values, to work out the bar (header only)
    unit: str = "1/8"
    bar: int = 0  # ticks in a full bar; 0 for free meter
    beat: int = 0  # ticks in one of the meter's beats (0: the lengths cannot count them)
    fine: int = GRID  # the shortest note: a 128th or longer, whatever L: is (`fine_ticks`)
    room: int = 0  # ticks left in the current bar
    empty: bool = True  # no note in the current bar yet
    carry: bool = False  # the bar holds the rest of a short bar before it: it must fill
    content: bool = False  # a bar with notes has been closed (until then: the pickup bar)
    prev: str = "start"  # the last complete element: note chord bar end space line tie
    #                      brk deco grace sopen sclose tup none start
    pitch: str = ""  # the note being written: letter and octave marks
    ctx: str = ""  # '' top level, '[' inside a chord, '{' inside a grace group
    cn: int = 0  # notes so far in the chord or grace group
    cforce: str | None = None  # length every further chord note repeats
    cval: int = 0  # the chord's ticks
    tleft: int = 0  # notes left in the tuplet
    tp: int = 0  # tuplet: p notes (in the time of TUPLETS[p])
    tforce: str | None = None  # length every further tuplet note repeats
    brk: int = 0  # next note's factor after a broken rhythm, in halves (BROKEN_HALVES)
    last: int = 0  # ticks of the note just written when `>` `<` may follow it
    slur: int = 0  # open slurs
    tie: str = ""  # a tie waits for a note of this letter and octave marks
    bval: int = 0  # after `>` `<`: the written ticks the second note repeats
    kind: str = ""  # the last bar line
    ending: int = 0  # 0 none, 1 in a first ending, 3 after its `:|` (needs `2`), 2 in a
    #                   second, 4 after `|]` (needs EOS)
    steer: bool = False  # past the length cap: head for the end
    lands: bool = False  # without a form: the bar's last note could end the tune (`lands`)
    # With a form asked for (forms.py); all at their defaults without one:
    form: str = ""  # FormSpec.key, e.g. `AABB:8`; '?' until `--form auto` has chosen
    deg: int = 0  # in a part's last bar: its last note so far, 1 tonic, 2 fifth, 0 other
    # What only a part's bar lines and last bar need, last: `forms.ASIDE` of them
    # is set aside (shared) in the middle of a part.
    tonic: str = ""  # letters of the tonic and of its fifth (the fifth '' when the key
    #                  signature does not spell a perfect fifth above the tonic)
    part: int = 0  # the part being written (all written: the number of parts)
    fbar: int = 0  # bars of the part's pass closed so far (not the pickup or carry bar)
    lead: int = 0  # ticks of the part's pickup (0 not known yet, -1 none or used up)
    repeat: int = 0  # 0 no repeat yet, 1 a `|:` or `::` waits for its `:|`, 2 closed by `:|`,
    #                   3 closed by a first ending's `:|`

    @property
    def pickup(self) -> bool:
        """Writing the first bar, which may be short (a pickup)."""
        return not self.content


def canonical(s: State) -> State:
    """`s` with what can no longer matter cleared, so equal situations share a mask."""
    stale = {}
    if s.last and s.prev != "note":
        stale["last"] = 0
    if s.kind and s.prev != "bar":
        stale["kind"] = ""
    if s.pitch and s.tok != "note":
        stale["pitch"] = ""
    if (s.cn or s.cval) and not s.ctx:
        stale["cn"], stale["cval"] = 0, 0
    if s.meter and s.mode == "b":
        stale["meter"], stale["unit"] = "", ""
    return s._replace(**stale) if stale else s


def closing_room(s: State) -> int:
    """What a bar that closes a part's pass leaves empty: the part's pickup (0 for
    none), so that every pass plays whole bars."""
    return max(s.lead, 0)


def on_beat(s: State) -> bool:
    """The next note starts on one of the meter's beats (`beat_ticks`; anywhere, when
    the lengths cannot count beats)."""
    return not s.beat or (s.bar - s.room) % s.beat == 0


def held(s: State) -> int:
    """Most of a beat, as a tune's last note sounds at least (two thirds, rounded up)."""
    return -(-2 * s.beat // 3)


def lands(s: State) -> bool:
    """A note starting here may be a tune's last: on a beat, with most of a beat to the
    bar's end (where its pickup leaves it) to hold or rest through, or the bar's
    first note (in a bar shorter than that)."""
    return not s.beat or s.room == s.bar or (
        on_beat(s) and s.room - closing_room(s) >= held(s))


def less(s: State, ticks: int) -> int:
    """What is left of the bar after `ticks` more (free meter: nothing is counted)."""
    return s.room - ticks if s.bar else 0


def bar_ticks(meter: str, unit: str) -> int:
    """Ticks in a full bar, or 0 (free meter) when the lengths cannot fill it exactly."""
    m = parse_meter(meter)
    if m is None:
        return 0
    ticks = m.bar_length / parse_unit(unit) * UNIT
    return int(ticks) if ticks.denominator == 1 and ticks % GRID == 0 else 0


def fine_ticks(unit: str) -> int:
    """Ticks of the shortest note generation writes under this L:: the shortest length
    (/8) or a 128th note if that is longer (MusicXML and MuseScore engrave a 128th, not a
    256th: `L:1/32` writes no `/8` and no `3/8`)."""
    ticks = Fraction(1, 128) / parse_unit(unit) * UNIT
    return max(GRID, -(-ticks // GRID) * GRID)


def beat_ticks(meter: str, unit: str) -> int:
    """Ticks in one beat as a cadence lands on it: the meter's beat (a dotted note in
    compound meters), but never longer than a quarter in simple ones (2/2 lands on
    its quarters); 0 when the bar does not divide into whole beats of whole ticks."""
    m = parse_meter(meter)
    if m is None:
        return 0
    beat = m.beat if m.compound else min(m.beat, Fraction(1, 4))
    ticks = beat / parse_unit(unit) * UNIT
    whole = ticks.denominator == 1 and ticks % GRID == 0
    return int(ticks) if whole and (m.bar_length / beat).denominator == 1 else 0
