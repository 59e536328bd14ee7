"""Tune -> MusicXML 4.0 (score-partwise), written so that notation programs open
it cleanly and play it the way `repeats.expand` (and abc2midi) does.

Which measures the score shows, with which repeat signs and voltas, is decided
in score_layout.py; this module writes them. Lengths that no single note value
shows (a 5/8 note) become tied notes; a part of a P: order gets a rehearsal mark.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from fractions import Fraction

from abcgen.runtime.abc.chordsymbol import parse_chord
from abcgen.runtime.abc.events import ChordSymbol, FieldChange, Note, Tune
from abcgen.runtime.abc.keys import ACCIDENTAL_NAMES, MODE_NAMES, Key
from abcgen.runtime.abc.limits import check_measure, check_tune
from abcgen.runtime.abc.meter import Meter
from abcgen.runtime.abc.repeats import ending_numbers
from abcgen.runtime.atomic import write_atomic
from abcgen.runtime.formats.note_values import NOTATED, beams, notated, split
from abcgen.runtime.formats.score_layout import Measure, layout

_HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN"'
    ' "http://www.musicxml.org/dtds/partwise.dtd">\n'
)
# What XML 1.0 forbids: control characters but tab, newline and carriage return; lone
# surrogates; U+FFFE and U+FFFF. A title, composer, chord symbol or part label holding
# one (`T:a\x0cb`) made a file MuseScore refuses as not well-formed; they are left out.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# ABC decoration (with or without its !..! or +..+) -> (notations child, element)
_DECORATIONS = {
    ".": ("articulations", "staccato"),
    "staccato": ("articulations", "staccato"),
    "L": ("articulations", "accent"),
    "accent": ("articulations", "accent"),
    ">": ("articulations", "accent"),
    "tenuto": ("articulations", "tenuto"),
    "T": ("ornaments", "trill-mark"),
    "trill": ("ornaments", "trill-mark"),
    "~": ("ornaments", "turn"),
    "roll": ("ornaments", "turn"),
    "turn": ("ornaments", "turn"),
    "M": ("ornaments", "mordent"),
    "mordent": ("ornaments", "mordent"),
    "lowermordent": ("ornaments", "mordent"),
    "P": ("ornaments", "inverted-mordent"),
    "uppermordent": ("ornaments", "inverted-mordent"),
    "pralltriller": ("ornaments", "inverted-mordent"),
    "u": ("technical", "up-bow"),
    "upbow": ("technical", "up-bow"),
    "v": ("technical", "down-bow"),
    "downbow": ("technical", "down-bow"),
    "H": ("fermata", ""),
    "fermata": ("fermata", ""),
}


def tune_to_musicxml(tune: Tune, *, title: str | None = None, program: int = 0) -> str:
    """The tune as a MusicXML 4.0 score-partwise document; `program` is 0-based GM.
    The score shows the first voice of a voice overlay (`&`) only."""
    check_tune(tune)
    events = [e for e in tune.events if not (isinstance(e, Note) and e.voice > 1)]
    measures = layout(replace(tune, events=events) if len(events) < len(tune.events) else tune)
    for number, m in enumerate(measures, 1):
        check_measure(number, sum(isinstance(i, Note) for i in m.items))
    title = title or tune.title or "Untitled"

    root = ET.Element("score-partwise", version="4.0")
    ET.SubElement(ET.SubElement(root, "work"), "work-title").text = title
    ET.SubElement(root, "movement-title").text = title
    ident = ET.SubElement(root, "identification")
    if tune.fields.get("C"):
        ET.SubElement(ident, "creator", type="composer").text = tune.fields["C"]
    ET.SubElement(ET.SubElement(ident, "encoding"), "software").text = "abcgen"
    part = ET.SubElement(ET.SubElement(root, "part-list"), "score-part", id="P1")
    ET.SubElement(part, "part-name").text = "Melody"
    instrument = ET.SubElement(part, "score-instrument", id="P1-I1")
    ET.SubElement(instrument, "instrument-name").text = "Melody"
    midi = ET.SubElement(part, "midi-instrument", id="P1-I1")
    ET.SubElement(midi, "midi-channel").text = "1"
    ET.SubElement(midi, "midi-program").text = str(program + 1)

    writer = _Writer(tune, measures)
    part_el = ET.SubElement(root, "part", id="P1")
    for measure in measures or [Measure()]:
        writer.measure(part_el, measure)
    ET.indent(root)
    return _HEADER + _NOT_XML.sub("", ET.tostring(root, encoding="unicode")) + "\n"


def write_musicxml(tune: Tune, path: str | os.PathLike[str], **opts: object) -> None:
    """Write `tune_to_musicxml(tune, **opts)` to `path` atomically."""
    write_atomic(path, tune_to_musicxml(tune, **opts))  # type: ignore[arg-type]


class _Writer:
    """Writes measures one after another, carrying key, meter and numbering along."""

    def __init__(self, tune: Tune, measures: list[Measure]) -> None:
        self.tune = tune
        self.key = _signature(tune.key)
        self.meter: Meter | None = tune.meter
        self.tempo: float | None = None
        self.number = 0
        notes = [n for m in measures for n in m.items if isinstance(n, Note) and not n.grace]
        lengths = [x for n in notes for x in split(n.duration)] + [n.duration for n in notes]
        self.divisions = math.lcm(*((x * 4).denominator for x in lengths)) if lengths else 1
        self.marks = _tie_and_tuplet_marks(notes)
        self.beams: dict[int, list] = {}

    def measure(self, part: ET.Element, m: Measure) -> None:
        first = part.find("measure") is None
        length = sum(
            (g[0].duration for g in _groups(m.items) if isinstance(g[0], Note) and not g[0].grace),
            Fraction(0),
        )
        if first and self.meter is not None and 0 < length < self.meter.bar_length:
            el = ET.SubElement(part, "measure", number="0", implicit="yes")  # a pickup
        else:
            self.number += 1
            el = ET.SubElement(part, "measure", number=str(self.number))
        if m.start_repeat or m.ending:
            bar = ET.SubElement(el, "barline", location="left")
            ET.SubElement(bar, "bar-style").text = "heavy-light" if m.start_repeat else "regular"
            if m.ending:
                _ending(bar, m.ending, "start")
            if m.start_repeat:
                ET.SubElement(bar, "repeat", direction="forward")
        if first:
            attrs = ET.SubElement(el, "attributes")
            ET.SubElement(attrs, "divisions").text = str(self.divisions)
            _key(attrs, self.key)
            _time(attrs, self.meter)
            clef = ET.SubElement(attrs, "clef")
            ET.SubElement(clef, "sign").text = "G"
            ET.SubElement(clef, "line").text = "2"
            if self.tune.tempo:
                self._tempo(el, self.tune.tempo, self.tune.fields.get("Q", ""))
        state: dict[tuple[str, int], int] = {}  # accidentals in force in this measure
        groups = _groups(m.items)
        self.beams = beams(groups)
        graces = [isinstance(g[0], Note) and g[0].grace for g in groups]
        for i, group in enumerate(groups):
            item = group[0]
            if isinstance(item, Note):
                lone = (
                    graces[i]
                    and not any(graces[max(i - 1, 0) : i])
                    and not any(graces[i + 1 : i + 2])
                )
                self._notes(el, group, state, lone)
            elif isinstance(item, ChordSymbol):
                _harmony(el, item.text)
            else:
                self._field(el, item)
        if m.right_style or m.end_repeat or m.ending_stop:
            bar = ET.SubElement(el, "barline", location="right")
            ET.SubElement(bar, "bar-style").text = m.right_style or "regular"
            if m.ending_stop:
                _ending(bar, *m.ending_stop)
            if m.end_repeat:
                repeat = ET.SubElement(bar, "repeat", direction="backward")
                if m.repeat_times > 2:
                    repeat.set("times", str(m.repeat_times))

    def _field(self, el: ET.Element, f: FieldChange) -> None:
        if f.name == "K" and f.key is not None and _signature(f.key) != self.key:
            self.key = _signature(f.key)
            _key(ET.SubElement(el, "attributes"), self.key)
        elif f.name == "M" and f.meter != self.meter:
            self.meter = f.meter
            if f.meter is not None:
                _time(ET.SubElement(el, "attributes"), f.meter)
        elif f.name == "Q" and f.tempo and f.tempo != self.tempo:
            self._tempo(el, f.tempo, f.value)
        elif f.name == "P" and f.value.strip():
            direction = ET.SubElement(el, "direction", placement="above")
            mark = ET.SubElement(ET.SubElement(direction, "direction-type"), "rehearsal")
            mark.text = f.value.strip()

    def _tempo(self, el: ET.Element, tempo: float, text: str) -> None:
        self.tempo = tempo
        direction = ET.SubElement(el, "direction", placement="above")
        metronome = ET.SubElement(ET.SubElement(direction, "direction-type"), "metronome")
        m = re.search(r"(\d+)/(\d+)\s*=\s*(\d+(?:\.\d+)?)", text)
        beat = Fraction(int(m[1]), int(m[2])) if m and int(m[2]) else None
        name, dots = NOTATED.get(beat, ("quarter", 0)) if beat else ("quarter", 0)
        ET.SubElement(metronome, "beat-unit").text = name
        for _ in range(dots):
            ET.SubElement(metronome, "beat-unit-dot")
        per_minute = m[3] if m and beat in NOTATED else f"{tempo:g}"
        ET.SubElement(metronome, "per-minute").text = per_minute
        ET.SubElement(direction, "sound", tempo=f"{tempo:g}")

    def _notes(self, el: ET.Element, group: list[Note], state: dict, lone_grace: bool) -> None:
        """One note or chord, split into tied notes where no single value shows its length."""
        head = group[0]
        if head.grace:
            pieces = [(None, notated(head.duration))]
        elif head.tuplet is not None:
            p, q, _ = head.tuplet
            written = head.written or head.duration * Fraction(p, q)
            pieces = [(head.duration, notated(written))]
        elif head.measures:
            pieces = [(head.duration, None)]
        else:
            pieces = [(x, notated(x)) for x in split(head.duration)]
        last = len(pieces) - 1
        for k, (duration, value) in enumerate(pieces):
            for ci, n in enumerate(group):
                marks = self.marks.get(id(n), set())
                ties = []
                if n.pitch is not None:
                    if k > 0 or (k == 0 and "stop" in marks):
                        ties.append("stop")
                    if k < last or (k == last and "start" in marks):
                        ties.append("start")
                note = ET.SubElement(el, "note")
                if n.invisible:
                    note.set("print-object", "no")
                if n.grace:  # a lone grace note gets a slash, as abcm2ps draws it
                    ET.SubElement(note, "grace", slash="yes" if lone_grace else "no")
                if ci:
                    ET.SubElement(note, "chord")
                if n.pitch is None:
                    ET.SubElement(note, "rest")
                else:
                    pitch = ET.SubElement(note, "pitch")
                    ET.SubElement(pitch, "step").text = n.pitch.step
                    if n.pitch.alter:
                        ET.SubElement(pitch, "alter").text = str(n.pitch.alter)
                    ET.SubElement(pitch, "octave").text = str(n.pitch.octave)
                if duration is not None:
                    ET.SubElement(note, "duration").text = str(int(duration * 4 * self.divisions))
                for t in ties:
                    ET.SubElement(note, "tie", type=t)
                ET.SubElement(note, "voice").text = "1"
                if value is not None:
                    ET.SubElement(note, "type").text = value[0]
                    for _ in range(value[1]):
                        ET.SubElement(note, "dot")
                if k == 0 and n.pitch is not None:
                    shown = _accidental(n, self.key, state, "stop" in marks)
                    if shown:
                        ET.SubElement(note, "accidental").text = shown
                if n.tuplet is not None and not n.grace:
                    mod = ET.SubElement(note, "time-modification")
                    ET.SubElement(mod, "actual-notes").text = str(n.tuplet[0])
                    ET.SubElement(mod, "normal-notes").text = str(n.tuplet[1])
                if ci == 0:
                    for level, kind in self.beams.get(id(n), ()):
                        ET.SubElement(note, "beam", number=str(level)).text = kind
                notations: list[tuple[str, str, dict]] = [("tied", "", {"type": t}) for t in ties]
                if ci == 0:
                    if k == 0 and "tuplet-start" in marks:
                        notations.append(("tuplet", "", {"type": "start", "bracket": "yes"}))
                    if k == last and "tuplet-stop" in marks:
                        notations.append(("tuplet", "", {"type": "stop"}))
                if k == 0:
                    notations += [
                        (*_DECORATIONS[d], {})
                        for d in map(_decoration, n.decorations)
                        if d in _DECORATIONS
                    ]
                _notations(note, notations)


def _groups(items: list) -> list[list]:
    """Items with each chord's further notes gathered behind its first note."""
    groups: list[list] = []
    for item in items:
        if isinstance(item, Note) and item.chord_index and groups:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def _tie_and_tuplet_marks(notes: list[Note]) -> dict[int, set[str]]:
    """Which notes start or stop a tie (to a note of the same pitch in the next
    chord) or a tuplet bracket, keyed by id()."""
    marks: dict[int, set[str]] = {}
    chords = _groups(notes)
    for a, b in itertools.pairwise(chords):
        for n in a:
            if n.tie and n.pitch is not None:
                m = next((x for x in b if x.pitch and x.pitch.midi == n.pitch.midi), None)
                if m is not None:
                    marks.setdefault(id(n), set()).add("start")
                    marks.setdefault(id(m), set()).add("stop")
    heads = [c[0] for c in chords]
    for i, n in enumerate(heads):
        if n.tuplet is None:
            continue
        before = heads[i - 1] if i else None
        after = heads[i + 1] if i + 1 < len(heads) else None
        if n.tuplet[2] == 0 or before is None or before.tuplet is None:
            marks.setdefault(id(n), set()).add("tuplet-start")
        if after is None or after.tuplet is None or after.tuplet[2] == 0:
            marks.setdefault(id(n), set()).add("tuplet-stop")
    return marks


