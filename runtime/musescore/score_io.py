"""The MuseScore plugin's note lists, both ways: tune events -> items its cursor
can write, and a selection read with the cursor -> an ABC prime.

MuseScore 4 has no `readScore`, so the plugin writes notes one chord or rest at
a time: `cursor.setDuration(n, d)` then `addNote(pitch)` or `addRest()`. The
cursor draws only plain or dotted note values, so a longer or odd length comes
as tied pieces, and a tuplet comes as one group (`cursor.addTuplet(ratio,
total)`) holding its notated members. Items, in score order:

    {"type": "note", "duration": [1, 8], "pitches": [
        {"pitch": 62, "tpc": 16, "step": "D", "alter": 0, "octave": 4, "tie": false}]}
    {"type": "rest", "duration": [1, 4]}          # "pad": true for a pickup's filler
    {"type": "tuplet", "ratio": [3, 2], "total": [1, 4], "items": [...]}
    {"type": "bar", "kind": "|"}

`tpc` is MuseScore's tonal pitch class (C=14, G=15, F=13, ...), so spelling
survives. A selection comes in the same form (bar items where its measures
change); a note may also carry "actual", its sounding length, which is all
MuseScore 3.2 can tell about a tuplet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from abcgen.runtime.abc.events import Bar, Note, Pitch, Tune
from abcgen.runtime.abc.keys import (
    ACCIDENTAL_TEXT,
    MODE_NAMES,
    MODE_SUFFIX,
    MODE_WORDS,
    MODES,
    SEMITONE,
    Key,
    fifths_of,
    key_name,
    note_letter,
    parse_key,
    spelled,
)
from abcgen.runtime.abc.meter import Meter, default_unit, length_text
from abcgen.runtime.errors import AbcgenError

# Every length the cursor draws as one note value (breve to 128th, up to two dots), longest first.
_DRAWABLE = sorted(
    (Fraction(2, 2**k) * (2 - Fraction(1, 2**dots)) for k in range(9) for dots in range(3)),
    reverse=True,
)
_BAR_KINDS = {"|", "||", "|]", "[|", "|:", ":|", "::"}


# ------------------------------------------------------------------ spelling


def tpc(pitch: Pitch) -> int:
    """MuseScore's tonal pitch class of a spelled pitch."""
    return 14 + fifths_of(pitch.step, pitch.alter)


def spell(midi: int, tpc_value: int | None, fifths: int = 0) -> Pitch:
    """The spelled pitch of a MIDI pitch: from its tpc, or from the key signature."""
    if tpc_value is None:
        tpc_value = _default_tpc(midi, fifths)
    if not -1 <= tpc_value <= 33:
        raise AbcgenError(f"selection: tpc {tpc_value} is outside -1..33")
    step, alter = spelled(tpc_value - 14)
    octave, rest = divmod(midi - alter - SEMITONE[step], 12)
    if rest:
        raise AbcgenError(f"selection: tpc {tpc_value} cannot spell MIDI pitch {midi}")
    return Pitch(step, octave - 1, alter)


def _default_tpc(midi: int, fifths: int) -> int:
    # the spelling nearest the middle of the key signature's notes on the line of fifths
    candidates = [t for t in range(-1, 34) if (7 * (t - 14)) % 12 == midi % 12]
    return min(candidates, key=lambda t: abs(t - 16 - fifths))


def key_json(key: Key | None) -> dict[str, Any] | None:
    if key is None:
        return None
    return {"fifths": key.fifths, "mode": MODE_NAMES.get(key.mode, "major"), "tonic": key.tonic}


def time_json(meter: Meter | None) -> dict[str, int] | None:
    return None if meter is None else {"numerator": meter.numerator,
                                       "denominator": meter.denominator}


def _frac(f: Fraction) -> list[int]:
    return [f.numerator, f.denominator]


# ------------------------------------------------------------------ events -> items


def drawable_pieces(length: Fraction) -> list[Fraction]:
    """`length` as note values the cursor draws, longest first (tied when several)."""
    pieces = []
    while length > 0:
        piece = next((d for d in _DRAWABLE if d <= length), None)
        if piece is None:
            raise AbcgenError(f"a length of {length} whole notes is too short to write")
        pieces.append(piece)
        length -= piece
    return pieces


