"""Played order: repeats, endings and parts, played the way abc2midi plays them.

ABC 2.1 leaves much of this open (sections 4.8, 4.9 and 4.14) and tools differ,
so abcgen plays what abc2midi 4.84 plays, the reference the tests compare
against note for note. It does so in abc2midi's two steps:

1. Repair. Before the first `:|` or `::` with no `|:` before it, a `|:` is
   assumed at the start of the tune (with a P: order, of the part). Without a
   P: order, a later `:|`, `::` or first ending with no `|:` before it repeats
   from the last double bar or `:|` before it (which becomes `::`), and a
   second `|:` with no `:|` between becomes `::`.
2. Play. `|:` marks where a repeat goes back to; `:|` goes back once, or more
   often after endings; `::` ends one repeat and starts the next; an ending
   (`[1`, `|2`, `[1,3`, `[2-4`) not meant for the current pass is skipped up to
   the next `:|`, `|:`, double bar, part or ending (not `::`). After an ending
   is played the section may be passed once more: `|:A|1B:|2C:|` plays A B A C A.

Bar lines are read as abc2midi reads them, a character at a time: `||:` is a
double bar and a dotted bar, so no repeat starts there; `:|:` is a `:|` and a
dotted bar; `[|:` and `:||:` are what they look like. A P: field in the header
gives the order of the parts that P: fields in the body label: `P:AAB`,
`P:(AB)2C`, `P:A2B` (the last part twice), with dots and spaces ignored; music
before the first label is played first, parts the order names but the body
lacks are skipped, and without an order in the header body labels do nothing.

The unit of work is a span of written time, so notes keep their source
positions, and a prefix of a tune expands to a prefix of its played order
(`Tune.complete` is False while a tune is still being written: a part the
order names next but the text has not reached yet then ends the playing).
Only the repairs of step 1 look ahead: where a late `::` or ending lacks its
`|:` and an ending lies between it and the bar line it repairs, a prefix may
play otherwise than the whole tune (a few random layouts in a hundred, none
in the held-out tunebooks; tests/test_repeats.py measures it).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, replace
from fractions import Fraction

from abcgen.runtime.abc.events import Bar, FieldChange, Note, Tune

MAX_PASSES = 8  # ending numbers above this are read as typos
# A P: order is read up to one part past this; limits.py refuses a tune whose order is longer.
MAX_PARTS = 100
# marks, as abc2midi's features: bar lines, an ending, a part label
SINGLE, DOUBLE, START, END, BOTH, ENDING, PART = "|", "||", "|:", ":|", "::", "[n", "P"
_STOP_SKIP = {END, START, DOUBLE, PART, ENDING}  # where a skipped ending ends (not `::`)
_FEATURES = {"||": DOUBLE, "|]": DOUBLE, "|:": START, "::": BOTH, ":|": END, "[|": DOUBLE,
             "]|": DOUBLE}  # fmt: skip
_BY_KIND = {"|": "|", "||": "||", "|]": "|]", "[|": "[|", "|:": "|:", ":|": ":|", "::": "::"}


@dataclass
class _Mark:
    kind: str
    onset: Fraction
    numbers: tuple[int, ...] = ()  # ENDING: the passes it is played on
    label: str = ""  # PART; ENDING: as written
    line: int = 1  # where it is written (a mark repair adds: where the tune begins)
    col: int = 1


@dataclass(frozen=True)
class Volta:
    """An ending as abc2midi reads it: from its mark to where a pass that skips it
    goes on (the next `:|`, `|:`, double bar, part or ending), or the tune's end."""

    start: Fraction
    end: Fraction
    text: str  # as written: '1', '1,3', '2-4'
    closed: bool  # it ends at a `:|`