def _accidental(n: Note, key: Key | None, state: dict, tied_over: bool) -> str | None:
    """The accidental to print: where the pitch differs from what key and earlier
    accidentals in the measure imply, or where the tune wrote one (a courtesy)."""
    assert n.pitch is not None
    where = (n.pitch.step, n.pitch.octave)
    implied = state.get(where, key.alter_of(n.pitch.step) if key else 0)
    if tied_over and n.accidental is None:
        return None
    state[where] = n.pitch.alter
    if n.pitch.alter != implied or n.accidental is not None:
        return ACCIDENTAL_NAMES.get(n.pitch.alter)
    return None


def _decoration(text: str) -> str:
    return text.strip("!+") if len(text) > 1 else text


def _notations(note: ET.Element, items: list[tuple[str, str, dict]]) -> None:
    if not items:
        return
    notations = ET.SubElement(note, "notations")
    containers: dict[str, ET.Element] = {}
    for tag, child, attrib in items:
        if not child:
            ET.SubElement(notations, tag, attrib)
            continue
        if tag not in containers:
            containers[tag] = ET.SubElement(notations, tag)
        ET.SubElement(containers[tag], child, attrib)


def _signature(key: Key | None) -> Key | None:
    """The key as MusicXML writes it: explicit accidentals of `K:D exp ^c` would need
    a non-traditional signature that MuseScore 3 reads badly, so they print on notes."""
    return replace(key, extra=()) if key is not None else None


