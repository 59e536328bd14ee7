"""The event model every ABC reader and writer shares.

The parser turns ABC text into these events; the MIDI, MusicXML and ABC writers,
playback and the constraint mask read them. Times are exact fractions of a
whole note, counted from the start of the tune in written order (repeats not
expanded; `repeats.expand` gives the played order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from abcgen.runtime.abc.keys import SEMITONE, Key
from abcgen.runtime.abc.meter import Meter


@dataclass(frozen=True, slots=True)
class Pitch:
    step: str  # 'A'..'G'
    octave: int  # scientific octave: ABC `C` is C4 (MIDI 60), `c` is C5
    alter: int = 0  # semitones, -2..2, after key signature and accidentals

    @property
    def midi(self) -> int:
        return 12 * (self.octave + 1) + SEMITONE[self.step] + self.alter


@dataclass(frozen=True, slots=True)
class Note:
    """A note or a rest (pitch None). One note of a chord per event."""

    onset: Fraction
    duration: Fraction  # sounding length, tuplet and broken rhythm applied
    pitch: Pitch | None
    bar: int  # 0-based index of the bar it stands in (bar 0 may be a pickup)
    line: int  # 1-based source position
    col: int  # 1-based
    written: Fraction | None = None  # notated length before tuplet scaling
    accidental: str | None = None  # as written: 'sharp' 'flat' 'natural' 'double-sharp' 'flat-flat'
    tie: bool = False  # tied to the next note of the same pitch
    grace: bool = False  # grace notes take no time: duration is their written length
    tuplet: tuple[int, int, int] | None = None  # (p, q, position in the group from 0)
    chord_index: int = 0  # 0: single note or first note of a chord; n: nth further note
    invisible: bool = False  # `x` rests
    measures: int = 0  # multi-measure rest `Z4`: number of bars, else 0
    decorations: tuple[str, ...] = ()
    spaced: bool = False  # written after a space or line break: ABC's beams break there
    voice: int = 1  # 2, 3...: a voice overlay (`&`), sounding with the first voice's bar

    @property
    def is_rest(self) -> bool:
        return self.pitch is None


@dataclass(frozen=True, slots=True)
class Bar:
    """A bar line. `number` is the index of the bar it closes."""

    onset: Fraction
    kind: str  # '|' '||' '|]' '[|' '|:' ':|' '::' (':|:' and ':||:' read as '::')
    number: int
    line: int
    col: int
    ending: str | None = None  # a volta that starts here: '1', '2', '1,3', '1-2'
    text: str | None = None  # as written (`||:`, `:|]`), '' for an ending alone; None: `kind`


@dataclass(frozen=True, slots=True)
class ChordSymbol:
    onset: Fraction
    text: str
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class FieldChange:
    """A header field or a field in the body (`[K:..]`, an `M:` line mid-tune).
    A P: field in the body labels a part; the header's P: (the order the parts
    are played in) is `Tune.fields['P']` only."""

    onset: Fraction
    name: str  # 'K' 'M' 'L' 'Q' 'T' 'R' ...
    value: str
    key: Key | None = None
    meter: Meter | None = None  # None for K/L/Q, and for `M:none`
    tempo: float | None = None  # quarter notes per minute, for Q:
    line: int = 0
    col: int = 0


@dataclass(frozen=True, slots=True)
class Diagnostic:
    line: int
    col: int
    message: str
    severity: str = "error"  # 'error' or 'warning'

    def __str__(self) -> str:
        return f"{self.line}:{self.col}: {self.severity}: {self.message}"


Event = Note | Bar | ChordSymbol | FieldChange


@dataclass
class Tune:
    """A parsed tune: its header values and its events in written order."""

    events: list[Event] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    title: str = ""
    meter: Meter | None = None  # None: M:none (free meter)
    unit: Fraction = Fraction(1, 8)
    key: Key | None = None
    tempo: float | None = None  # quarter notes per minute from Q:, if any
    fields: dict[str, str] = field(default_factory=dict)
    complete: bool = True  # False while the text is still arriving (live playback)

    @property
    def notes(self) -> list[Note]:
        return [e for e in self.events if isinstance(e, Note)]

    @property
    def valid(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)
