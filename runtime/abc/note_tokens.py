"""The music's own tokens as the parser reads them: notes, rests, chords,
grace notes, tuplets, ties, broken rhythm, decorations and chord symbols.

Pitch comes from the key and the accidentals written earlier in the bar; length
is a multiple of the unit; broken rhythm and tuplets scale it. A note (or rest,
chord, bar line) is held until the next token shows it is finished: `A` may
still become `A>` or `A-`. `NoteTokens` holds the parser's handlers for these
tokens; `parser.py` keeps the state they work on and releases what is held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from abcgen.runtime.abc.events import ChordSymbol, Pitch
from abcgen.runtime.abc.keys import ACCIDENTAL_NAMES, ALTERS, Key
from abcgen.runtime.abc.lexer import Token
from abcgen.runtime.abc.meter import broken_lengths, note_length, tuplet_q

_PITCHES: dict[tuple[str, int, int], Pitch] = {}  # immutable, so made once and shared
_DECORATIONS = set(".~HLMOPSTuvR")
_CHORD_SYMBOL = re.compile(r"\(?[A-G]|N\.?C\.?")


def pitch(step: str, octave: int, alter: int) -> Pitch:
    """The one shared Pitch for these values."""
    found = _PITCHES.get((step, octave, alter))
    if found is None:
        found = _PITCHES.setdefault((step, octave, alter), Pitch(step, octave, alter))
    return found


def _units(x: Fraction) -> str:
    return str(x) if x.denominator > 1 else str(x.numerator)


PROPAGATION = ("not", "octave", "pitch")  # `%%propagate-accidentals` values
_PROPAGATE = re.compile(r"%%propagate-accidentals\b\s*(\S*)")
_OCTAVES = range(10)


def propagation(directive: str) -> str | None:
    """The value of a `%%propagate-accidentals` line ('' when it has none), else None."""
    m = _PROPAGATE.match(directive)
    return m[1] if m else None


class Accidentals:
    """The accidentals written so far in the bar, held to its end. How far one
    reaches is `%%propagate-accidentals`: 'pitch' (every octave of that letter,
    abc2midi's default and ours), 'octave' (that octave only) or 'not' (that note only)."""

    def __init__(self, mode: str = "pitch") -> None:
        self.mode = mode
        self._written: dict[tuple[str, int], int] = {}

    def alter(self, step: str, octave: int, accidental: str, key: Key) -> int:
        """The alteration of a note: its own accidental (remembered for the rest of
        the bar as `mode` says), else an earlier one in the bar, else the key's."""
        if not accidental:
            return self._written.get((step, octave), key.alter_of(step))
        alter = ALTERS[accidental]
        if self.mode == "octave":
            self._written[(step, octave)] = alter
        elif self.mode == "pitch":
            self._written.update(((step, o), alter) for o in _OCTAVES)
        return alter

    def clear(self) -> None:
        """A bar line or a new key: accidentals end."""
        self._written.clear()


@dataclass(slots=True)
class Head:
    """One note (or rest) of a held group."""

    pitch: Pitch | None
    line: int
    col: int
    accidental: str | None = None
    tie: bool = False
    decorations: tuple[str, ...] = ()


@dataclass(slots=True)
class Group:
    """A note, rest or chord held until the next token shows it is finished."""

    heads: list[Head]
    written: Fraction  # notated length; broken rhythm multiplies it
    scale: Fraction = Fraction(1)  # tuplet factor q/p
    tuplet: tuple[int, int, int] | None = None
    grace: bool = False
    invisible: bool = False
    measures: int = 0
    spaced: bool = False


@dataclass(slots=True)
class BarLine:
    kind: str
    line: int
    col: int
    ending: str | None = None
    text: str = ""  # as written: `||:`, `:|]`; '' for an ending with no bar line before it


@dataclass(slots=True)
class Chord:
    """An open `[...`: its notes so far and where it began."""

    line: int
    col: int
    decorations: tuple[str, ...]
    heads: list[Head] = field(default_factory=list)
    written: Fraction | None = None


@dataclass(slots=True)
class Marker:
    """A chord symbol written among held notes (`B>"F"c`, `G4|"G"-G4`): it waits
    with them, so the broken rhythm or tie still reaches the note before it, and
    takes its time when released, landing on the note that follows it."""

    symbol: ChordSymbol


Held = Group | BarLine | Marker


class NoteTokens:
    """The parser's handlers for the music's tokens (a mixin of `Parser`, whose
    state they read and change: key, unit, meter, held, the open chord...)."""

    def _on_note(self, t: Token) -> None:
        m = t.match
        accidental = ACCIDENTAL_NAMES[ALTERS[m["acc"]]] if m["acc"] else None
        head = Head(self._pitch(m, t), t.line, t.col, accidental)
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
        heads = [Head(None, t.line, t.col)]
        self._add_group(heads, self._written(t.match["rlen"], t), t, invisible=t.text[0] == "x")

    def _on_mrest(self, t: Token) -> None:
        measures = int(t.match["bars"] or 1)
        if measures == 0 or self.open_chord is not None:
            return self._error(t, f"cannot read multi-bar rest {t.text!r}")
        per_bar = self.meter.bar_length if self.meter else self.unit
        heads = [Head(None, t.line, t.col)]
        self._add_group(heads, per_bar * measures, t, invisible=t.text[0] == "X", measures=measures)

    def _pitch(self, m: re.Match[str], t: Token) -> Pitch:
        step = m["step"].upper()
        octave = (4 if m["step"].isupper() else 5) + m["octave"].count("'") - m["octave"].count(",")
        tied = self._tied.get((step, octave))
        if tied is not None and not m["acc"]:
            alter = tied
        else:
            alter = self._accidentals.alter(step, octave, m["acc"] or "", self.key)
        if not 0 <= octave <= 8:
            self._error(t, "note is outside the MIDI range")
            octave = max(0, min(octave, 8))
        return pitch(step, octave, alter)

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

    def _add_group(self, heads: list[Head], written: Fraction, t: Token, **extra) -> None:
        """Hold a new note, rest or chord; what was held before it is now certain."""
        group = Group(heads, written, **extra)
        if self._decorations:
            for head in heads:
                head.decorations = tuple(self._decorations)
            self._decorations = []
        if self.in_grace:
            group.grace = True
            self.held.append(group)
            self._last_group = group
            return
        group.spaced, self.spaced = self.spaced, False
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
        if self._tie_heads:
            self._ties_end({h.pitch.midi for h in heads if h.pitch is not None})
        self._tied = {(h.pitch.step, h.pitch.octave): h.pitch.alter for h in heads if h.tie}
        self._tie_heads = [h for h in heads if h.tie and h.pitch is not None]

    def _ties_end(self, pitches: set[int]) -> None:
        """The notes tied into what comes next must find their pitch there, as
        abc2midi requires ("Could not find note to be tied")."""
        for h in self._tie_heads:
            if h.pitch.midi not in pitches:
                self._error_at(h.line, h.col, "tie to no note of its pitch")
        self._tie_heads = []

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
                if h not in self._tie_heads:
                    self._tie_heads.append(h)

    def _on_broken(self, t: Token) -> None:
        group = self._last_group
        if group is not None and group.grace:  # `f{gf}>e`: joins f and e, as in abc2midi
            group = next((h for h in reversed(self.held) if isinstance(h, Group) and not h.grace),
                         None)  # fmt: skip
        if group is None or self.open_chord is not None:
            return self._error(t, "broken rhythm without a note before it")
        self._broken = (group, t)

    def _apply_broken(self, second: Group, t: Token) -> None:
        """`A>B`: dot the first, halve the second; like abc2midi, only between
        notes written equally long."""
        first, mark = self._broken
        self._broken = None
        lengths = broken_lengths(mark.text, first.written, second.written,
                                 self.broken_ratio)
        if lengths is None:
            return self._error(mark, "broken rhythm between notes of different lengths is ignored")
        first.written, second.written = lengths

    def _on_chord_open(self, t: Token) -> None:
        if self.open_chord is not None:
            return self._error(t, "chord inside a chord")
        self.open_chord = Chord(t.line, t.col, tuple(self._decorations))
        self._decorations = []

    def _on_chord_close(self, t: Token) -> None:
        chord = self.open_chord
        if chord is None:
            return self._error(t, "']' without '['")
        multiple = self._length(t.match["clen"], t)
        if t.match["clen"] and chord.written not in (None, self.unit):
            inside = chord.written / self.unit
            self._warn(t, f"a chord with lengths inside and after ']': abcgen plays "
                          f"{_units(inside * multiple)} units ({_units(inside)} x "
                          f"{_units(multiple)}, as ABC 2.1 says), abc2midi "
                          f"{_units(multiple)} (the length after ']' alone)")
        self._close_chord(t, multiple)

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
        q = int(m["q"]) if m["q"] else tuplet_q(p, self.meter)
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
            symbol = ChordSymbol(self.time, t.text[1:-1], t.line, t.col)
            if self.held:
                self.held.append(Marker(symbol))
            else:
                self._emit(symbol)

    def _on_stray(self, t: Token) -> None:
        self._warn(t, f"lone {t.text[0]!r} ignored")

    def _on_other(self, t: Token) -> None:
        self._error(t, f"unexpected {t.text!r}")