def expand(tune: Tune) -> list[Note]:
    """Notes (and rests) in played order, onsets re-timed from 0, ties joined as
    abc2midi joins them: in written order, whatever is played between (`tied`)."""
    notes = tune.notes
    # Written order, but a voice overlay (`&`) goes back to its bar's start: by onset.
    order = sorted(range(len(notes)), key=lambda i: notes[i].onset)
    onsets = [notes[i].onset for i in order]
    lengths, silent = tied(notes)
    # While the tune is still being written, a tie whose next note is not there yet
    # may hold its note over whatever is played next: play stops after it, for now.
    last = max((n.onset for n in notes if not n.grace), default=Fraction(0))
    open_tie = None if tune.complete else next(
        (i for i, n in enumerate(notes) if n.tie and i not in lengths and not n.grace
         and n.onset + n.duration > last), None)  # fmt: skip
    played: list[Note] = []
    clock = Fraction(0)
    for start, end in play_order(tune):
        span = order[bisect_left(onsets, start) : bisect_left(onsets, end)]
        for i in span:
            note = notes[i]
            if i in silent:
                note = replace(note, pitch=None, tie=False)
            elif note.tie:
                note = replace(note, duration=lengths.get(i, note.duration), tie=False)
            played.append(replace(note, onset=clock + note.onset - start))
        clock += end - start
        if open_tie is not None and start <= notes[open_tie].onset < end:
            break
    if not tune.complete:  # nothing sounds past where play stops for now: a held
        played = [n if n.onset + n.duration <= clock  # note may be cut by what follows
                  else replace(n, duration=max(clock - n.onset, Fraction(0))) for n in played]
    return played


def tied(notes: list[Note]) -> tuple[dict[int, Fraction], set[int]]:
    """Ties joined in written order, as abc2midi does before it plays: a tied note
    takes on the length of the next note of its pitch that starts where it ends
    (and of that one's tie, and so on), and those notes fall silent. So a tie
    into a repeat or an ending holds the note, whatever is played next. Returns
    the joined lengths of the ties that found their note, and the silenced notes,
    by index in `notes`."""
    at: dict[tuple[Fraction, int], list[int]] = {}
    for i, n in enumerate(notes):
        if n.pitch is not None and not n.grace:
            at.setdefault((n.onset, n.pitch.midi), []).append(i)
    lengths: dict[int, Fraction] = {}
    silent: set[int] = set()
    for i, n in enumerate(notes):
        if not n.tie or i in silent or n.pitch is None or n.grace:
            continue
        length, j = n.duration, i
        while notes[j].tie:  # a unison `[AA]-[AA]` ties each A to its own
            here = at.get((n.onset + length, n.pitch.midi), [])
            k = next((k for k in here if k not in silent and k > j), None)
            if k is None:
                break
            length += notes[k].duration
            silent.add(k)
            j = k
        if j != i:
            lengths[i] = length
    return lengths, silent


def play_order(tune: Tune) -> list[tuple[Fraction, Fraction]]:
    """Spans (start, end) of written time, in the order they are played."""
    return [(a, b) for a, b, _ in passages(tune)]


def passages(tune: Tune) -> list[tuple[Fraction, Fraction, str]]:
    """Spans of written time in played order, each with why play left it: 'repeat'
    (back to a `|:`), 'ending' (an ending skipped), 'part' (to the next part of
    the P: order) or 'end'."""
    order = part_order(tune.fields["P"]) if "P" in tune.fields else None
    marks = _marks(tune, order)
    _repair(marks, order is not None)
    if order is not None and tune.complete:
        marks.append(_Mark(PART, _end(tune), label=" "))  # abc2midi ends the body with a part
    spans, _ = _play(marks, order, _end(tune), tune.complete)
    return [(a, b, why) for a, b, why in spans if b > a]


def open_repeat(tune: Tune) -> tuple[int, int] | None:
    """Where a `|:` is still open when play ends (line, column), as abc2midi finds it;
    None when every repeat is closed."""
    order = part_order(tune.fields["P"]) if "P" in tune.fields else None
    marks = _marks(tune, order)
    _repair(marks, order is not None)
    if order is not None:
        marks.append(_Mark(PART, _end(tune), label=" "))
    _, left = _play(marks, order, _end(tune), True)
    return None if left is None else (left.line, left.col)