def events_to_items(tune: Tune, events: Iterable | None = None, *,
                    pad_pickup: bool = False) -> list[dict[str, Any]]:
    """Cursor items for `events` (default: the whole tune).

    Grace notes and mid-tune field changes are left out (the cursor cannot write
    them; the files keep them). With `pad_pickup`, a short first bar is preceded
    by a rest, so that a new score's bar lines fall where the tune's do.
    """
    events = list(tune.events if events is None else events)
    # a tie counts only where the same pitch follows (ABC sources often write `-` for a slur)
    starts = {(e.pitch.midi, e.onset) for e in events if isinstance(e, Note) and e.pitch}
    events = [replace(e, tie=(e.pitch.midi, e.onset + e.duration) in starts)
              if isinstance(e, Note) and e.tie and e.pitch else e for e in events]
    items: list[dict[str, Any]] = []
    group: dict[str, Any] | None = None
    chord: list[dict[str, Any]] = []  # the pieces of the last chord or note
    for e in events:
        if isinstance(e, Bar):
            group, chord = None, []
            items.append({"type": "bar", "kind": e.kind})
        elif isinstance(e, Note) and not e.grace:
            if e.chord_index:  # a further note of the chord: into each of its pieces
                for i, piece in enumerate(chord):
                    tie = e.tie if i == len(chord) - 1 else True
                    piece["pitches"].append(_pitch_json(e, tie))
                continue
            if e.tuplet is None:
                group = None
                chord = _note_items(e, e.duration)
                items.extend(chord)
            else:
                p, q, position = e.tuplet
                if group is None or position == 0:
                    group = {"type": "tuplet", "ratio": [p, q], "total": [0, 1], "items": []}
                    items.append(group)
                chord = _note_items(e, e.written or e.duration * p / q)
                group["items"].extend(chord)
                group["total"] = _frac(Fraction(*group["total"]) + e.duration)
            if e.pitch is None:
                chord = []
    if pad_pickup and tune.meter is not None:
        pickup = _first_bar_length(events)
        if pickup is not None and 0 < pickup < tune.meter.bar_length:
            pad = tune.meter.bar_length - pickup
            items[:0] = [{"type": "rest", "duration": _frac(d), "pad": True}
                         for d in drawable_pieces(pad)]
    return items


def _note_items(note: Note, length: Fraction) -> list[dict[str, Any]]:
    pieces = drawable_pieces(length)
    if note.pitch is None:
        return [{"type": "rest", "duration": _frac(d)} for d in pieces]
    out = []
    for i, d in enumerate(pieces):
        tied = note.tie if i == len(pieces) - 1 else True
        out.append({"type": "note", "duration": _frac(d), "pitches": [_pitch_json(note, tied)]})
    return out


def _pitch_json(note: Note, tie: bool | None = None) -> dict[str, Any]:
    p = note.pitch
    assert p is not None
    return {"pitch": p.midi, "tpc": tpc(p), "step": p.step, "alter": p.alter,
            "octave": p.octave, "tie": note.tie if tie is None else tie}


def _first_bar_length(events: Sequence) -> Fraction | None:
    for e in events:
        if isinstance(e, Bar):
            return e.onset
    return None


