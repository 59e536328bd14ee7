"""Tune -> MusicXML 4.0 (score-partwise), written so that notation programs open
it cleanly and play it the way `repeats.expand` does.

Measures follow the written bar lines. Notation programs read a lone `:|` as
"repeat from the beginning" where folk musicians repeat the section, so every
repeated section gets an explicit forward repeat. Lengths that no single note
value shows (a 5/8 note) become tied notes.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from fractions import Fraction

from abcgen.runtime.abc.chordsymbol import parse_chord
from abcgen.runtime.abc.events import Bar, ChordSymbol, FieldChange, Key, Meter, Note, Tune
from abcgen.runtime.abc.fields import MODE_NAMES
from abcgen.runtime.abc.repeats import ending_numbers
from abcgen.runtime.atomic import write_atomic

_HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN"'
    ' "http://www.musicxml.org/dtds/partwise.dtd">\n'
)
_TYPES = {
    Fraction(2): "breve",
    Fraction(1): "whole",
    Fraction(1, 2): "half",
    Fraction(1, 4): "quarter",
    Fraction(1, 8): "eighth",
    Fraction(1, 16): "16th",
    Fraction(1, 32): "32nd",
    Fraction(1, 64): "64th",
    Fraction(1, 128): "128th",
}
# every length one note value shows: (type, dots), longest first
_NOTATED = dict(
    sorted(
        (
            (base * (2 - Fraction(1, 2**dots)), (name, dots))
            for base, name in _TYPES.items()
            for dots in range(3)
        ),
        reverse=True,
    )
)
_ACCIDENTALS = {-2: "flat-flat", -1: "flat", 0: "natural", 1: "sharp", 2: "double-sharp"}
_SECTION_END = {"light-light", "light-heavy"}
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


@dataclass
class _Measure:
    items: list[Note | ChordSymbol | FieldChange] = field(default_factory=list)
    start_repeat: bool = False
    end_repeat: bool = False
    right_style: str | None = None
    ending: str | None = None  # volta number(s) starting here, as written
    ending_stop: tuple[str, str] | None = None  # (volta number(s), 'stop' or 'discontinue')
    repeat_times: int = 2  # passes through a section with endings

    @property
    def has_notes(self) -> bool:
        return any(isinstance(i, Note) for i in self.items)


def tune_to_musicxml(tune: Tune, *, title: str | None = None, program: int = 0) -> str:
    """The tune as a MusicXML 4.0 score-partwise document; `program` is 0-based GM."""
    measures = _measures(tune.events)
    _mark_sections(measures)
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
    for measure in measures or [_Measure()]:
        writer.measure(part_el, measure)
    ET.indent(root)
    return _HEADER + ET.tostring(root, encoding="unicode") + "\n"


def write_musicxml(tune: Tune, path: str | os.PathLike[str], **opts: object) -> None:
    """Write `tune_to_musicxml(tune, **opts)` to `path` atomically."""
    write_atomic(path, tune_to_musicxml(tune, **opts))  # type: ignore[arg-type]


def _measures(events: list) -> list[_Measure]:
    """Cut the written events into measures at the bar lines."""
    measures: list[_Measure] = []
    cur = _Measure()
    for e in events:
        if not isinstance(e, Bar):
            if isinstance(e, Note) and e.measures > 1:  # `Z4`: four bars of rest
                rest = replace(e, duration=e.duration / e.measures, measures=1)
                for _ in range(e.measures - 1):
                    cur.items.append(rest)
                    measures.append(cur)
                    cur = _Measure()
                e = rest
            cur.items.append(e)
            continue
        if cur.has_notes:
            cur.end_repeat = e.kind in (":|", "::")
            cur.right_style = {
                "||": "light-light",
                "|]": "light-heavy",
                "[|": "light-light",  # MuseScore 3 has no thick-thin bar line on the right
                ":|": "light-heavy",
                "::": "light-heavy",
            }.get(e.kind)
            measures.append(cur)
            cur = _Measure()
        elif e.kind in (":|", "::") and measures:  # `:| |:` written apart
            measures[-1].end_repeat = True
            measures[-1].right_style = "light-heavy"
        elif e.kind == "[|" and measures:
            measures[-1].right_style = measures[-1].right_style or "light-light"
        cur.start_repeat = cur.start_repeat or e.kind in ("|:", "::")
        cur.ending = e.ending or cur.ending
    if cur.has_notes:
        measures.append(cur)
    elif measures:  # symbols or fields after the last bar line still belong to the tune
        measures[-1].items += [i for i in cur.items if isinstance(i, ChordSymbol)]
    return measures


def _mark_sections(measures: list[_Measure]) -> None:
    """Add a forward repeat at the start of each repeated section and close each
    volta, reading sections as `repeats.expand` does: a section starts at `|:`,
    after `:|` or `::`, after a double bar (unless `|:` opened it), and after the
    first bar of its last ending; a section with endings is played as often as
    its highest ending number; an ending runs to its `:|`, the last one is one bar."""
    start, explicit, passes = 0, False, 0
    i = 0
    while i < len(measures):
        m = measures[i]
        if m.start_repeat:
            start, explicit, passes = i, True, 0
        if m.ending is not None:
            passes = passes or _passes(measures, i)
            j = _volta_end(measures, i)
            if measures[j].end_repeat and max(ending_numbers(m.ending), default=0) < passes:
                measures[j].ending_stop = (m.ending, "stop")
                measures[j].repeat_times = passes
                measures[start].start_repeat = True
            else:  # the last ending: one bar, after which nothing goes back
                j = i
                measures[j].ending_stop = (m.ending, "discontinue")
                measures[j].end_repeat = False
                start, explicit, passes = j + 1, False, 0
            i = j + 1
            continue
        if m.end_repeat:
            measures[start].start_repeat = True
            start, explicit, passes = i + 1, False, 0
        elif m.right_style in _SECTION_END and not explicit:
            start = i + 1
        i += 1


def _volta_end(measures: list[_Measure], i: int) -> int:
    """The last measure of the volta starting at measures[i], read up to its `:|`."""
    j = i
    while not _section_end(measures[j]) and j + 1 < len(measures):
        if measures[j + 1].ending is not None or measures[j + 1].start_repeat:
            break
        j += 1
    return j


def _passes(measures: list[_Measure], i: int) -> int:
    """How often the section whose endings start at measures[i] is played."""
    highest = 2
    while i < len(measures) and measures[i].ending is not None:
        highest = max([highest, *ending_numbers(measures[i].ending)])
        j = _volta_end(measures, i)
        if not measures[j].end_repeat:
            break
        i = j + 1
    return highest


def _section_end(m: _Measure) -> bool:
    return m.end_repeat or m.right_style in _SECTION_END


class _Writer:
    """Writes measures one after another, carrying key, meter and numbering along."""

    def __init__(self, tune: Tune, measures: list[_Measure]) -> None:
        self.tune = tune
        self.key = _signature(tune.key)
        self.meter: Meter | None = tune.meter
        self.tempo: float | None = None
        self.number = 0
        notes = [n for m in measures for n in m.items if isinstance(n, Note) and not n.grace]
        lengths = [x for n in notes for x in _split(n.duration)] + [n.duration for n in notes]
        self.divisions = math.lcm(*((x * 4).denominator for x in lengths)) if lengths else 1
        self.marks = _tie_and_tuplet_marks(notes)

    def measure(self, part: ET.Element, m: _Measure) -> None:
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

    def _tempo(self, el: ET.Element, tempo: float, text: str) -> None:
        self.tempo = tempo
        direction = ET.SubElement(el, "direction", placement="above")
        metronome = ET.SubElement(ET.SubElement(direction, "direction-type"), "metronome")
        m = re.search(r"(\d+)/(\d+)\s*=\s*(\d+(?:\.\d+)?)", text)
        beat = Fraction(int(m[1]), int(m[2])) if m and int(m[2]) else None
        name, dots = _NOTATED.get(beat, ("quarter", 0)) if beat else ("quarter", 0)
        ET.SubElement(metronome, "beat-unit").text = name
        for _ in range(dots):
            ET.SubElement(metronome, "beat-unit-dot")
        per_minute = m[3] if m and beat in _NOTATED else f"{tempo:g}"
        ET.SubElement(metronome, "per-minute").text = per_minute
        ET.SubElement(direction, "sound", tempo=f"{tempo:g}")

    def _notes(self, el: ET.Element, group: list[Note], state: dict, lone_grace: bool) -> None:
        """One note or chord, split into tied notes where no single value shows its length."""
        head = group[0]
        if head.grace:
            pieces = [(None, _notated(head.duration))]
        elif head.tuplet is not None:
            p, q, _ = head.tuplet
            written = head.written or head.duration * Fraction(p, q)
            pieces = [(head.duration, _notated(written))]
        elif head.measures:
            pieces = [(head.duration, None)]
        else:
            pieces = [(x, _notated(x)) for x in _split(head.duration)]
        last = len(pieces) - 1
        for k, (duration, notated) in enumerate(pieces):
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
                if notated is not None:
                    ET.SubElement(note, "type").text = notated[0]
                    for _ in range(notated[1]):
                        ET.SubElement(note, "dot")
                if k == 0 and n.pitch is not None:
                    shown = _accidental(n, self.key, state, "stop" in marks)
                    if shown:
                        ET.SubElement(note, "accidental").text = shown
                if n.tuplet is not None and not n.grace:
                    mod = ET.SubElement(note, "time-modification")
                    ET.SubElement(mod, "actual-notes").text = str(n.tuplet[0])
                    ET.SubElement(mod, "normal-notes").text = str(n.tuplet[1])
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


def _split(length: Fraction) -> list[Fraction]:
    """Note values, longest first, that add up to `length`."""
    pieces = []
    while length > 0:
        fit = next((v for v in _NOTATED if v <= length), None)
        if fit is None:  # shorter than a 128th: too small to show, so lengthen the last value
            if not pieces:
                pieces.append(length)
            else:
                pieces[-1] += length
            break
        pieces.append(fit)
        length -= fit
    return pieces


def _notated(length: Fraction) -> tuple[str, int]:
    """The note value that shows `length`, or the longest one shorter than it."""
    return _NOTATED.get(length) or next(
        (v for k, v in _NOTATED.items() if k <= length), ("128th", 0)
    )


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
        return _ACCIDENTALS.get(n.pitch.alter)
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