def voltas(tune: Tune) -> list[Volta]:
    """The tune's endings, in written order, with the stretch each one covers."""
    order = part_order(tune.fields["P"]) if "P" in tune.fields else None
    marks = _marks(tune, order)
    _repair(marks, order is not None)
    found = []
    for j, m in enumerate(marks):
        if m.kind == ENDING:
            k = next((k for k in range(j + 1, len(marks)) if marks[k].kind in _STOP_SKIP), None)
            end = _end(tune) if k is None else marks[k].onset
            found.append(Volta(m.onset, end, m.label, k is not None and marks[k].kind == END))
    return found


def part_order(spec: str) -> list[str] | None:
    """`(AB)2C` -> A B A B C, read as abc2midi reads a header P: (a number repeats
    the last part, or the group it follows); None when a character does not
    belong in an order: abc2midi then ignores the field."""
    out: list[str] = []
    groups: list[int] = []  # where each open `(` began in `out`
    last, i = "", 0
    while i < len(spec):
        c = spec[i]
        i += 1
        if "A" <= c <= "Z":
            out.append(c)
            last = c
            continue
        if c == "(":
            groups.append(len(out))
            continue
        if c in ". +-":
            continue
        if c != ")" and not c.isdigit():
            return None
        i -= c.isdigit()
        j = i
        while j < len(spec) and spec[j].isdigit():
            j += 1
        # five digits or more repeat past the limit (and int() of 5,000 digits fails)
        times, i = (int(spec[i:j] or 1) if j - i < 5 else MAX_PARTS + 1), j
        repeated = (out[groups.pop():] if groups else []) if c == ")" else [last] * bool(out)
        room = max(MAX_PARTS + 1 - len(out), 0)  # a longer order is cut just past the limit
        out += (repeated * min(times - 1, room))[:room]
    return out


def ending_numbers(ending: str) -> list[int]:
    """'1,3' -> [1, 3]; '1-3' -> [1, 2, 3]; numbers above MAX_PASSES are typos."""
    numbers: list[int] = []
    for part in ending.split(","):
        low, _, high = part.strip().partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            numbers += range(int(low), min(int(high or low), MAX_PASSES) + 1)
    return numbers


def bar_features(text: str) -> list[str]:
    """The marks abc2midi reads in a bar line, a character at a time: `||:` is a
    double bar and a dotted bar (read as a double bar), `:|:` a `:|` and one."""
    out: list[str] = []
    i = 0
    while i < len(text):
        two = text[i : i + 2]
        if two in ("|:", "||", "|]", "::", ":|", "[|", "]|"):
            out.append(_FEATURES[two])
            i += 2
            if two == ":|" and text[i : i + 1] == "]":
                i += 1
            elif two == "[|" and text[i : i + 1] == ":":
                out.append(START)
                i += 1
        else:
            out.append(SINGLE if text[i] == "|" else DOUBLE if text[i] == ":" else "")
            i += 1
    return [f for f in out if f]


def _end(tune: Tune) -> Fraction:
    end = max((n.onset + n.duration for n in tune.notes if not n.grace), default=Fraction(0))
    return max([end] + [e.onset for e in tune.events if isinstance(e, Bar)])


def _marks(tune: Tune, order: list[str] | None) -> list[_Mark]:
    """The tune's bar lines, endings and (with an order) part labels, in written
    order, after the double bar abc2midi opens the music with."""
    marks = [_Mark(DOUBLE, Fraction(0))]
    guessed = order[0] if order is not None and len(order) == 1 else None
    if guessed:  # `P:A` in the header may label the start of the body instead
        marks.insert(0, _Mark(PART, Fraction(0), label=guessed))
    for e in tune.events:
        if isinstance(e, Bar):
            text = e.text if e.text is not None else _BY_KIND[e.kind]
            marks += [_Mark(kind, e.onset, line=e.line, col=e.col) for kind in bar_features(text)]
            if e.ending is not None:
                numbers = tuple(ending_numbers(e.ending))
                marks.append(_Mark(ENDING, e.onset, numbers, e.ending))
        elif isinstance(e, FieldChange) and e.name == "P" and order is not None:
            label = e.value.strip()[:1]
            if not "A" <= label <= "Z":
                continue
            if guessed == label:
                del marks[0]  # the header's label was the order after all
                guessed = None
            marks.append(_Mark(PART, e.onset, label=label))
    return marks


