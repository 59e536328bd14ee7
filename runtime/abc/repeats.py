"""Played order: repeats and endings expanded the way folk musicians read them.

- `|: ... :|` plays twice; `::` ends one repeated section and starts the next.
- `:|` without `|:` repeats from the previous section start: just after the
  last `:|` or `::`, or after a double bar (`||` `|]` `[|`) that is not inside
  an explicit `|: :|`, else from the start of the tune, pickup included.
  (abc2midi does not count double bars; bench/parse_corpus.py counts the
  tunes where the two readings differ.)
- Endings `[1 ... :|[2 ...` (also `|1`, `[1,3`, `[1-2`): a section with endings
  is played as many times as its highest ending number (at least twice); on
  each pass only the endings whose numbers include that pass are played.
- The last ending is conventionally one bar long: the next section starts at
  the end of its first bar, or at a later double bar.

The unit of work is a span of written time, so a prefix of a tune expands to a
prefix of its played order and notes keep their source positions.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import replace
from fractions import Fraction

from abcgen.runtime.abc.events import Bar, Note, Tune

# The readings above, as switches (bench/parse_corpus.py flips them to name
# abc2midi's other readings): bar lines that start a part, and whether a part's
# last ending is one bar long.
DOUBLE_BARS: tuple[str, ...] = ("||", "|]", "[|")
LAST_ENDING_ONE_BAR = True
MAX_PASSES = 8  # endings numbered higher than this are read as typos


def expand(tune: Tune) -> list[Note]:
    """Notes (and rests) in played order, onsets re-timed from 0."""
    notes = tune.notes
    onsets = [n.onset for n in notes]
    played: list[Note] = []
    clock = Fraction(0)
    for start, end in play_order(tune):
        for note in notes[bisect_left(onsets, start) : bisect_left(onsets, end)]:
            played.append(replace(note, onset=clock + note.onset - start))
        clock += end - start
    return played


def play_order(tune: Tune) -> list[tuple[Fraction, Fraction]]:
    """Spans (start, end) of written time, in the order they are played."""
    bars = _merged([e for e in tune.events if isinstance(e, Bar)])
    end = max((n.onset + n.duration for n in tune.notes if not n.grace), default=Fraction(0))
    end = max([end] + [b.onset for b in bars])
    spans: list[tuple[Fraction, Fraction]] = []
    run = Fraction(0)  # where the span being played began
    section = (Fraction(0), 0)  # start of the section to repeat: time, index of the next bar
    passes, turn = _passes(bars, 0), 1
    last_ending = False  # playing a section's last ending: the section ends at the next bar
    explicit = False  # the section began with `|:` or `::`, so `||` does not end it
    i, resumed = 0, False  # resumed: got here by skipping an ending; its `:|` is not ours
    while i < len(bars):
        bar = bars[i]
        if bar.kind in (":|", "::") and turn < passes and not resumed:
            spans.append((run, bar.onset))
            run, i, turn, last_ending = section[0], section[1], turn + 1, False
            continue
        resumed = False
        if bar.ending is None and (
            bar.kind in (":|", "::", "|:")
            or (last_ending and LAST_ENDING_ONE_BAR)
            or (bar.kind in DOUBLE_BARS and not explicit)
        ):
            section, passes, turn = (bar.onset, i + 1), _passes(bars, i + 1), 1
            explicit, last_ending = bar.kind in ("|:", "::"), False
        elif bar.ending is not None:
            if turn not in ending_numbers(bar.ending):
                spans.append((run, bar.onset))
                i = _resume(bars, i, turn)
                run, resumed = (bars[i].onset if i < len(bars) else end), True
                continue
            last_ending = turn == passes
        i += 1
    spans.append((run, end))
    return [(a, b) for a, b in spans if b > a]


def _merged(bars: list[Bar]) -> list[Bar]:
    """Bar lines with no music between them read as one: `:| |:` is `::`,
    `:|` at a line end and `|2` at the next line's start are `:|2`."""
    out: list[Bar] = []
    for bar in bars:
        if not out or out[-1].onset != bar.onset:
            out.append(bar)
            continue
        prev = out[-1]
        closes = ":|" in (prev.kind, bar.kind) or "::" in (prev.kind, bar.kind)
        opens = "|:" in (prev.kind, bar.kind) or "::" in (prev.kind, bar.kind)
        kind = "::" if closes and opens else ":|" if closes else "|:" if opens else None
        kind = kind or (bar.kind if prev.kind == "|" else prev.kind)
        out[-1] = replace(prev, kind=kind, ending=prev.ending or bar.ending)
    return out


def ending_numbers(ending: str) -> list[int]:
    """'1,3' -> [1, 3]; '1-3' -> [1, 2, 3]; numbers above MAX_PASSES are typos."""
    numbers: list[int] = []
    for part in ending.split(","):
        low, _, high = part.strip().partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            numbers += range(int(low), min(int(high or low), MAX_PASSES) + 1)
    return numbers


def _passes(bars: list[Bar], first: int) -> int:
    """How many times the section starting before bars[first] is played."""
    highest = 2
    for bar in bars[first:]:
        if bar.ending:
            highest = max([highest, *ending_numbers(bar.ending)])
        elif bar.kind != "|":
            break
    return highest


def _resume(bars: list[Bar], skipped: int, turn: int) -> int:
    """Where play goes on after skipping the ending that begins at bars[skipped]."""
    for j in range(skipped + 1, len(bars)):
        bar = bars[j]
        if bar.ending is not None:
            if turn in ending_numbers(bar.ending):
                return j
        elif bar.kind != "|":
            return j
    return len(bars)
