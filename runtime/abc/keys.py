"""Keys and pitch spelling in ABC, in one place: K: values, modes, accidentals.

Shared by the parser, the normaliser (header.py), the constraint automaton, the
MuseScore side and the trainer's transposition, so that all read and spell a key
the same way (time, the other half of what fields govern, is meter.py's). The
reader raises ValueError with a plain message on bad input; the parser turns
that into a diagnostic and keeps the previous value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STEPS = "CDEFGAB"
SEMITONE = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
LINE_OF_FIFTHS = "FCGDAEB"  # the order sharps are added in (flats: reversed)
TONIC_FIFTHS = {"C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F": -1}  # major keys
SIGNS = {"": 0, "#": 1, "b": -1}  # of a key or chord name: `F#`, `Bb`
_SIGN_TEXT = {alter: sign for sign, alter in SIGNS.items()}
ALTERS = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}  # accidentals as ABC writes them
ACCIDENTAL_TEXT = {alter: text for text, alter in ALTERS.items()}
ACCIDENTAL_NAMES = {2: "double-sharp", 1: "sharp", 0: "natural", -1: "flat", -2: "flat-flat"}
# Mode name (first three letters, lower case) -> canonical mode, fifths from major.
MODES = {
    "maj": ("maj", 0), "ion": ("maj", 0), "": ("maj", 0),
    "min": ("min", -3), "aeo": ("min", -3), "m": ("min", -3),
    "mix": ("mix", -1), "dor": ("dor", -2), "phr": ("phr", -4),
    "lyd": ("lyd", 1), "loc": ("loc", -5),
}  # fmt: skip
# Canonical mode -> its suffix in canonical K: text (`Em`, `Ador`) and its name in
# MusicXML and MuseScore (which also write `ionian` and `aeolian`: MODE_WORDS).
MODE_SUFFIX = {"maj": "", "min": "m", "mix": "mix", "dor": "dor", "phr": "phr", "lyd": "lyd",
               "loc": "loc"}
MODE_NAMES = {"maj": "major", "min": "minor", "mix": "mixolydian", "dor": "dorian",
              "phr": "phrygian", "lyd": "lydian", "loc": "locrian"}
MODE_WORDS = {name: mode for mode, name in MODE_NAMES.items()}
MODE_WORDS.update(ionian="maj", aeolian="min")
KEY_NAME = re.compile(r"(?P<tonic>[A-G])(?P<sign>[#b]?)(?P<mode>[A-Za-z]*)")  # `F#m`
_ACCIDENTAL = re.compile(r"(\^\^|\^|__|_|=)([A-Ga-g])")
_ACCIDENTALS = re.compile(r"(?:(?:\^\^|\^|__|_|=)[A-Ga-g])+")  # `^c`, `^c^g`: in K:
# Words a K: field may carry that do not change pitches here (clefs, staff options).
CLEF_WORDS = {"treble", "bass", "alto", "tenor", "perc", "none", "bass3", "alto1", "alto2"}


@dataclass(frozen=True, slots=True)
class Key:
    """A key as K: gives it: tonic, mode and the signature they make."""

    tonic: str  # e.g. 'E', 'F#', 'Bb'
    mode: str  # canonical: 'maj' 'min' 'mix' 'dor' 'phr' 'lyd' 'loc'
    fifths: int  # key signature: sharps > 0, flats < 0
    # explicit accidentals in K: (e.g. `K:D exp ^c`) override the signature
    extra: tuple[tuple[str, int], ...] = ()

    def alter_of(self, step: str) -> int:
        """The key signature's alteration for a step ('A'..'G')."""
        for s, a in self.extra:
            if s == step:
                return a
        order = LINE_OF_FIFTHS if self.fifths > 0 else LINE_OF_FIFTHS[::-1]
        return (1 if self.fifths > 0 else -1) if step in order[: abs(self.fifths)] else 0


def pitch_class(name: str) -> int:
    """Of a note name: `C` 0, `F#` 6, `Bb` 10."""
    return (SEMITONE[name[0]] + SIGNS[name[1:]]) % 12


def fifths_of(step: str, alter: int) -> int:
    """A spelled pitch's place on the line of fifths: C 0, G 1, F -1, F# 6, Bb -2."""
    return TONIC_FIFTHS[step] + 7 * alter


def spelled(fifths: int) -> tuple[str, int]:
    """The step and alteration at a place on the line of fifths (`fifths_of` reversed)."""
    return LINE_OF_FIFTHS[(fifths + 1) % 7], (fifths + 1) // 7


def key_name(step: str, alter: int, suffix: str = "") -> str:
    """A key as K: writes it: `F#` + `m`."""
    return step + _SIGN_TEXT[alter] + suffix


def note_letter(step: str, octave: int) -> str:
    """ABC's letter and octave marks for a step in a scientific octave: C4 is `C`,
    C5 `c`, C6 `c'`, C3 `C,`."""
    if octave >= 5:
        return step.lower() + "'" * (octave - 5)
    return step + "," * (4 - octave)


def parse_key(value: str) -> tuple[Key, list[tuple[str, str]]]:
    """`G`, `Ador`, `F# Minor`, `HP`, `D exp ^c`, `Dm^c`, `none`; modes are case-blind.

    Returns the key and the problems found, each ('error' or 'warning', message),
    read as abc2midi reads them: an unknown mode is an error but still gives the
    key of the tonic (major); accidentals may follow the mode with or without a
    space (`Dm^c`, `D ^c^g`); other words are ignored with a warning, except
    directly after the tonic (`A^E2`: the key line has run into the music).
    """
    words = value.split()
    if not words:
        raise ValueError("K: field is empty")
    head = words.pop(0)
    if head.lower() == "none":
        return Key("C", "maj", 0), []
    if head in ("HP", "Hp"):  # Highland pipes: F# C# G natural, played as A mixolydian
        return Key("A", "mix", 2), []
    m = KEY_NAME.match(head)
    if not m:
        raise ValueError(f"K: cannot read key {head!r}")
    problems = []
    mode_text, glued = m["mode"], head[m.end() :]
    if not mode_text and not glued and words and words[0][:3].lower() in MODES:
        mode_text = words.pop(0) if words[0].isalpha() else mode_text
    mode_key = "m" if mode_text.lower() == "m" else mode_text[:3].lower()
    if mode_key not in MODES:
        problems.append(("error", f"K: unknown mode {mode_text!r}, read as major"))
        mode_key = "maj"
    if glued and not _ACCIDENTALS.fullmatch(glued):
        if not mode_text:
            problems.append(("error", f"K: unknown mode {glued!r}: the key line runs into music?"))
        else:
            problems.append(("warning", f"K: ignored {glued!r}"))
        glued = ""
    mode, offset = MODES[mode_key]
    tonic = m["tonic"] + m["sign"]
    fifths = fifths_of(m["tonic"], SIGNS[m["sign"]]) + offset
    if abs(fifths) > 7:
        raise ValueError(f"K: key {tonic}{mode} needs more than 7 sharps or flats")
    extra: dict[str, int] = {}
    for word in [glued, *words] if glued else words:
        if _ACCIDENTALS.fullmatch(word):
            for acc, letter in _ACCIDENTAL.findall(word):
                extra[letter.upper()] = ALTERS[acc]
        elif word.lower() == "exp":
            fifths = 0
        elif "=" not in word and word.lower() not in CLEF_WORDS:
            problems.append(("warning", f"K: ignored {word!r}"))
    return Key(tonic, mode, fifths, tuple(extra.items())), problems
