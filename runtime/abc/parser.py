"""The incremental ABC parser: text in, timed events out, problems as diagnostics.

`Parser.feed` takes any piece of a tune (down to one character, as a generator
writes it) and returns the events that became certain; `parse` feeds a whole
tune through the same path. Nothing here raises on bad input: each problem is
a `Diagnostic` with a line, a column and a plain message, and parsing goes on.

Where ABC 2.1 leaves room, the reading follows abc2midi, the reference the
tests compare against note by note: a chord lasts as long as its first note
(all its notes sound that long); broken rhythm may reach over spaces and bar
lines, and joins only notes written equally long; a tie carries its note's
accidental over a bar line; accidentals on grace notes count for the rest of
the bar. Where ABC 2.1 is explicit it wins: accidentals hold to the end of
the bar on that octave only, and `(5` `(7` `(9` take the time of 3 only in
compound meters (6/8, 9/8, 12/8; abc2midi also in 3/4 and 3/8).

A note is held back until the next token shows it is finished (`A` may still
become `A>` or `A-`); bar lines wait with it, since an ending `[2` may follow.
Times are given when held items are released, so onsets stay exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from fractions import Fraction

from abcgen.runtime.abc.bars import BarClock, bar_kind
from abcgen.runtime.abc.events import (
    Bar,
    ChordSymbol,
    Diagnostic,
    Event,
    FieldChange,
    Key,
    Meter,
    Note,
    Pitch,
    Tune,
)
from abcgen.runtime.abc.fields import (
    ALTERS,
    BROKEN,
    TUPLET_Q,
    default_unit,
    note_length,
    parse_key,
    parse_meter,
    parse_tempo,
    parse_unit,
)
from abcgen.runtime.abc.lexer import Lexer, Token

ACCIDENTAL_NAMES = {
    "^^": "double-sharp", "^": "sharp", "=": "natural", "_": "flat", "__": "flat-flat",
}  # fmt: skip
_DECORATIONS = set(".~HLMOPSTuvR")
_CHORD_SYMBOL = re.compile(r"\(?[A-G]|N\.?C\.?")
_BODY_ONLY_IN_HEADER = "XABCDFGHOSZ"  # fields that have no meaning in a tune body
_SILENT = {"ws", "nl", "comment", "ignored"}
_EMITTING = {"string", "inline", "field", "line", "music", "blank"}  # tokens that emit events
_PITCHES: dict[tuple[str, int, int], Pitch] = {}  # immutable, so made once and shared


def parse(text: str) -> Tune:
    """Parse one tune: a full tune with X:, a canonical M:/L:/K: tune, or one
    tune cut from a tunebook."""
    parser = Parser()
    parser.feed(text)
    parser.close()
    return parser.tune


@dataclass(slots=True)
class _Head:
    """One note (or rest) of a held group."""

    pitch: Pitch | None
    line: int
    col: int
    accidental: str | None = None
    tie: bool = False
    decorations: tuple[str, ...] = ()


@dataclass(slots=True)
class _Group:
    """A note, rest or chord held until the next token shows it is finished."""

    heads: list[_Head]
    written: Fraction  # notated length; broken rhythm multiplies it
    scale: Fraction = Fraction(1)  # tuplet factor q/p
    tuplet: tuple[int, int, int] | None = None
    grace: bool = False
    invisible: bool = False
    measures: int = 0


@dataclass(slots=True)
class _BarLine:
    kind: str
    line: int
    col: int
    ending: str | None = None


@dataclass(slots=True)
class _Chord:
    """An open `[...`: its notes so far and where it began."""

    line: int
    col: int
    decorations: tuple[str, ...]
    heads: list[_Head] = field(default_factory=list)
    written: Fraction | None = None


def _without_comment(value: str) -> str:
    """A field's value: what comes before a `%` comment, trimmed."""
    return value.split("%", 1)[0].strip()


