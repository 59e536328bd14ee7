"""Transposition of a canonical tune, for data augmentation.

A diatonic transposition by (letter steps, semitones) maps the key signature of
the old key onto that of the new key letter by letter, so notes that follow the
key signature (or an earlier accidental in the bar) keep having no accidental;
only explicit accidentals are respelled. The letter step is chosen so that the
new key has the fewest sharps or flats. Tunes this cannot handle faithfully
(no plain key, chord symbols, a note needing a triple accidental) are left
alone: the caller gets None.
"""

from __future__ import annotations

import re

from abcgen.runtime.abc.keys import (
    ACCIDENTAL_TEXT,
    ALTERS,
    KEY_NAME,
    MODES,
    SEMITONE,
    SIGNS,
    STEPS,
    TONIC_FIFTHS,
    key_name,
    note_letter,
)

_BODY = re.compile(r"(\[[A-Za-z]:[^\]\n]*\])|(\^\^|\^|__|_|=)?([A-Ga-g])([,']*)")
_FIELD_LINE = re.compile(r"[KLM]:(?![|:])")


def _semitones(step: int) -> int:
    """Semitones of diatonic step `step` (0 = C of octave 0) above that C."""
    return 12 * (step // 7) + SEMITONE[STEPS[step % 7]]


def transpose_tune(text: str, shift: int) -> str | None:
    """`text` moved by `shift` semitones with a sane key spelling, or None if it can't be."""
    if shift == 0:
        return text
    if '"' in text:
        return None  # chord symbols would need transposing too
    keys = re.findall(r"^K:(.*)$|\[K:([^\]]*)\]", text, flags=re.M)
    parsed = [_parse_key((a or b).strip()) for a, b in keys]
    if not parsed or None in parsed:
        return None
    steps = _choose_steps(parsed, shift)
    if steps is None:
        return None
    try:
        lines = [_line(line, steps, shift) for line in text.split("\n")]
    except ValueError:
        return None
    return "\n".join(lines)


def _parse_key(value: str) -> tuple[int, int, str] | None:
    """(letter index, alteration, mode) of a plain key such as `G`, `F#m`, `Bbmix`."""
    m = KEY_NAME.fullmatch(value)
    if not m or m["mode"].lower()[:3] not in MODES:
        return None
    return STEPS.index(m["tonic"]), SIGNS[m["sign"]], m["mode"]


def _new_key(key: tuple[int, int, str], steps: int, shift: int) -> tuple[str, int] | None:
    """The key moved by (steps, shift) as text, with its number of sharps/flats."""
    letter, alter, mode = key
    alter += shift - (_semitones(letter + steps) - _semitones(letter))
    if abs(alter) > 1:
        return None
    new = STEPS[(letter + steps) % 7]
    return key_name(new, alter, mode), TONIC_FIFTHS[new] + 7 * alter + MODES[mode.lower()[:3]][1]


def _choose_steps(keys: list[tuple[int, int, str]], shift: int) -> int | None:
    """Letter steps that keep every key of the tune (key changes too) at <= 7 sharps
    or flats, fewest first; the spelling closest to the shift breaks ties."""
    best = None
    for steps in range(-7, 8):
        moved = [_new_key(key, steps, shift) for key in keys]
        if all(new is not None and abs(new[1]) <= 7 for new in moved):
            rank = (max(abs(new[1]) for new in moved), abs(steps * 12 - shift * 7))
            if best is None or rank < best[0]:
                best = (rank, steps)
    return None if best is None else best[1]


def _line(line: str, steps: int, shift: int) -> str:
    if line.startswith("K:"):
        return "K:" + _key_text(line[2:].strip(), steps, shift)
    if _FIELD_LINE.match(line):
        return line

    def note(m: re.Match) -> str:
        if m.group(1):  # an inline field
            if m.group(1).startswith("[K:"):
                return "[K:" + _key_text(m.group(1)[3:-1].strip(), steps, shift) + "]"
            return m.group(1)
        accidental, letter, marks = m.group(2), m.group(3), m.group(4)
        step = STEPS.index(letter.upper()) + (7 if letter.islower() else 0)
        step += 7 * (marks.count("'") - marks.count(","))
        moved = step + steps
        out = ""
        if accidental is not None:
            alter = ALTERS[accidental] + shift - (_semitones(moved) - _semitones(step))
            if alter not in ACCIDENTAL_TEXT:
                raise ValueError("needs a triple accidental")
            out = ACCIDENTAL_TEXT[alter]
        octave, index = divmod(moved, 7)
        return out + note_letter(STEPS[index], 4 + octave)

    return _BODY.sub(note, line)


def _key_text(value: str, steps: int, shift: int) -> str:
    key = _parse_key(value)
    new = None if key is None else _new_key(key, steps, shift)
    if new is None:
        raise ValueError(f"cannot move key {value!r}")
    return new[0]