def item_notes(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The note and rest items in order, tuplet members included (for callers
    that compare what MuseScore holds with what abcgen reported)."""
    out = []
    for item in items:
        if item["type"] == "tuplet":
            out.extend(item_notes(item["items"]))
        elif item["type"] in ("note", "rest"):
            out.append(item)
    return out


# ------------------------------------------------------------------ selection -> prime


@dataclass(frozen=True)
class Prime:
    meter: str
    key: str
    unit: str
    music: str


def selection_to_prime(selection: dict[str, Any]) -> Prime:
    """The ABC header choices and music of a selection, for `prime_text`."""
    try:
        time = selection["time"]
        meter = Meter(int(time["numerator"]), int(time["denominator"]))
        key_info = selection.get("key") or {}
        fifths = int(key_info.get("fifths", 0))
        mode = str(key_info.get("mode") or "major").lower()
        items = selection["notes"]
    except (KeyError, TypeError, ValueError) as err:
        raise AbcgenError(f"selection: missing or bad field ({err})") from None
    if mode not in MODE_WORDS:
        raise AbcgenError(f"selection: unknown mode {mode!r}; use one of {', '.join(MODE_WORDS)}")
    if not -7 <= fifths <= 7:
        raise AbcgenError(f"selection: key signature of {fifths} fifths is outside -7..7")
    if meter.numerator < 1 or meter.denominator < 1:
        raise AbcgenError(f"selection: bad time signature {meter.numerator}/{meter.denominator}")
    mode = MODE_WORDS[mode]  # its tonic: that many fifths from the signature's major key
    key_text = key_name(*spelled(fifths - MODES[mode][1]), MODE_SUFFIX[mode])
    meter_text = f"{meter.numerator}/{meter.denominator}"
    unit = default_unit(meter)
    writer = _AbcWriter(parse_key(key_text)[0], meter, unit)
    offset = selection.get("offset")
    writer.position = Fraction(*offset) if offset else Fraction(0)
    writer.write(_flatten(items))
    if not writer.notes:
        raise AbcgenError("selection: it holds no notes or rests")
    return Prime(meter_text, key_text, str(unit), writer.text())


def _flatten(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tuplet groups become members that know their sounding length ("actual")."""
    out = []
    for item in items:
        if not isinstance(item, dict) or "type" not in item:
            raise AbcgenError(f"selection: bad item {item!r}")
        if item["type"] == "tuplet":
            p, q = item["ratio"]
            for member in _flatten(item["items"]):
                member = dict(member)
                member.setdefault("actual", _frac(Fraction(*member["duration"]) * q / p))
                out.append(member)
        else:
            out.append(item)
    return out


class _AbcWriter:
    """Notes -> ABC music text, accidentals written against key and bar."""

    def __init__(self, key: Key, meter: Meter, unit: Fraction) -> None:
        self.key, self.meter, self.unit = key, meter, unit
        self.position = Fraction(0)  # in the current bar
        self.notes = 0
        self._parts: list[str] = []
        # accidentals written in the bar, by (step, octave) and by step (any octave)
        self._bar_alters: dict[tuple[str, int | None], int] = {}

    def text(self) -> str:
        text = "".join(self._parts).rstrip()
        if self.position == 0 and self.notes:  # it ended on a bar line, which the
            return text[:-2] + "|" if text.endswith("|]") else text  # music goes past
        if self.position == self.meter.bar_length:
            return text + "|"
        return text + " "  # a space ends the last note, so the model cannot lengthen it

    def write(self, items: list[dict[str, Any]]) -> None:
        i = 0
        while i < len(items):
            item = items[i]
            if item["type"] == "bar":
                if self._parts and self._parts[-1] == " ":
                    self._parts.pop()
                kind = item.get("kind")  # section ends allow the short bars around them
                kind = kind if kind in _BAR_KINDS else "|"
                if self._parts and self._parts[-1] in _BAR_KINDS:  # `|` at a line end and start
                    if kind != "|":
                        self._parts[-1] = kind
                else:
                    self._parts.append(kind)
                self.position = Fraction(0)
                self._bar_alters.clear()
                i += 1
                continue
            if item["type"] not in ("note", "rest"):
                raise AbcgenError(f"selection: unknown item type {item['type']!r}")
            ratio = self._ratio(item)
            if ratio == 1:
                self._note(item, self._length(item))
                i += 1
                continue
            run = [item]
            while (i + len(run) < len(items) and items[i + len(run)]["type"] in ("note", "rest")
                   and self._ratio(items[i + len(run)]) == ratio):
                run.append(items[i + len(run)])
            self._tuplets(run, ratio)
            i += len(run)

    def _tuplets(self, run: list[dict[str, Any]], ratio: Fraction) -> None:
        p, q = ratio.numerator, ratio.denominator  # p notes in the time of q
        for start in range(0, len(run), p):
            chunk = run[start:start + p]
            self._parts.append("(3" if (p, q, len(chunk)) == (3, 2, 3)
                               else f"({p}:{q}:{len(chunk)}")
            for item in chunk:  # no spaces inside a group, as in the training tunes
                self._note(item, Fraction(*item["duration"]), self._length(item), space=False)
            self._parts.append(" ")

    def _ratio(self, item: dict[str, Any]) -> Fraction:
        return Fraction(*item["duration"]) / self._length(item)

    @staticmethod
    def _length(item: dict[str, Any]) -> Fraction:
        length = Fraction(*item.get("actual") or item["duration"])
        if length <= 0:
            raise AbcgenError(f"selection: a length must be positive, got {length}")
        return length

    def _note(self, item: dict[str, Any], written: Fraction, sounding: Fraction | None = None,
              *, space: bool = True) -> None:
        length = length_text(written / self.unit)
        if item["type"] == "rest":
            self._parts.append("z" + length)
        else:
            pitches = item.get("pitches") or []
            if not pitches:
                raise AbcgenError("selection: a note item without pitches")
            ties = [bool(p.get("tie")) for p in pitches]
            heads = [self._head(p) for p in pitches]
            if len(heads) == 1:
                self._parts.append(heads[0] + length + "-" * ties[0])
            elif all(ties):  # `[d3f3]-`: the form the model saw (lengths inside)
                self._parts.append("[" + "".join(h + length for h in heads) + "]-")
            else:
                notes = (h + length + "-" * t for h, t in zip(heads, ties, strict=True))
                self._parts.append("[" + "".join(notes) + "]")
        if space:
            self._parts.append(" ")
        self.notes += 1
        self.position += sounding if sounding is not None else written

    def _head(self, p: dict[str, Any]) -> str:
        try:
            pitch = spell(int(p["pitch"]), None if p.get("tpc") is None else int(p["tpc"]),
                          self.key.fifths)
        except (KeyError, TypeError, ValueError) as err:
            raise AbcgenError(f"selection: bad pitch {p!r} ({err})") from None
        # Readers differ on how far an accidental reaches (abc2midi and abcgen: every
        # octave of the letter; others: that octave only), so one is written wherever
        # either reading would get this note wrong.
        signature = self.key.alter_of(pitch.step)
        octave = self._bar_alters.get((pitch.step, pitch.octave), signature)
        letter = self._bar_alters.get((pitch.step, None), signature)
        accidental = ""
        if pitch.alter != octave or pitch.alter != letter:
            accidental = ACCIDENTAL_TEXT[pitch.alter]
            self._bar_alters[(pitch.step, pitch.octave)] = pitch.alter
            self._bar_alters[(pitch.step, None)] = pitch.alter
        return accidental + note_letter(pitch.step, pitch.octave)