class Parser:
    """Reads one tune incrementally.

    State worth inspecting (constrained generation reads it): `in_body`,
    `key`, `meter`, `unit`; `time` (onset of the next released note),
    `bar_start` and `bar` (onset and index of the bar being filled);
    `bar_so_far` and `bar_line_allowed()`; `held` (notes and bar lines
    waiting for the next token); `open_chord`, `in_grace`, `tuplet_left`,
    `slurs`; `pending` (text not yet a token: an open string, `!..!` or
    inline field shows there).
    """

    def __init__(self) -> None:
        self.tune = Tune()
        self.in_body = False
        self.done = False  # a blank line ended the tune, or close() was called
        self.key = Key("C", "maj", 0)
        self.meter: Meter | None = None
        self.unit = Fraction(1, 8)
        self.time = Fraction(0)
        self.bars = BarClock()
        self.held: list[_Group | _BarLine] = []
        self.open_chord: _Chord | None = None
        self.in_grace = False
        self.tuplet_left = 0
        self.slurs = 0
        self._lexer = Lexer()
        self._out: list[Event] = []
        self._header: list[tuple[str, str, int, int]] = []  # name, value, line, col
        self._last_group: _Group | None = None  # what `-` and `>` apply to
        self._accidentals: dict[tuple[str, int], int] = {}  # (step, octave) -> alter
        self._tied: dict[tuple[str, int], int] = {}  # pitches tied into the next group
        self._broken: tuple[_Group, Token] | None = None  # `>` waiting for its second note
        self._tuplet = (3, 2, Fraction(2, 3))  # p, q, q/p of the open tuplet
        self._tuplet_index = 0
        self._decorations: list[str] = []
        self._last = (1, 1)  # position of the last note, for end-of-tune messages
        self._tail = "line start"  # after the end: where the ignored text has got to
        self._tail_line = 0
        self._warned: set[str] = set()

    @property
    def pending(self) -> str:
        """Text received that is not a whole token yet."""
        return self._lexer.pending

    @property
    def work(self) -> int:
        """Characters examined so far: a clock-free measure of cost that stays
        proportional to the input however it is cut into pieces."""
        return self._lexer.work

    @property
    def bar(self) -> int:
        """Index of the bar being filled (0-based; bar 0 may be a pickup)."""
        return self.bars.index

    @property
    def bar_start(self) -> Fraction:
        return self.bars.start

    @property
    def bar_so_far(self) -> Fraction:
        """Length of the bar being written, held notes included (not `pending`
        text: `c4` at the very end may still become `c4/`)."""
        return self._open_bar()[0]

    def bar_line_allowed(self, kind: str = "|") -> bool:
        """Whether a bar line of this kind written now keeps the tune valid: the
        bar is full, or short where a short bar is fine (runtime/abc/bars.py)."""
        so_far, clock = self._open_bar()
        need = clock.need(self.meter) if self.in_body else None
        if need is None or not clock.has_notes or so_far == need:
            return True
        return so_far < need and clock.short_is_fine(kind)

    def _open_bar(self) -> tuple[Fraction, BarClock]:
        """The bar being written as if everything held were released."""
        time, clock = self.time, replace(self.bars)
        for item in self.held:
            if isinstance(item, _BarLine):
                clock.close(time, None, "ending" if item.ending else item.kind, 0, 0)
            elif not item.grace:
                time += item.written * item.scale if item.tuplet else item.written
                clock.add(item.measures)
        return time - clock.start, clock

    def feed(self, text: str) -> list[Event]:
        """Read more text; return the events it made certain."""
        if self.done:
            self._after_end(text)
        elif self._lexer.feed(text):
            self._read_tokens(final=False)
        return self._take()

    def close(self) -> list[Event]:
        """End of input: release everything held and check the last bar."""
        if not self.done:
            self._read_tokens(final=True)
            self._finish()
        return self._take()

    # -- tokens --------------------------------------------------------------

    def _read_tokens(self, final: bool) -> None:
        for token in self._lexer.tokens(final):
            kind = token.kind
            if kind in _EMITTING:
                self._release()  # what is held comes first in written order
            if kind not in _SILENT:
                getattr(self, "_on_" + kind)(token)
            if self.done:
                self._after_end(self._lexer.pending)
                return

    def _on_note(self, t: Token) -> None:
        m = t.match
        head = _Head(self._pitch(m, t), t.line, t.col, ACCIDENTAL_NAMES.get(m["acc"] or ""))
        written = self._written(m["len"], t)
        chord = self.open_chord
        if chord is None:
            self._add_group([head], written, t)
            return
        chord.heads.append(head)
        if chord.written is None:
            chord.written = written
        elif written != chord.written:
            self._warn(t, "notes of a chord differ in length: all sound as long as the first")

    def _on_rest(self, t: Token) -> None:
        if self.open_chord is not None:
            return self._warn(t, "rest inside a chord ignored")
        heads = [_Head(None, t.line, t.col)]
        self._add_group(heads, self._written(t.match["rlen"], t), t, invisible=t.text[0] == "x")

    def _on_mrest(self, t: Token) -> None:
        measures = int(t.match["bars"] or 1)
        if measures == 0 or self.open_chord is not None:
            return self._error(t, f"cannot read multi-bar rest {t.text!r}")
        per_bar = self.meter.bar_length if self.meter else self.unit
        heads = [_Head(None, t.line, t.col)]
        self._add_group(heads, per_bar * measures, t, invisible=t.text[0] == "X", measures=measures)

    def _pitch(self, m: re.Match[str], t: Token) -> Pitch:
        step = m["step"].upper()
        octave = (4 if m["step"].isupper() else 5) + m["octave"].count("'") - m["octave"].count(",")
        place = (step, octave)
        if m["acc"]:
            alter = self._accidentals[place] = ALTERS[m["acc"]]
        elif place in self._tied:
            alter = self._tied[place]
        else:
            alter = self._accidentals.get(place, self.key.alter_of(step))
        if not 0 <= octave <= 8:
            self._error(t, "note is outside the MIDI range")
            octave = max(0, min(octave, 8))
        pitch = _PITCHES.get((step, octave, alter))
        if pitch is None:
            pitch = _PITCHES.setdefault((step, octave, alter), Pitch(step, octave, alter))
        return pitch

    def _written(self, text: str, t: Token) -> Fraction:
        """Written length in whole notes."""
        return self._length(text, t) * self.unit

    def _length(self, text: str, t: Token) -> Fraction:
        """`2` `/2` `/` `//` `3/2` `3/` as a multiple of the unit length."""
        length = note_length(text)
        if length is None:
            self._error(t, f"length {text!r} is zero; read as 1")
            return Fraction(1)
        return length

    def _add_group(self, heads: list[_Head], written: Fraction, t: Token, **extra) -> None:
        """Hold a new note, rest or chord; what was held before it is now certain."""
        group = _Group(heads, written, **extra)
        if self._decorations:
            for head in heads:
                head.decorations = tuple(self._decorations)
            self._decorations = []
        if self.in_grace:
            group.grace = True
            self.held.append(group)
            self._last_group = group
            return
        if self._broken is not None:
            self._apply_broken(group, t)
        self._release()
        self.held.append(group)
        self._last_group = group
        if self.tuplet_left:
            p, q, group.scale = self._tuplet
            group.tuplet = (p, q, self._tuplet_index)
            self._tuplet_index += 1
            self.tuplet_left -= 1
        pitched = [h.pitch for h in heads if h.pitch is not None]
        if self._tied and pitched and not any((p.step, p.octave) in self._tied for p in pitched):
            self._warn(t, "tie between different pitches is ignored")
        self._tied = {(h.pitch.step, h.pitch.octave): h.pitch.alter for h in heads if h.tie}

    def _on_tie(self, t: Token) -> None:
        group = self._last_group
        if self.open_chord is not None:
            heads = self.open_chord.heads[-1:]  # `[A-c]`: taken up when the chord closes
        else:
            heads = group.heads if group is not None and not group.grace else []
        heads = [h for h in heads if h.pitch is not None]
        if not heads:
            return self._warn(t, "tie without a note before it")
        for h in heads:
            h.tie = True
            if self.open_chord is None:
                self._tied[(h.pitch.step, h.pitch.octave)] = h.pitch.alter

    def _on_broken(self, t: Token) -> None:
        group = self._last_group
        if group is None or group.grace or self.open_chord is not None:
            return self._error(t, "broken rhythm without a note before it")
        self._broken = (group, t)

    def _apply_broken(self, second: _Group, t: Token) -> None:
        """`A>B`: dot the first, halve the second; like abc2midi, only between
        notes written equally long."""
        first, mark = self._broken
        self._broken = None
        if first.written != second.written:
            return self._error(mark, "broken rhythm between notes of different lengths is ignored")
        longer, shorter = BROKEN[mark.text.replace("<", ">")]
        if mark.text[0] == "<":
            longer, shorter = shorter, longer
        first.written *= longer
        second.written *= shorter

    def _on_chord_open(self, t: Token) -> None:
        if self.open_chord is not None:
            return self._error(t, "chord inside a chord")
        self.open_chord = _Chord(t.line, t.col, tuple(self._decorations))
        self._decorations = []

    def _on_chord_close(self, t: Token) -> None:
        if self.open_chord is None:
            return self._error(t, "']' without '['")
        self._close_chord(t, self._length(t.match["clen"], t))

    def _close_chord(self, t: Token, multiple: Fraction) -> None:
        chord, self.open_chord = self.open_chord, None
        if not chord.heads:
            return self._warn(t, "empty chord ignored")
        self._decorations = [*chord.decorations, *self._decorations]
        self._add_group(chord.heads, (chord.written or self.unit) * multiple, t)

    def _on_grace_open(self, t: Token) -> None:
        if self.in_grace:
            return self._error(t, "grace notes inside grace notes")
        self.in_grace = True
        if t.text.endswith("/"):
            self._decorations.append("acciaccatura")

    def _on_grace_close(self, t: Token) -> None:
        if not self.in_grace:
            return self._error(t, "'}' without '{'")
        self.in_grace = False

    def _on_tuplet(self, t: Token) -> None:
        m = t.match
        p = int(m["p"])
        compound = self.meter is not None and self.meter.numerator in (6, 9, 12)
        q = int(m["q"]) if m["q"] else TUPLET_Q.get(p, 3 if compound else 2)
        r = int(m["r"]) if m["r"] else p
        if p < 2 or q < 1 or r < 1:
            return self._error(t, f"cannot read tuplet {t.text!r}")
        if self.tuplet_left:
            self._warn(t, "a tuplet starts before the previous one is complete")
        self._tuplet, self._tuplet_index, self.tuplet_left = (p, q, Fraction(q, p)), 0, r

    def _on_slur_open(self, t: Token) -> None:
        self.slurs += 1

    def _on_slur_close(self, t: Token) -> None:
        self.slurs = max(0, self.slurs - 1)

    def _on_deco(self, t: Token) -> None:
        if len(t.text) > 1:
            self._decorations.append(t.text[1:-1])
        elif t.text in _DECORATIONS:
            self._decorations.append(t.text)
        else:
            self._warn(t, f"unknown decoration {t.text!r} ignored")

    def _on_string(self, t: Token) -> None:
        if len(t.text) < 2 or not t.text.endswith('"'):
            return self._error(t, "string without a closing quote")
        if _CHORD_SYMBOL.match(t.text, 1):  # annotations ("^text", "_text"...) are dropped
            self._emit(ChordSymbol(self.time, t.text[1:-1], t.line, t.col))

    def _on_stray(self, t: Token) -> None:
        self._warn(t, f"lone {t.text[0]!r} ignored")

    def _on_other(self, t: Token) -> None:
        if t.text == "&":
            self._warn_once("voice", t.line, t.col, "voice overlay '&' is not supported")
        else:
            self._error(t, f"unexpected {t.text!r}")

    # -- fields ----------------------------------------------------------------

    def _on_inline(self, t: Token) -> None:
        if not t.text.endswith("]"):
            return self._error(t, "inline field without a closing ']'")
        self._body_field(t.text[1], t.text[3:-1], t)

    def _on_field(self, t: Token) -> None:
        """A field line in the body (`+:` continues lyrics and the like: ignored)."""
        if t.text[0] != "+":
            self._body_field(t.text[0], t.text[2:], t)

    def _body_field(self, name: str, value: str, t: Token) -> None:
        value = _without_comment(value)
        if name in _BODY_ONLY_IN_HEADER:
            return self._warn(t, f"{name}: field is not allowed in the tune body, ignored")
        if name == "M":
            self.meter = self._read(parse_meter, value, t, self.meter)
        elif name == "L":
            self.unit = self._read(parse_unit, value, t, self.unit)
        self._apply_field(name, value, t, self.time)

    def _apply_field(self, name: str, value: str, t: Token, onset: Fraction) -> None:
        """Emit a field as an event; K: and Q: are read here, M: and L: before."""
        change = FieldChange(onset, name, value, line=t.line, col=t.col)
        if name == "K":
            try:
                self.key, problems = parse_key(value)
            except ValueError as err:
                return self._error(t, str(err))
            for problem in problems:
                self._warn(t, problem)
            self._accidentals = {}
            change = replace(change, key=self.key)
        elif name == "M":
            change = replace(change, meter=self.meter)
        elif name == "Q":
            tempo = self._read(lambda v: parse_tempo(v, self.unit), value, t, None)
            change = replace(change, tempo=tempo)
        elif name == "V":
            self._warn_once("voice", t.line, t.col, "voices are not supported: read in turn")
        self._emit(change)

    def _read(self, read, value: str, t: Token, old):
        """A field value read by `read`, or `old` (with an error) if it cannot be read."""
        try:
            return read(value)
        except ValueError as err:
            self._error(t, str(err))
            return old

    # -- header ----------------------------------------------------------------

    def _on_line(self, t: Token) -> None:
        """A whole header line: a field, a comment or a blank line."""
        text = t.text.rstrip("\r\n")
        if not text.strip():
            if self._header:
                self._error(t, "blank line before the K: field: the tune ends here")
                self._finish()
        elif text[0] == "+" and self._header:
            name, value, line, col = self._header[-1]
            self._header[-1] = (name, value + " " + _without_comment(text[2:]), line, col)
        elif text[0] not in "%+":
            self._header.append((text[0], _without_comment(text[2:]), t.line, t.col))
            if text[0] == "K":
                self._start_body()

    def _on_blank(self, t: Token) -> None:
        """A blank line in the body: the end of the tune."""
        self._finish()

    def _on_music(self, t: Token) -> None:
        """Music before any K: field."""
        self._start_body()

    def _start_body(self) -> None:
        """End of the header: settle M:, L: and K:, then emit every header field."""
        self.in_body = True
        self._lexer.header = False
        tune = self.tune
        for name, value, line, col in self._header:
            tune.fields.setdefault(name, value)
            if name in "ML":
                at = Token("", "", None, line, col)
                if name == "M":
                    self.meter = self._read(parse_meter, value, at, self.meter)
                else:
                    self.unit = self._read(parse_unit, value, at, self.unit)
        if "L" not in tune.fields:
            self.unit = default_unit(self.meter)
        for name, value, line, col in self._header:
            self._apply_field(name, value, Token("", "", None, line, col), Fraction(0))
        if "K" not in tune.fields:
            self._error_at(1, 1, "no K: field before the music; read as K:C")
        tune.title = tune.fields.get("T", "")
        tune.meter, tune.unit, tune.key = self.meter, self.unit, self.key
        tempi = [e.tempo for e in tune.events if isinstance(e, FieldChange) and e.tempo]
        tune.tempo = tempi[0] if tempi else None

    # -- bar lines ---------------------------------------------------------------

    def _on_bar(self, t: Token) -> None:
        self._close_open_parts(t)
        kind = bar_kind(t.match["barline"])
        self.held.append(_BarLine(kind, t.line, t.col, t.match["barending"]))
        self._accidentals = {}

    def _on_ending(self, t: Token) -> None:
        last = self.held[-1] if self.held else None
        if isinstance(last, _BarLine) and last.ending is None:
            last.ending = t.text[1:]  # `:| [2`: the ending belongs to that bar line
            return
        self._close_open_parts(t)
        self.held.append(_BarLine("|", t.line, t.col, t.text[1:]))
        self._accidentals = {}

    def _close_open_parts(self, t: Token) -> None:
        if self.open_chord is not None:
            self._error(t, "chord not closed before the bar line")
            self._close_chord(t, Fraction(1))
        if self.in_grace:
            self._error(t, "grace notes not closed before the bar line")
            self.in_grace = False

    def _close_bar(self, mark: _BarLine) -> None:
        self._emit(Bar(self.time, mark.kind, self.bars.index, mark.line, mark.col, mark.ending))
        kind = "ending" if mark.ending else mark.kind
        self._report(self.bars.close(self.time, self.meter, kind, mark.line, mark.col))

    # -- releasing held items ----------------------------------------------------

    def _release(self) -> None:
        held, self.held, self._last_group = self.held, [], None
        for item in held:
            if isinstance(item, _BarLine):
                self._close_bar(item)
                continue
            duration = item.written * item.scale if item.tuplet else item.written
            for i, h in enumerate(item.heads):
                self._emit(
                    Note(self.time, duration, h.pitch, self.bars.index, h.line, h.col, item.written,
                         h.accidental, h.tie, item.grace, item.tuplet, i, item.invisible,
                         item.measures, h.decorations)
                )  # fmt: skip
            if item.grace:
                continue
            self._last = (item.heads[0].line, item.heads[0].col)
            self.time += duration
            self._report(self.bars.add(item.measures))

    def _emit(self, event: Event) -> None:
        self._out.append(event)
        self.tune.events.append(event)

    def _take(self) -> list[Event]:
        out, self._out = self._out, []
        return out

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        self._tail_line = self._lexer.line
        if not self.in_body:
            self._start_body()
        if self.open_chord is not None:
            at = Token("", "", None, self.open_chord.line, self.open_chord.col)
            self._error(at, "chord not closed")
            self._close_chord(at, Fraction(1))
        if self.in_grace:
            self._error_at(*self._last, "grace notes not closed")
        self._release()
        if self.tuplet_left:
            self._warn_once("tuplet", *self._last, "tuplet not complete at the end of the tune")
        self._report(self.bars.finish(self.time, self.meter, *self._last))

    def _after_end(self, text: str) -> None:
        """Text after the blank line that ended the tune is worth a warning;
        comments and blank lines (the space between tunes in a book) are not."""
        for ch in text:
            if "after" in self._warned:
                return
            if ch == "\n":
                self._tail, self._tail_line = "line start", self._tail_line + 1
            elif self._tail == "line start" and ch not in " \t\r":
                self._tail = "comment" if ch == "%" else "text"
                if ch != "%":
                    message = "text after the end of the tune (a blank line) is ignored"
                    self._warn_once("after", self._tail_line, 1, message)

    # -- diagnostics -------------------------------------------------------------

    def _report(self, diagnostic: Diagnostic | None) -> None:
        if diagnostic is not None:
            self.tune.diagnostics.append(diagnostic)

    def _error(self, t: Token, message: str) -> None:
        self._error_at(t.line, t.col, message)

    def _error_at(self, line: int, col: int, message: str) -> None:
        self.tune.diagnostics.append(Diagnostic(line, col, message))

    def _warn(self, t: Token, message: str) -> None:
        self.tune.diagnostics.append(Diagnostic(t.line, t.col, message, "warning"))

    def _warn_once(self, topic: str, line: int, col: int, message: str) -> None:
        if topic not in self._warned:
            self._warned.add(topic)
            self.tune.diagnostics.append(Diagnostic(line, col, message, "warning"))
