"""Chord symbols such as "Am7" or "D/F#": one reading shared by the MusicXML
writer (<harmony>) and the MIDI accompaniment, so both agree on what a symbol means."""

from __future__ import annotations

import re
from dataclasses import dataclass

from abcgen.runtime.abc.events import Pitch
from abcgen.runtime.abc.keys import SIGNS

# suffix -> (MusicXML kind, semitones above the root)
_KINDS: dict[str, tuple[str, tuple[int, ...]]] = {
    "": ("major", (0, 4, 7)),
    "maj": ("major", (0, 4, 7)),
    "M": ("major", (0, 4, 7)),
    "m": ("minor", (0, 3, 7)),
    "min": ("minor", (0, 3, 7)),
    "mi": ("minor", (0, 3, 7)),
    "-": ("minor", (0, 3, 7)),
    "dim": ("diminished", (0, 3, 6)),
    "o": ("diminished", (0, 3, 6)),
    "aug": ("augmented", (0, 4, 8)),
    "+": ("augmented", (0, 4, 8)),
    "5": ("power", (0, 7)),
    "6": ("major-sixth", (0, 4, 7, 9)),
    "m6": ("minor-sixth", (0, 3, 7, 9)),
    "7": ("dominant", (0, 4, 7, 10)),
    "maj7": ("major-seventh", (0, 4, 7, 11)),
    "M7": ("major-seventh", (0, 4, 7, 11)),
    "m7": ("minor-seventh", (0, 3, 7, 10)),
    "min7": ("minor-seventh", (0, 3, 7, 10)),
    "-7": ("minor-seventh", (0, 3, 7, 10)),
    "dim7": ("diminished-seventh", (0, 3, 6, 9)),
    "o7": ("diminished-seventh", (0, 3, 6, 9)),
    "m7b5": ("half-diminished", (0, 3, 6, 10)),
    "9": ("dominant-ninth", (0, 4, 7, 10, 14)),
    "m9": ("minor-ninth", (0, 3, 7, 10, 14)),
    "sus": ("suspended-fourth", (0, 5, 7)),
    "sus4": ("suspended-fourth", (0, 5, 7)),
    "sus2": ("suspended-second", (0, 2, 7)),
}
_SYMBOL = re.compile(r"([A-G])([#b]?)([^/]*)(?:/([A-G])([#b]?))?")


@dataclass(frozen=True, slots=True)
class Chord:
    root: str  # 'A'..'G'
    root_alter: int
    kind: str  # MusicXML kind value
    suffix: str  # as written, e.g. 'm7'
    intervals: tuple[int, ...]
    bass: tuple[str, int] | None = None  # (step, alter) of a slash bass

    def pitches(self, octave: int = 3) -> list[int]:
        """MIDI pitches of a close voicing: root in `octave`, a slash bass below it."""
        root = Pitch(self.root, octave, self.root_alter).midi
        notes = [root + i for i in self.intervals]
        if self.bass is not None:
            bass = Pitch(self.bass[0], octave, self.bass[1]).midi
            notes.insert(0, bass - 12 if bass >= root else bass)
        return notes


def parse_chord(text: str) -> Chord | None:
    """The chord a quoted ABC string names, or None for an annotation or an unknown suffix.

    Alternative chords in parentheses, "(G)", read as the chord inside.
    """
    m = _SYMBOL.fullmatch(text.strip().strip("()"))
    if m is None or m[3] not in _KINDS:
        return None
    kind, intervals = _KINDS[m[3]]
    bass = (m[4], SIGNS[m[5]]) if m[4] else None
    return Chord(m[1], SIGNS[m[2]], kind, m[3], intervals, bass)
