"""Values of the ABC fields that change how notes sound (K: M: L: Q:), and the
length arithmetic of the notes they govern.

Shared by the parser (header and inline fields), the normaliser (header.py,
normalise.py) and the constraint automaton, so that all three read a meter, a
unit, a key, a note length and a tuplet the same way. Each reader raises
ValueError with a plain message on bad input; the parser turns that into a
diagnostic and keeps the previous value.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from abcgen.runtime.abc.events import Key, Meter

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
# (p: q of `(p` when q is not written: p notes in the time of q; others: 3 in compound
# meters, else 2.
TUPLET_Q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}
# Broken rhythm: the factors of the first and second note.
BROKEN = {">": (Fraction(3, 2), Fraction(1, 2)), ">>": (Fraction(7, 4), Fraction(1, 4)),
          ">>>": (Fraction(15, 8), Fraction(1, 8))}  # fmt: skip
_KEY = re.compile(r"(?P<tonic>[A-G])(?P<sign>[#b]?)(?P<mode>[A-Za-z]*)")
_LENGTH = re.compile(r"(\d*)(/*)(\d*)")
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


def parse_meter(value: str) -> Meter | None:
    """`6/8`, `C`, `C|`, `2+3/8`, `none` (None: free meter)."""
    text = value.strip()
    if text in ("", "none"):
        return None
    if text == "C":
        return Meter(4, 4, "common")
    if text == "C|":
        return Meter(2, 2, "cut")
    m = re.fullmatch(r"\(?(\d+(?:\+\d+)*)\)?\s*/\s*(\d+)", text)
    if not m or int(m[2]) == 0:
        raise ValueError(f"M: cannot read meter {text!r}")
    numerator = sum(int(n) for n in m[1].split("+"))
    return Meter(numerator, int(m[2]))


def default_unit(meter: Meter | None) -> Fraction:
    """ABC 2.1: L: defaults to 1/16 below 3/4, else 1/8 (and 1/8 for free meter)."""
    if meter is not None and meter.bar_length < Fraction(3, 4):
        return Fraction(1, 16)
    return Fraction(1, 8)


def parse_fraction(text: str) -> Fraction:
    m = re.fullmatch(r"\s*(\d+)\s*(?:/\s*(\d+))?\s*", text)
    if not m or int(m[2] or 1) == 0 or int(m[1]) == 0:
        raise ValueError(f"cannot read length {text.strip()!r}")
    return Fraction(int(m[1]), int(m[2] or 1))


@lru_cache(maxsize=256)
def note_length(text: str) -> Fraction | None:
    """`2` `/2` `/` `//` `3/2` `3/` as a multiple of the unit length; None when it is zero
    (cached: a tune uses a handful of lengths over and over)."""
    num, slashes, den = _LENGTH.fullmatch(text).groups()
    numerator = int(num) if num else 1
    denominator = (int(den) if den else 2) << (len(slashes) - 1) if slashes else 1
    return Fraction(numerator, denominator) if numerator and denominator else None


def parse_unit(value: str) -> Fraction:
    """`1/8`: the length of a note written without a number."""
    try:
        return parse_fraction(value)
    except ValueError:
        raise ValueError(f"L: cannot read unit length {value.strip()!r}") from None


def parse_tempo(value: str, unit: Fraction) -> float | None:
    """Quarter notes per minute from `1/4=120`, `3/8=40`, `"Allegro" 1/2=80` or `120`.

    A bare number counts unit notes (L:) per minute, as ABC 1.x did; a tempo
    given only in words has no number and gives None.
    """
    text = re.sub(r'"[^"]*"', " ", value).strip()
    if not text:
        return None
    try:
        if "=" in text:
            beats, bpm = text.split("=", 1)
            if beats.strip().upper() == "C":
                beat = unit
            else:
                beat = sum((parse_fraction(b) for b in beats.split()), Fraction(0))
        else:
            beat, bpm = unit, text
        per_minute = float(bpm)
    except ValueError:
        raise ValueError(f"Q: cannot read tempo {value.strip()!r}") from None
    if per_minute <= 0 or beat <= 0:
        raise ValueError(f"Q: tempo must be positive: {value.strip()!r}")
    return float(per_minute * beat * 4)
