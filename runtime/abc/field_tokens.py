"""Header lines and fields as the parser reads them: the header up to K:, fields
in the body (`K:` lines, `[M:3/4]`), the `%%propagate-accidentals` directive and
the blank line that ends a tune.

`FieldTokens` holds the parser's handlers for these tokens; `parser.py` keeps the
state they change. The header's P: is the order the body's parts are played in
(`repeats.py`), so it stays a value of the tune rather than an event.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from abcgen.runtime.abc.events import FieldChange
from abcgen.runtime.abc.keys import parse_key
from abcgen.runtime.abc.lexer import Token
from abcgen.runtime.abc.meter import default_unit, midi_ratio, parse_meter, parse_tempo, parse_unit
from abcgen.runtime.abc.note_tokens import PROPAGATION, propagation
from abcgen.runtime.abc.repeats import part_order

_BODY_ONLY_IN_HEADER = "XABCDFGHOSZ"  # fields that have no meaning in a tune body


def _without_comment(value: str) -> str:
    """A field's value: what comes before a `%` comment, trimmed."""
    return value.split("%", 1)[0].strip()


class FieldTokens:
    """The parser's handlers for header lines, fields and directives (a mixin of
    `Parser`, whose state they change: key, meter, unit, the header, the end)."""

    def _on_comment(self, t: Token) -> None:
        """`%%propagate-accidentals` (the one directive that changes pitches) and
        `%%MIDI ratio` (lengths)."""
        mode = propagation(t.text) if t.text.startswith("%%") else None
        if mode is None:
            return self._midi_ratio(t.text, t)
        if mode in PROPAGATION:
            self._accidentals.mode = mode
        else:
            self._error(t, f"%%propagate-accidentals must be one of {', '.join(PROPAGATION)}")

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
        elif name == "P" and part_order(self.tune.fields.get("P", "-")):
            self._part_label(value[:1], t)
        self._apply_field(name, value, t, self.time)

    def _part_label(self, label: str, t: Token) -> None:
        """A part of the header's order begins; abc2midi refuses what it cannot play."""
        if not "A" <= label <= "Z":
            self._error(t, "P: a part is labelled with one capital letter, A to Z")
        elif label in self._parts:
            self._error(t, f"P: part {label} is written twice; the second is played")
        self._parts.add(label)

    def _apply_field(self, name: str, value: str, t: Token, onset: Fraction) -> None:
        """Emit a field as an event; K: and Q: are read here, M: and L: before."""
        change = FieldChange(onset, name, value, line=t.line, col=t.col)
        if name == "K":
            try:
                self.key, problems = parse_key(value)
            except ValueError as err:
                return self._error(t, str(err))
            for severity, problem in problems:
                (self._error if severity == "error" else self._warn)(t, problem)
            self._accidentals.clear()
            change = replace(change, key=self.key)
        elif name == "M":
            change = replace(change, meter=self.meter)
        elif name == "Q":
            tempo = self._read(lambda v: parse_tempo(v, self.unit), value, t, None)
            change = replace(change, tempo=tempo)
        elif name == "V":
            self._warn_once("voice", t.line, t.col, "voices are not supported: read in turn")
        elif name == "I":
            self._midi_ratio("I:" + value, t)
        self._emit(change)

    def _midi_ratio(self, text: str, t: Token) -> None:
        """`%%MIDI ratio n m` (or `I:MIDI ratio n m`): `>` plays n:m, as abc2midi
        plays it, the pair as long as without it; abc2midi's integer arithmetic
        lengthens the pair where n + m is odd (but for `2 1`, `4 1`...): warned."""
        ratio = midi_ratio(text)
        if ratio is None:
            return
        n, m = ratio
        if not n:
            return self._error(t, "%%MIDI ratio needs two whole numbers above 0 (`2 1`)")
        self.broken_ratio = ratio
        if (n + m) % 2 and not (m == 1 and n % 2 == 0):
            whole = (n + m) // 2
            self._warn(t, f"abc2midi plays `>` as {n}/{whole} and {m}/{whole} of their lengths "
                          f"here, longer than the pair; abcgen keeps the pair ({n}:{m})")

    def _read(self, read, value: str, t: Token, old):
        """A field value read by `read`, or `old` (with an error) if it cannot be read."""
        try:
            return read(value)
        except ValueError as err:
            self._error(t, str(err))
            return old

    def _on_line(self, t: Token) -> None:
        """A whole header line: a field, a comment or a blank line."""
        text = t.text.rstrip("\r\n")
        if not text.strip():
            if self._header:
                self._error(t, "blank line before the K: field: the tune ends here")
                self._finish()
        elif self._header and self._header[-1][1].endswith("\\"):  # `\` continues a field
            name, value, line, col = self._header[-1]
            self._header[-1] = (name, value[:-1] + _without_comment(text), line, col)
        elif text.startswith("%%"):
            self._on_comment(t._replace(text=text))
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
            at = Token("", "", None, line, col)
            if name != "P":  # the part order is a value of the tune, not an event
                self._apply_field(name, value, at, Fraction(0))
            elif tune.fields["P"] == value and not part_order(value):
                self._warn(at, f"P: {value!r} is not a part order (A-Z, digits, brackets); ignored"
                           if part_order(value) is None else "P: names no part: none is played")
        if "K" not in tune.fields:
            self._error_at(1, 1, "no K: field before the music; read as K:C")
        tune.title = tune.fields.get("T", "")
        tune.meter, tune.unit, tune.key = self.meter, self.unit, self.key
        tempi = [e.tempo for e in tune.events if isinstance(e, FieldChange) and e.tempo]
        tune.tempo = tempi[0] if tempi else None
