"""Canonical header values: the M:, L: and K: lines as the normaliser writes them.

The values are read with keys.py's and meter.py's readers and tables (the
parser's own), so the normaliser, the parser and the constraint automaton agree
on what a meter, a unit length and a key are; this module only decides how each
is spelled in canonical tune text (normalise.py):

- M: missing is `M:none` (the standard's default); `C` is `4/4`, `C|` is `2/2`.
- L: missing follows the meter (ABC 2.1: 1/16 below 3/4, else 1/8).
- K: mode names of any case and length read by their first three letters
  (`minor`, `Min`, `m`, `M` are all minor; `Aeolian` is minor, `Ionian` major);
  bagpipe keys `HP`/`Hp` become `Amix` (same sounding pitches); explicit
  accidentals are kept (`K:Dmix =c`); clef terms are dropped; a K: that names
  no tonic (only a clef, or `none`) is no key.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from abcgen.runtime.abc.keys import CLEF_WORDS, MODE_SUFFIX, MODES
from abcgen.runtime.abc.meter import FRACTION, METER, default_unit, parse_meter
from abcgen.runtime.errors import AbcgenError

# Mode word by its first three letters (ABC 2.1 reads no more) -> canonical suffix.
_SUFFIX = {word: MODE_SUFFIX[mode] for word, (mode, _) in MODES.items() if word}
# K: options that change the staff, not the pitches.
_KEY_OPTIONS = {"clef", "middle", "m", "transpose", "t", "octave", "stafflines", "staffscale",
                "cue", "instrument", "style"}  # fmt: skip


class Drop(Exception):
    """A value the normaliser cannot use: the tune is dropped for the reason given."""


def meter_text(value: str, steps: Counter[str]) -> str:
    v = "".join(value.split())
    if v.lower() == "none":
        return "none"
    if v in ("C", "C|"):
        steps["meter-symbol"] += 1
        return "4/4" if v == "C" else "2/2"
    m = METER.fullmatch(v)
    if not m or int(m[2]) == 0 or all(int(n) == 0 for n in m[1].split("+")):
        raise Drop("bad-meter")
    return f"{'+'.join(str(int(n)) for n in m[1].split('+'))}/{int(m[2])}"


def unit_text(value: str) -> str:
    m = FRACTION.fullmatch("".join(value.split()))
    if not m or int(m[1]) == 0 or (m[2] is not None and int(m[2]) == 0):
        raise Drop("bad-unit")
    return f"{int(m[1])}/{int(m[2] or 1)}"


def default_unit_text(meter: str) -> str:
    """L: for a canonical M: that has none."""
    unit = default_unit(parse_meter(meter))
    return f"{unit.numerator}/{unit.denominator}"


def key_text(value: str, steps: Counter[str]) -> str | None:
    """Canonical key, or None when the value names no key (only a clef, or none)."""
    v = value.strip()
    first = v.split()[0].lower() if v else ""
    if not first or first in CLEF_WORDS or ("=" in first and first.split("=")[0] in _KEY_OPTIONS):
        return None
    if first == "hp":
        steps["key-bagpipe"] += 1
        rest = v[2:]
        tonic_mode = "Amix"
    else:
        m = re.match(r"([A-Ga-g])([#b]?)\s*", v)
        if not m:
            raise Drop("bad-key")
        rest = v[m.end() :]
        mode = ""
        w = re.match(r"[A-Za-z]+", rest)
        option = w and rest[w.end() : w.end() + 1] == "=" and w[0].lower() in _KEY_OPTIONS
        if w and w[0][:3].lower() in _SUFFIX and not option:  # `m=c` is an option
            mode = _SUFFIX[w[0][:3].lower()]
            rest = rest[w.end() :]
        tonic_mode = m[1].upper() + m[2] + mode
    extra = []
    for term in re.findall(r"[_^=]{1,2}[A-Ga-g]|\S+", rest):
        if re.fullmatch(r"[_^=]{1,2}[A-Ga-g]", term):
            extra.append(term.lower())
        elif term.lower() in CLEF_WORDS or term.split("=")[0].lower() in _KEY_OPTIONS:
            steps["key-clef-dropped"] += 1
        else:
            raise Drop("bad-key")
    key = " ".join([tonic_mode, *extra])
    if key != v:
        steps["key-rewritten"] += 1
    return key


def _checked(read: Callable[[str], str | None], what: str, example: str, value: str):
    try:
        return read(value)
    except Drop:
        raise AbcgenError(f"bad {what} {value!r}: use e.g. {example}") from None


def canonical_meter(value: str) -> str:
    """The M: value as normalise() writes it; AbcgenError if unreadable."""
    return _checked(lambda v: meter_text(v, Counter()), "meter", "6/8, 4/4, C, C| or none", value)


def canonical_unit(value: str) -> str:
    """The L: value as normalise() writes it; AbcgenError if unreadable."""
    return _checked(unit_text, "unit note length", "1/8 or 1/16", value)


def canonical_key(value: str) -> str:
    """The K: value as normalise() writes it; AbcgenError if unreadable or no key."""
    key = _checked(lambda v: key_text(v, Counter()), "key", "G, Em, Ador, D mixolydian", value)
    if key is None:
        raise AbcgenError(f"bad key {value!r}: name a tonic, e.g. G, Em, Ador")
    return key


def header_text(meter: str | None, key: str | None, unit: str | None) -> str:
    """Canonical header lines for a prime; None leaves that field to the model.

    The header order is M:, L:, K:, so a prime can fix a key or unit only after
    a meter; L: follows from the meter when not given (as in normalise()).
    """
    k = canonical_key(key) if key is not None else None  # a bad value is named first
    u = canonical_unit(unit) if unit is not None else None
    if meter is None:
        if key is not None or unit is not None:
            raise AbcgenError("choose a meter too: a prime's header runs M:, L:, K: in order")
        return ""
    m = canonical_meter(meter)
    lines = [f"M:{m}", f"L:{u or default_unit_text(m)}"]
    if k is not None:
        lines.append(f"K:{k}")
    return "\n".join(lines) + "\n"
