"""The MIDI writer: text -> parse -> .mid, read back with mido and compared with
the parsed notes in played order."""

from __future__ import annotations

from fractions import Fraction

import mido
import musescore
import pytest
from hypothesis import given, settings
from test_musicxml import ABC_SOUP, SAMPLE, corpus_tune

from abcgen.runtime.abc.chordsymbol import parse_chord
from abcgen.runtime.abc.events import ChordSymbol
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.abc.repeats import expand
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.formats.midi import TICKS_PER_BEAT, default_bpm, tune_to_midi, write_midi

REEL = 'X:1\nT:Reel\nM:4/4\nL:1/8\nK:D\n"D"FAAB AFED|"G"B2 (3BBB "A"AFED|]\n'


def read_back(path) -> tuple[mido.MidiFile, list[tuple[Fraction, Fraction, int, int, int]]]:
    """The file and its notes: (start, end in whole notes, pitch, velocity, channel)."""
    midi = mido.MidiFile(path)
    notes, sounding = [], {}
    for track in midi.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            when = Fraction(tick, 4 * midi.ticks_per_beat)
            if msg.type == "note_on" and msg.velocity:
                sounding[msg.channel, msg.note] = (when, msg.velocity)
            elif msg.type in ("note_off", "note_on"):
                start, velocity = sounding.pop((msg.channel, msg.note))
                notes.append((start, when, msg.note, velocity, msg.channel))
    assert not sounding, "notes left sounding"
    return midi, sorted(notes)


def expected_notes(tune) -> list[tuple[Fraction, Fraction, int]]:
    """Played notes with ties joined: (start, end, pitch); grace notes left out."""
    out: list[list] = []
    for n in expand(tune):
        if n.grace or n.pitch is None:
            continue
        held = next((o for o in reversed(out) if o[2] == n.pitch.midi and o[3]), None)
        if held is not None and held[1] == n.onset:
            held[1], held[3] = n.onset + n.duration, n.tie
        else:
            out.append([n.onset, n.onset + n.duration, n.pitch.midi, n.tie])
    return [(a, b, p) for a, b, p, _ in out]


@pytest.mark.parametrize("name", SAMPLE)
def test_corpus_tunes_play_their_parsed_notes(name, tmp_path):
    tune = parse(corpus_tune(name))
    write_midi(tune, tmp_path / "t.mid")
    midi, notes = read_back(tmp_path / "t.mid")
    assert (midi.type, midi.ticks_per_beat, len(midi.tracks)) == (1, TICKS_PER_BEAT, 2)
    expected = expected_notes(tune)
    windows = musescore.play_windows(expand(tune))
    missing, extra = musescore.unmatched(
        [(a, p) for a, _, p in expected], [(a, p) for a, _, p, _, _ in notes], windows
    )
    assert not missing and not extra, f"missing {missing[:5]}, extra {extra[:5]}"
    # Durations too, where no grace note has taken time from the note.
    ends = {(a, p): b for a, b, p, _, _ in notes}
    tick = Fraction(1, 4 * TICKS_PER_BEAT)
    for a, b, p in expected:
        if not any(lo <= a <= hi for lo, hi in windows):
            assert abs(ends[a, p] - b) <= tick, (float(a), p)


def test_tempo_from_q_from_the_option_or_by_meter():
    def tempo(text, **opts):
        midi = tune_to_midi(parse(text), **opts)
        return next(mido.tempo2bpm(m.tempo) for m in midi.tracks[0] if m.type == "set_tempo")

    assert tempo("X:1\nM:6/8\nQ:3/8=100\nK:G\nGAB|]\n") == pytest.approx(150)
    assert tempo("X:1\nM:6/8\nQ:3/8=100\nK:G\nGAB|]\n", bpm=90) == pytest.approx(90)
    jig, reel = parse("X:1\nM:6/8\nK:G\nGAB|]\n"), parse("X:1\nM:2/2\nK:G\nGABc|]\n")
    assert tempo("X:1\nM:6/8\nK:G\nGAB|]\n") == pytest.approx(default_bpm(jig.meter))
    assert default_bpm(jig.meter) != default_bpm(reel.meter)


def test_program_channel_meter_and_key(tmp_path):
    write_midi(parse(REEL), tmp_path / "t.mid", program=73, channel=3)
    midi, notes = read_back(tmp_path / "t.mid")
    programs = [m for t in midi.tracks for m in t if m.type == "program_change"]
    assert [(m.program, m.channel) for m in programs] == [(73, 3)]
    assert {c for *_, c in notes} == {3}
    meta = {m.type: m for m in midi.tracks[0] if m.is_meta}
    assert (meta["time_signature"].numerator, meta["time_signature"].denominator) == (4, 4)
    assert meta["key_signature"].key == "D"


def test_strong_beats_are_louder(tmp_path):
    write_midi(parse(REEL), tmp_path / "t.mid")
    _, notes = read_back(tmp_path / "t.mid")
    velocity = {start: v for start, _, _, v, _ in notes}
    downbeats = [velocity[Fraction(b)] for b in (0, 1)]
    half_bar = [velocity[Fraction(b) + Fraction(1, 2)] for b in (0, 1)]
    off_beats = [v for start, v in velocity.items() if start % Fraction(1, 4)]
    assert min(downbeats) > max(half_bar) > max(off_beats)


def test_chord_symbols_as_accompaniment(tmp_path):
    tune = parse(REEL)
    write_midi(tune, tmp_path / "t.mid", chords=True)
    midi, notes = read_back(tmp_path / "t.mid")
    assert len(midi.tracks) == 3
    chords = [n for n in notes if n[4] == 1]
    symbols = [e for e in tune.events if isinstance(e, ChordSymbol)]
    starts = sorted({a for a, *_ in chords})
    assert starts == [e.onset for e in symbols]  # no repeats in this tune
    for symbol, start in zip(symbols, starts, strict=True):
        assert sorted(p for a, _, p, _, _ in chords if a == start) == sorted(
            parse_chord(symbol.text).pitches()
        )
    # each chord holds until the next one; the last until the end of the tune
    assert max(b for _, b, *_ in chords) == max(b for _, b, _, _, c in notes if c == 0)
    assert len(tune_to_midi(tune).tracks) == 2  # off by default


def test_bad_options_and_unwritable_path_fail_clearly(tmp_path):
    tune = parse(REEL)
    with pytest.raises(AbcgenError, match="program"):
        tune_to_midi(tune, program=128)
    with pytest.raises(AbcgenError, match="channel"):
        tune_to_midi(tune, channel=16)
    with pytest.raises(AbcgenError, match="bpm"):
        tune_to_midi(tune, bpm=0)
    with pytest.raises(AbcgenError, match="cannot write"):
        write_midi(tune, tmp_path / "missing" / "t.mid")
    assert not list(tmp_path.iterdir())


@settings(max_examples=120, deadline=None)
@given(ABC_SOUP)
def test_any_parsed_text_gives_a_midi_file_with_every_note_released(text):
    midi = tune_to_midi(parse(text))
    sounding = set()
    for msg in midi.tracks[1]:
        if msg.type == "note_on":
            sounding.add(msg.note)
        elif msg.type == "note_off":
            sounding.discard(msg.note)
    assert not sounding
    assert all(msg.time >= 0 for track in midi.tracks for msg in track)