def _repair(marks: list[_Mark], parts: bool) -> None:
    """abc2midi's repairs of missing `|:` (store.c: scan_for_missing_repeats, fixreps)."""
    start, found, insert_after = 0, False, []
    for i, m in enumerate(marks):
        if m.kind == PART:
            start, found = i, False
        elif m.kind == START:
            found = True
        elif m.kind in (END, BOTH) and not found:
            insert_after.append(start)
            found = True
    for i in reversed(insert_after):
        marks.insert(i + 1, _Mark(START, marks[i].onset))
    if parts:
        return
    point, expect, endings = 0, False, 0
    for i, m in enumerate(marks):
        if m.kind == DOUBLE:
            point = i
        elif m.kind == START:
            if expect:
                m.kind = BOTH
            expect = True
        elif m.kind == END:
            if not expect and endings < 1:
                _assume_start(marks[point])
            expect, point = False, i
        elif m.kind == ENDING:
            if endings == 0 and not expect:
                _assume_start(marks[point])
            endings += 1
        elif m.kind == BOTH:
            if not expect:
                _assume_start(marks[point])
            expect = True


def _assume_start(mark: _Mark) -> None:
    if mark.kind in (DOUBLE, SINGLE):
        mark.kind = START
    elif mark.kind == END:
        mark.kind = BOTH


def _play(marks: list[_Mark], order: list[str] | None, end: Fraction, complete: bool
          ) -> tuple[list[tuple[Fraction, Fraction, str]], _Mark | None]:  # fmt: skip
    """abc2midi's pass through the marks (genmidi.c: writetrack): the spans played,
    and the `|:` left open at the end (abc2midi: "Missing :| at end of tune")."""
    starts = {m.label: i for i, m in enumerate(marks) if m.kind == PART}  # the last one counts
    spans: list[tuple[Fraction, Fraction, str]] = []
    run = Fraction(0)  # where the span being played began
    j, saved, passes, most, expect = 0, 0, 1, 2, False
    next_part, stop = 0, end
    while j < len(marks):
        m = marks[j]
        jump = None  # (index of the mark play goes on after, why)
        if m.kind == PART and order is not None:
            while complete and next_part < len(order) and order[next_part] not in starts:
                next_part += 1  # a part the body lacks (while it is arriving: not yet)
            if next_part == len(order) or order[next_part] not in starts:
                stop = m.onset
                break
            jump = (starts[order[next_part]], "part")
            next_part += 1
        elif m.kind == START:
            saved, expect, passes, most = j, True, 1, 2
        elif m.kind == END:
            if (passes == 1 and expect) or 1 < passes < most:
                jump, passes, expect = (saved, "repeat"), passes + 1, False
        elif m.kind == BOTH:
            if passes > 1 or not expect:
                saved, expect, passes, most = j, True, 1, (2 if passes > 1 else most)
            else:
                jump, passes = (saved, "repeat"), passes + 1
        elif m.kind == ENDING:
            current = passes if (expect or passes > 1) else 1
            if current in m.numbers:
                most = current + 1 if most < 4 else most
            else:
                k = j + 1
                while k < len(marks) and marks[k].kind not in _STOP_SKIP:
                    k += 1
                if k == len(marks):
                    stop = m.onset
                    break
                spans.append((run, m.onset, "ending"))
                run = marks[k].onset
                j = k if marks[k].kind == PART else k + 1
                continue
        if jump is not None:
            spans.append((run, m.onset, jump[1]))
            j = jump[0]
            run = marks[j].onset
        j += 1
    spans.append((run, stop, "end"))
    return spans, marks[saved] if expect and passes == 1 else None