def _key(attrs: ET.Element, key: Key | None) -> None:
    el = ET.SubElement(attrs, "key")
    if key is None:
        ET.SubElement(el, "fifths").text = "0"
    else:
        ET.SubElement(el, "fifths").text = str(key.fifths)
        ET.SubElement(el, "mode").text = MODE_NAMES.get(key.mode, key.mode)


def _time(attrs: ET.Element, meter: Meter | None) -> None:
    if meter is None:
        return
    el = ET.SubElement(attrs, "time")
    if meter.symbol in ("common", "cut"):
        el.set("symbol", meter.symbol)
    ET.SubElement(el, "beats").text = str(meter.numerator)
    ET.SubElement(el, "beat-type").text = str(meter.denominator)


def _ending(bar: ET.Element, written: str, kind: str) -> None:
    number = ", ".join(map(str, ending_numbers(written))) or "1"
    el = ET.SubElement(bar, "ending", number=number, type=kind)
    if kind == "start":
        el.text = written.replace(",", ", ") + "."


def _harmony(el: ET.Element, text: str) -> None:
    chord = parse_chord(text)
    if chord is None:  # an annotation: `"^text"` above, `"_text"` below
        words = text[1:] if text[:1] in "^_<>@" else text
        if not words.strip():
            return
        placement = "below" if text.startswith("_") else "above"
        direction = ET.SubElement(el, "direction", placement=placement)
        ET.SubElement(ET.SubElement(direction, "direction-type"), "words").text = words
        return
    harmony = ET.SubElement(el, "harmony")
    root = ET.SubElement(harmony, "root")
    ET.SubElement(root, "root-step").text = chord.root
    if chord.root_alter:
        ET.SubElement(root, "root-alter").text = str(chord.root_alter)
    ET.SubElement(harmony, "kind", text=chord.suffix).text = chord.kind
    if chord.bass is not None:
        bass = ET.SubElement(harmony, "bass")
        ET.SubElement(bass, "bass-step").text = chord.bass[0]
        if chord.bass[1]:
            ET.SubElement(bass, "bass-alter").text = str(chord.bass[1])
