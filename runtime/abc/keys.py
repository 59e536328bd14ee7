"""Keys and pitch spelling in ABC, in one place: K: values, modes, accidentals.

Shared by the parser, the normaliser (header.py), the constraint automaton, the
MuseScore side and the trainer's transposition, so that all read and spell a key
the same way (time, the other half of what fields govern, is meter.py's). The
reader raises ValueError with a plain message on bad input; the parser turns
that into a diagnostic and keeps the previous value.
"""

from __future__ import annotations

import re

from abcgen.runtime.abc.events import Key

# Mode name (first three letters, lower case) -> canonical mode, fifths from major.
MODES = {
    "maj": ("maj", 0), "ion": ("maj", 0), "": ("maj", 0),
    "min": ("min", -3), "aeo": ("min", -3), "m": ("min", -3),
    "mix": ("mix", -1), "dor": ("dor", -2), "phr": ("phr", -4),
    "lyd": ("lyd", 1), "loc": ("loc", -5),
}  # fmt: skip
# Canonical mode -> its suffix in canonical K: text (`Em`, `Ador`) and its name in
# MusicXML and MuseScore.
MODE_SUFFIX = {"maj": "", "min": "m", "mix": "mix", "dor": "dor", "phr": "phr", "lyd": "lyd",
               "loc": "loc"}
MODE_NAMES = {"maj": "major", "min": "minor", "mix": "mixolydian", "dor": "dorian",
              "phr": "phrygian", "lyd": "lydian", "loc": "locrian"}
TONIC_FIFTHS = {"C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F": -1}
_KEY = re.compile(r"(?P<tonic>[A-G])(?P<sign>[#b]?)(?P<mode>[A-Za-z]*)")
_ACCIDENTAL = re.compile(r"(\^\^|\^|__|_|=)([A-Ga-g])")
_ACCIDENTALS = re.compile(r"(?:(?:\^\^|\^|__|_|=)[A-Ga-g])+")  # `^c`, `^c^g`: in K:
ALTERS = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}
# Words a K: field may carry that do not change pitches here (clefs, staff options).
CLEF_WORDS = {"treble", "bass", "alto", "tenor", "perc", "none", "bass3", "alto1", "alto2"}


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
    m = _KEY.match(head)
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
    fifths = TONIC_FIFTHS[m["tonic"]] + {"#": 7, "b": -7, "": 0}[m["sign"]] + offset
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
