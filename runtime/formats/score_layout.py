"""The measures a score shows, laid out so that notation programs play the tune
as abc2midi does (`repeats.py`).

Measures follow the written bar lines. Repeat signs and voltas go where the
played order needs them: a forward repeat where play goes back to, a backward
one (with `times` when it is passed more than twice) where it goes back from,
a volta over each ending as abc2midi reads it. Each stretch of play between
parts of a P: order is written on its own, in the order the parts are played.
The result is played back here as MuseScore 3 plays repeats; where the signs
cannot say what abc2midi plays (its third passes, music it skips), that
stretch is written out in played order instead, with no signs at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

from abcgen.runtime.abc.events import Bar, ChordSymbol, FieldChange, Note, Tune
from abcgen.runtime.abc.repeats import Volta, ending_numbers, passages, voltas

_STYLE = {"||": "light-light", "|]": "light-heavy",
          "[|": "light-light"}  # MuseScore 3 has no thick-thin bar line on the right
Item = Note | ChordSymbol | FieldChange


@dataclass
class Measure:
    items: list[Item] = field(default_factory=list)
    start: Fraction = Fraction(0)  # the written time it covers
    end: Fraction = Fraction(0)
    start_repeat: bool = False
    end_repeat: bool = False
    right_style: str | None = None
    ending: str | None = None  # volta number(s) starting here, as written
    ending_stop: tuple[str, str] | None = None  # (volta number(s), 'stop' or 'discontinue')
    repeat_times: int = 2  # passes through the section it ends

    @property
    def has_notes(self) -> bool:
        return any(isinstance(i, Note) for i in self.items)


def layout(tune: Tune) -> list[Measure]:
    """The measures of the score, each stretch of play folded into repeat signs
    where they say it, else written out."""
    written = cut(tune.events)
    out: list[Measure] = []
    stretch: list[tuple[Fraction, Fraction, str]] = []
    endings = voltas(tune)
    for span in passages(tune):
        stretch.append(span)
        if span[2] in ("part", "end"):
            block = _fold(written, stretch, endings) or _unfold(tune, stretch)
            out += _restated(tune, block, stretch[0][0]) if out else block
            stretch = []
    if stretch:
        out += _restated(tune, _fold(written, stretch, endings) or _unfold(tune, stretch),
                         stretch[0][0])  # fmt: skip
    return out


def cut(events: list, start: Fraction = Fraction(0)) -> list[Measure]:
    """The events cut into measures at the bar lines (bar lines with no note
    between them, as `:| |:`, make one boundary); the first begins at `start`."""
    measures: list[Measure] = []
    cur = Measure(start=start)
    for e in events:
        if not isinstance(e, Bar):
            if isinstance(e, Note) and e.measures > 1:  # `Z4`: four bars of rest
                rest = replace(e, duration=e.duration / e.measures, measures=1)
                for k in range(e.measures - 1):
                    cur.items.append(replace(rest, onset=e.onset + k * rest.duration))
                    cur.end = e.onset + (k + 1) * rest.duration
                    measures.append(cur)
                    cur = Measure(start=cur.end)
                e = replace(rest, onset=e.onset + (e.measures - 1) * rest.duration)
            cur.items.append(e)
        elif cur.has_notes:
            cur.end = e.onset
            cur.right_style = _STYLE.get(e.kind)
            measures.append(cur)
            cur = Measure(start=e.onset)
        else:
            cur.start = e.onset if measures else cur.start
            if e.kind in _STYLE and measures:
                measures[-1].right_style = measures[-1].right_style or _STYLE[e.kind]
    if cur.has_notes:
        notes = [n for n in cur.items if isinstance(n, Note) and not n.grace]
        cur.end = max((n.onset + n.duration for n in notes), default=cur.start)
        measures.append(cur)
    elif measures:  # symbols or fields after the last bar line still belong to the tune
        measures[-1].items += [i for i in cur.items if isinstance(i, ChordSymbol)]
    return measures


def _fold(written: list[Measure], stretch: list, endings: list[Volta]) -> list[Measure] | None:
    """The measures of one stretch of play with repeat signs and voltas that play
    back in the same order, or None when they cannot."""
    starts = {m.start: i for i, m in enumerate(written)}
    ends = {m.end: i for i, m in enumerate(written)}
    runs = []
    for a, b, _ in stretch:
        if a not in starts or b not in ends or ends[b] < starts[a]:
            return None
        runs.append(range(starts[a], ends[b] + 1))
    lo, hi = min(r.start for r in runs), max(r.stop for r in runs)
    block = [_copy(m) for m in written[lo:hi]]
    for (_, _, why), run, after in zip(stretch, runs, runs[1:], strict=False):
        if why == "repeat":
            back, to = block[run[-1] - lo], block[after[0] - lo]
            back.repeat_times = back.repeat_times + 1 if back.end_repeat else 2
            back.end_repeat, to.start_repeat = True, True
    begin, finish = block[0].start, block[-1].end
    for volta in endings:
        first, last = starts.get(volta.start), ends.get(volta.end, hi - 1)
        if not begin <= volta.start < finish:
            continue
        if first is None or last < first:
            return None  # an ending that does not begin with a measure
        last = min(last, hi - 1)
        block[first - lo].ending = volta.text
        block[last - lo].ending_stop = (volta.text, "stop" if volta.closed else "discontinue")
    for m in block:
        if m.end_repeat:
            m.right_style = "light-heavy"
    played = [i - lo for run in runs for i in run]
    return block if musescore_plays(block) == played else None


def _unfold(tune: Tune, stretch: list) -> list[Measure]:
    """The stretch written out in played order, a double bar where play jumps."""
    out: list[Measure] = []
    for a, b, _ in stretch:
        inside = [e for e in tune.events
                  if a <= e.onset < b or (isinstance(e, Bar) and e.onset == b)]  # fmt: skip
        piece = cut(inside, a)
        if not piece:
            continue
        if out:
            piece = _restated(tune, piece, a)
            out[-1].right_style = out[-1].right_style or "light-light"
        out += [_copy(m) for m in piece]
    return out


def _restated(tune: Tune, block: list[Measure], at: Fraction) -> list[Measure]:
    """The block with the key and meter in force where it starts written at its
    start, since play may come to it from another key or meter."""
    if not block:
        return block
    fields = {}
    for e in tune.events:
        if isinstance(e, Note) and e.onset >= at:
            break
        if isinstance(e, FieldChange) and e.name in "KM" and e.onset <= at:
            fields[e.name] = e
    first = replace(block[0], items=[*fields.values(), *block[0].items])
    return [first, *block[1:]]


def _copy(m: Measure) -> Measure:
    """A measure whose items are new objects: the writer keys ties and tuplets by
    object, and a measure may be written more than once."""
    return replace(m, items=[replace(i) for i in m.items])


def musescore_plays(measures: list[Measure]) -> list[int] | None:
    """The order MuseScore 3 plays measures in from their repeat signs and voltas:
    a backward repeat goes back to the last forward repeat (or the start) until it
    has been passed `repeat_times` times; a volta not for the current pass is
    skipped to the measure after its end. None where MuseScore plays otherwise
    than this reading, or may (a volta skipped on the first pass, or not followed
    by another volta; a repeat outside the voltas going back over them; a forward
    repeat inside a volta), so that such a stretch is written out."""
    volta_end: dict[int, int] = {}
    in_volta = [False] * len(measures)
    opened = None
    for i, m in enumerate(measures):
        if m.ending is not None:
            opened = i
        if opened is not None:
            in_volta[i] = True
        if m.ending_stop is not None and opened is not None:
            volta_end[opened], opened = i, None
    out: list[int] = []
    start, passno, back = 0, 1, [0] * len(measures)
    i = 0
    while i < len(measures) and len(out) <= 64 * len(measures):
        m = measures[i]
        if in_volta[i] and m.start_repeat and m.ending is None:
            return None
        if m.ending is not None and passno not in ending_numbers(m.ending):
            i = volta_end.get(i, i) + 1
            if passno == 1 or (i < len(measures) and measures[i].ending is None):
                return None
            continue
        out.append(i)
        if m.end_repeat and back[i] + 1 < m.repeat_times:
            if not in_volta[i] and any(in_volta[start:i]):
                return None
            back[i] += 1
            passno += 1
            i = start
            continue
        i += 1
        if i < len(measures) and measures[i].start_repeat:
            start, passno = i, 1
    return out
