"""Tune -> Standard MIDI File, played the way a folk musician reads the tune.

A type-1 file: track 0 is the conductor (tempo, meter, key), track 1 the melody
with repeats played, ties joined, grace notes taking their time from the note
they ornament, and velocity accents on strong beats; track 2, on request, a
simple accompaniment that sounds each chord symbol until the next one.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from fractions import Fraction

import mido

from abcgen.runtime.abc.chordsymbol import parse_chord
from abcgen.runtime.abc.events import Bar, ChordSymbol, FieldChange, Note, Tune
from abcgen.runtime.abc.limits import TEMPO, check_tune
from abcgen.runtime.abc.meter import Meter
from abcgen.runtime.abc.repeats import expand
from abcgen.runtime.atomic import write_atomic
from abcgen.runtime.errors import AbcgenError

TICKS_PER_BEAT = 480
GRACE_LENGTH = Fraction(1, 32)  # how long a grace note sounds (at most), in whole notes
# velocities: downbeat, other strong beat, other beat, off the beat, grace note, accompaniment
VELOCITY = {"down": 105, "strong": 95, "beat": 85, "off": 72, "grace": 64, "chord": 60}

_MAJOR = ["Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#"]
_MINOR = [
    "Abm",
    "Ebm",
    "Bbm",
    "Fm",
    "Cm",
    "Gm",
    "Dm",
    "Am",
    "Em",
    "Bm",
    "F#m",
    "C#m",
    "G#m",
    "D#m",
    "A#m",
]


@dataclass(frozen=True, slots=True)
class _Sound:
    start: Fraction  # whole notes from the start of the performance
    end: Fraction
    pitch: int
    velocity: int


def default_bpm(meter: Meter | None) -> float:
    """Quarter notes per minute for a tune without Q:: a moderate dance tempo."""
    if meter is None:
        return 120.0
    if meter.beat == Fraction(3, 8):
        return 150.0  # jigs and slip jigs: dotted quarter = 100
    if meter.denominator == 2:
        return 160.0  # reels in cut time: half = 80
    return 120.0


def tune_to_midi(
    tune: Tune,
    *,
    bpm: float | None = None,
    program: int = 0,
    channel: int = 0,
    chords: bool = False,
    chord_program: int | None = None,
    chord_channel: int | None = None,
) -> mido.MidiFile:
    """The tune as a type-1 MIDI file; `bpm` (quarter notes per minute) overrides Q:."""
    if chord_channel is None:
        chord_channel = (channel + 1) % 16 if channel != 8 else 10  # 9 is the drum channel
    chord_program = program if chord_program is None else chord_program
    for name, value, top in [
        ("program", program, 127),
        ("channel", channel, 15),
        ("chord_program", chord_program, 127),
        ("chord_channel", chord_channel, 15),
    ]:
        if not 0 <= value <= top:
            raise AbcgenError(f"{name} must be 0..{top}, got {value}")
    if bpm is not None and not TEMPO[0] <= bpm <= TEMPO[1]:
        raise AbcgenError(f"bpm must be {TEMPO[0]:g}..{TEMPO[1]:g}, got {bpm}")
    check_tune(tune)

    velocity, attached = _written_context(tune)
    played = expand(tune)
    conductor = _conductor(tune, played, attached, bpm)
    melody = [(0, mido.Message("program_change", channel=channel, program=program))]
    melody += _note_messages(_sounding(played, velocity), channel)
    tracks = [conductor, melody]
    if chords:
        accompaniment = _accompaniment(played, attached)
        if accompaniment:
            start = [
                (0, mido.Message("program_change", channel=chord_channel, program=chord_program))
            ]
            tracks.append(start + _note_messages(accompaniment, chord_channel))

    # Text in UTF-8, as abc2midi writes it: titles hold any character (mido's default,
    # Latin-1, cannot encode `Neil Gow’s Wife`).
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT, charset="utf-8")
    names = [tune.title or "abcgen", "melody", "chords"]
    for name, events in zip(names, tracks, strict=False):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        now = 0
        for tick, msg in events:
            track.append(msg.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)
    return midi


def write_midi(tune: Tune, path: str | os.PathLike[str], **opts: object) -> None:
    """Write `tune_to_midi(tune, **opts)` to `path` atomically."""
    buffer = io.BytesIO()
    tune_to_midi(tune, **opts).save(file=buffer)  # type: ignore[arg-type]
    write_atomic(path, buffer.getvalue())


def _tick(t: Fraction) -> int:
    return round(t * 4 * TICKS_PER_BEAT)


def _key(note: Note) -> tuple[int, int, int]:
    # A note keeps its source position when repeats are expanded: it links the played
    # note back to what stands near it in the written tune.
    return (note.line, note.col, note.chord_index)


def _written_context(tune: Tune) -> tuple[dict, dict]:
    """Velocity of each written note from its place in the bar, and the chord
    symbols and field changes that take effect at each note."""
    meter = tune.meter
    first_bar_end = next((e.onset for e in tune.events if isinstance(e, Bar) and e.onset > 0), None)
    bar_start = Fraction(0)
    velocity: dict = {}
    attached: dict = {}
    pending: list[ChordSymbol | FieldChange] = []
    for e in tune.events:
        if isinstance(e, Bar):
            bar_start = e.onset
        elif isinstance(e, ChordSymbol | FieldChange):
            if isinstance(e, FieldChange) and e.name == "M":
                meter = e.meter
            pending.append(e)
        elif isinstance(e, Note):
            if e.grace:
                velocity[_key(e)] = VELOCITY["grace"]
                continue
            if pending and e.chord_index == 0:
                attached[_key(e)] = pending
                pending = []
            start = bar_start
            if e.bar == 0 and meter and first_bar_end is not None:
                start = min(Fraction(0), first_bar_end - meter.bar_length)  # a pickup ends the bar
            velocity[_key(e)] = VELOCITY[_beat_strength(e.onset - start, meter)]
    return velocity, attached


def _beat_strength(position: Fraction, meter: Meter | None) -> str:
    if position == 0:
        return "down"
    if meter is None:
        return "off"
    beat = meter.beat
    if position % beat:
        return "off"
    beats = meter.bar_length / beat
    return "strong" if beats % 2 == 0 and beats > 2 and position * 2 == meter.bar_length else "beat"


def _sounding(played: list[Note], velocity: dict) -> list[_Sound]:
    """Notes as sounds; grace notes are played short at the start of the note they ornament."""
    sounds: list[_Sound] = []
    graces: list[Note] = []
    shift = Fraction(0)
    for n in played:
        if n.grace:
            if n.pitch is not None:
                graces.append(n)
            continue
        if n.chord_index == 0:
            shift = Fraction(0)
            if graces:
                length = min(GRACE_LENGTH, n.duration / (2 * len(graces)))
                for i, g in enumerate(graces):
                    start = n.onset + i * length
                    sounds.append(_Sound(start, start + length, g.pitch.midi, VELOCITY["grace"]))
                shift = length * len(graces)
                graces = []
        if n.pitch is not None:
            vel = velocity.get(_key(n), VELOCITY["beat"])
            sounds.append(_Sound(n.onset + shift, n.onset + n.duration, n.pitch.midi, vel))
    return sounds


def _note_messages(sounds: list[_Sound], channel: int) -> list[tuple[int, mido.Message]]:
    events = []
    for s in sounds:  # a unison (`[ee]`, a fiddle's double stop) is struck twice, as abc2midi does
        on = _tick(s.start)
        off = max(_tick(s.end), on + 1)
        events.append(
            (on, 1, mido.Message("note_on", channel=channel, note=s.pitch, velocity=s.velocity))
        )
        events.append((off, 0, mido.Message("note_off", channel=channel, note=s.pitch)))
    events.sort(key=lambda e: (e[0], e[1]))  # at one tick, release before striking again
    return [(tick, msg) for tick, _, msg in events]


def _accompaniment(played: list[Note], attached: dict) -> list[_Sound]:
    """One sustained voicing per chord symbol, held until the next symbol or the end."""
    sounds: list[_Sound] = []
    current: tuple[Fraction, list[int]] | None = None
    end = max((n.onset + n.duration for n in played if not n.grace), default=Fraction(0))
    for n in played:
        for e in attached.get(_key(n), ()) if n.chord_index == 0 and not n.grace else ():
            chord = parse_chord(e.text) if isinstance(e, ChordSymbol) else None
            if chord is None:
                continue
            if current is not None:
                sounds += _voicing(current, n.onset)
            current = (n.onset, chord.pitches())
    if current is not None:
        sounds += _voicing(current, end)
    return sounds


def _voicing(chord: tuple[Fraction, list[int]], end: Fraction) -> list[_Sound]:
    start, pitches = chord
    return [_Sound(start, end, p, VELOCITY["chord"]) for p in pitches] if end > start else []


def _conductor(tune: Tune, played: list[Note], attached: dict, bpm: float | None) -> list:
    tempo = bpm or tune.tempo or default_bpm(tune.meter)
    events = [(0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo)))]
    events += _signature_messages(0, tune.meter, tune.key)
    for n in played:
        if n.grace or n.chord_index:
            continue
        for e in attached.get(_key(n), ()):
            if not isinstance(e, FieldChange) or e.onset == 0:
                continue
            tick = _tick(n.onset)
            if e.name == "Q" and e.tempo and bpm is None:
                events.append((tick, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(e.tempo))))
            elif e.name in ("M", "K"):
                events += _signature_messages(tick, e.meter, e.key)
    return sorted(events, key=lambda e: e[0])


def _signature_messages(tick: int, meter: Meter | None, key) -> list:
    out = []
    # A MIDI time signature holds a numerator up to 255 and a power-of-two denominator;
    # a tune in another meter (`M:256/4`, `M:4/3`) is played without one.
    if meter is not None and 0 < meter.numerator <= 255 \
            and meter.denominator & (meter.denominator - 1) == 0:
        out.append(
            (
                tick,
                mido.MetaMessage(
                    "time_signature", numerator=meter.numerator, denominator=meter.denominator
                ),
            )
        )
    if key is not None and -7 <= key.fifths <= 7:
        names = _MINOR if key.mode == "min" else _MAJOR
        out.append((tick, mido.MetaMessage("key_signature", key=names[key.fifths + 7])))
    return out
