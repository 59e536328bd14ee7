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
the bar; an accidental holds to the end of the bar in every octave of its
letter unless `%%propagate-accidentals octave` or `not` says otherwise; `(5`
`(7` `(9` take the time of 3 wherever the meter's numerator is a multiple of 3
(3/4 and 15/8 too; meter.py).

A note is held back until the next token shows it is finished (`A` may still
become `A>` or `A-`); bar lines wait with it, since an ending `[2` may follow.
Times are given when held items are released, so onsets stay exact.

This module keeps the state, the token loop, bar lines and the release of what
is held; the handlers of the music's tokens are in note_tokens.py, those of header
lines, fields and directives in field_tokens.py.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from abcgen.runtime.abc.bars import BarClock, bar_kind, takes_ending_number
from abcgen.runtime.abc.events import Bar, Diagnostic, Event, Note, Tune
from abcgen.runtime.abc.field_tokens import FieldTokens
from abcgen.runtime.abc.keys import Key
from abcgen.runtime.abc.lexer import Lexer, Token
from abcgen.runtime.abc.meter import Meter
from abcgen.runtime.abc.note_tokens import (
    Accidentals,
    BarLine,
    Chord,
    Group,
    Head,
    Held,
    Marker,
    NoteTokens,
)
from abcgen.runtime.abc.overlay import Overlay, OverlayTokens
from abcgen.runtime.abc.repeats import open_repeat

_SILENT = {"ignored"}
_EMITTING = {"inline", "field", "line", "music", "blank", "overlay"}  # what is held goes first


def parse(text: str) -> Tune:
    """Parse one tune: a full tune with X:, a canonical M:/L:/K: tune, or one
    tune cut from a tunebook."""
    parser = Parser()
    parser.feed(text)
    parser.close()
    return parser.tune


class Parser(NoteTokens, FieldTokens, OverlayTokens):
    """Reads one tune incrementally, so that live playback can render a tune
    while the model is still writing it.

    State: `in_body`, `key`, `meter`, `unit`; `time` (onset of the next
    released note), `bar_start` and `bar` (onset and index of the bar being
    filled); `held` (notes and bar lines waiting for the next token);
    `open_chord`, `in_grace`, `tuplet_left`, `slurs`, `spaced`; `pending` (text not yet
    a token: an open string, `!..!` or inline field shows there).
    """

    def __init__(self) -> None:
        self.tune = Tune(complete=False)
        self.in_body = False
        self.done = False  # a blank line ended the tune, or close() was called
        self.key = Key("C", "maj", 0)
        self.meter: Meter | None = None
        self.unit = Fraction(1, 8)
        self.time = Fraction(0)
        self.bars = BarClock()
        self.held: list[Held] = []
        self.open_chord: Chord | None = None
        self.in_grace = False
        self.tuplet_left = 0
        self.slurs = 0
        self.spaced = True  # a space or line break since the last note (not in a chord)
        self.overlay: Overlay | None = None  # voices after `&` (overlay.py)
        self._lexer = Lexer()
        self._out: list[Event] = []
        self._header: list[tuple[str, str, int, int]] = []  # name, value, line, col
        self._last_group: Group | None = None  # what `-` and `>` apply to
        self._accidentals = Accidentals()
        self._tied: dict[tuple[str, int], int] = {}  # pitches tied into the next group
        self._tie_heads: list[Head] = []  # the notes tied into the next group
        self._broken: tuple[Group, Token] | None = None  # `>` waiting for its second note
        self.broken_ratio = (3, 1)  # `>` plays 3:1 unless `%%MIDI ratio` says otherwise
        self._tuplet = (3, 2, Fraction(2, 3))  # p, q, q/p of the open tuplet
        self._tuplet_index = 0
        self._decorations: list[str] = []
        self._last = (1, 1)  # position of the last note, for end-of-tune messages
        self._tail = "line start"  # after the end: where the ignored text has got to
        self._tail_line = 0
        self._warned: set[str] = set()
        self._parts: set[str] = set()  # part labels met in the body

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

    def _on_ws(self, t: Token) -> None:
        """A space or line break between notes breaks their beam (ABC 2.1, 4.7)."""
        if not self.in_grace and self.open_chord is None:
            self.spaced = True

    _on_nl = _on_ws

    # -- bar lines ---------------------------------------------------------------

    def _on_bar(self, t: Token) -> None:
        if self._overlay_bar():
            return
        self._close_open_parts(t)
        text, ending = t.match["barline"], t.match["barending"]
        if ending and not takes_ending_number(text):
            self._warn(t, f"ending {ending} straight after `{text}` is played as an ending, "
                          f"but abc2midi reads no ending there: write `{text}[{ending}`")
        self.held.append(BarLine(bar_kind(text), t.line, t.col, ending, text))
        self._accidentals.clear()

    def _on_ending(self, t: Token) -> None:
        if self._overlay_bar():
            return
        last = next((h for h in reversed(self.held) if not isinstance(h, Marker)), None)
        if isinstance(last, BarLine) and last.ending is None:
            last.ending = t.text[1:]  # `:| [2`, `:|"D"[2`: the ending belongs to that bar line
            return
        self._close_open_parts(t)
        self.held.append(BarLine("|", t.line, t.col, t.text[1:], ""))
        self._accidentals.clear()

    def _close_open_parts(self, t: Token) -> None:
        self.spaced = True  # a bar line breaks a beam, as a space does (where lines break)
        if self.open_chord is not None:  # abc2midi reads on into the next bar: so do we
            self._error(t, "chord not closed before the bar line")
        if self.in_grace:
            self._error(t, "grace notes not closed before the bar line")
            self.in_grace = False

    def _close_bar(self, mark: BarLine) -> None:
        self._emit(Bar(self.time, mark.kind, self.bars.index, mark.line, mark.col, mark.ending,
                       mark.text))
        kind = "ending" if mark.ending else mark.kind
        self._report(self.bars.close(self.time, self.meter, kind, mark.line, mark.col))

    # -- releasing held items ----------------------------------------------------

    def _release(self) -> None:
        held, self.held, self._last_group = self.held, [], None
        for item in held:
            if isinstance(item, BarLine):
                self._close_bar(item)
                continue
            if isinstance(item, Marker):
                self._emit(replace(item.symbol, onset=self.time))
                continue
            duration = item.written * item.scale if item.tuplet else item.written
            voice = self.voice
            bar = self.bars.index if voice == 1 else self.overlay.voice_bar
            for i, h in enumerate(item.heads):
                self._emit(
                    Note(self.time, duration, h.pitch, bar, h.line, h.col, item.written,
                         h.accidental, h.tie, item.grace, item.tuplet, i, item.invisible,
                         item.measures, h.decorations, item.spaced, voice)
                )  # fmt: skip
            if item.grace:
                continue
            self._last = (item.heads[0].line, item.heads[0].col)
            self.time += duration
            if voice == 1:  # the first voice fills the bars
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
        if self.overlay is not None:
            self._end_overlay()
        self._ties_end(set())
        if self.tuplet_left:
            self._warn_once("tuplet", *self._last, "tuplet not complete at the end of the tune")
        self._report(self.bars.finish(self.time, self.meter, *self._last))
        self.tune.complete = True
        left_open = open_repeat(self.tune)
        if left_open is not None:
            self._error_at(*left_open, "a |: that no :| closes (the tune ends inside it)")

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
