"""Readings found in held-out tunebooks (FolkWiki's) where abcgen and abc2midi
disagreed, each now played as the real abc2midi plays it, or left on purpose with
a warning that names both readings (docs/abc-support.md)."""

from __future__ import annotations

import io
import shutil
from fractions import Fraction

import mido
import pytest
from test_performance import notes_and_tempi, play

from abcgen.runtime.abc.parser import parse
from abcgen.runtime.abc.repeats import expand
from abcgen.runtime.evaluate.abc2midi import comparable, first_difference, run_abc2midi
from abcgen.runtime.formats.midi import tune_to_midi
from abcgen.runtime.formats.musicxml import tune_to_musicxml
from abcgen.runtime.live.performance import Style

pytestmark = pytest.mark.skipif(shutil.which("abc2midi") is None, reason="needs abc2midi")


def tune(body: str, header: str = "") -> str:
    return f"X:1\nT:t\nM:4/4\nL:1/8\n{header}K:G\n{body}\n"


def agree(text: str) -> None:
    parsed = parse(text)
    assert parsed.valid, parsed.diagnostics
    diff = first_difference(comparable(expand(parsed)), run_abc2midi(text).notes)
    assert diff is None, diff


@pytest.mark.parametrize(
    ("header", "body"),
    [
        ("%%MIDI ratio 2 1\n", "D>G A<B c2 d2|D>>G A<<B z4|D>G A>B c>d e>f|]"),
        ("%%MIDI ratio 5 3\n", "D>G A<B c2 d2|D>G A<B c2 d2|]"),
        ("%%MIDI ratio 1 1\n", "D>G A<B c2 d2|]"),
        ("%%MIDI ratio 4 1\n", "D>G A<B c2 d2|]"),
        ("%%MIDI ratio 7 5\n", "D>G A<B c2 d2|]"),
        ("I:MIDI ratio 2 1\n", "D>G A<B c2 d2|]"),
        ("", "D>G A<B c2 d2|\n%%MIDI ratio 2 1\nD>G A<B c2 d2|]"),  # from there on
        ("", "D>G A<B c2 d2|[I:MIDI ratio 5 3] D>G A<B c2 d2|]"),
    ],
)
def test_midi_ratio_sets_broken_rhythm_as_in_abc2midi(header, body):
    agree(tune(body, header))


def test_midi_ratio_keeps_the_pair_where_abc2midi_does_not():
    """abc2midi divides n+m by 2 in whole numbers: `3 2` plays 3/2 + 2/2 of the
    notes, the pair a quarter longer than written. abcgen keeps the pair (6/5 + 4/5)
    and says so."""
    text = tune("D>G A2 c2 d2|]", "%%MIDI ratio 3 2\n")
    parsed = parse(text)
    assert [n.duration for n in parsed.notes[:2]] == [Fraction(3, 20), Fraction(1, 10)]
    assert any("abc2midi plays `>` as 3/2 and 2/2" in d.message for d in parsed.diagnostics)
    theirs = run_abc2midi(text).notes
    assert [n.duration for n in theirs[:2]] == [Fraction(3, 16), Fraction(1, 8)]


def test_a_bad_midi_ratio_is_an_error_and_changes_nothing():
    parsed = parse(tune("D>G A2 c2 d2|]", "%%MIDI ratio 0 1\n"))
    assert [d.message for d in parsed.diagnostics] == [
        "%%MIDI ratio needs two whole numbers above 0 (`2 1`)"]
    assert parsed.notes[0].duration == Fraction(3, 16)


@pytest.mark.parametrize("body", ["(f{gf})>e d2 c4|]", "f{gf}>e d2 c4|]", "f>{g}e d2 c4|]",
                                  "A2 B{c}<A- A4|]"])
def test_grace_notes_between_a_note_and_its_broken_rhythm(body):
    agree(tune(body))


def test_a_chord_with_lengths_inside_and_after_is_read_as_abc_2_1_says():
    """`[A,2E]2`: ABC 2.1 multiplies the lengths (4 units); abc2midi takes the length
    after `]` alone (2). abcgen follows the standard and warns with both readings."""
    text = tune("[A,2E]2 c2 d4|]")
    parsed = parse(text)
    assert parsed.notes[0].duration == Fraction(1, 2)
    assert any("abcgen plays 4 units (2 x 2, as ABC 2.1 says), abc2midi 2" in d.message
               for d in parsed.diagnostics)
    assert run_abc2midi(text).notes[0].duration == Fraction(1, 4)
    agree(tune("[A,2E2] [A,E]2 [A,3E] c|]"))  # one length each: both readings agree


def note_ons(midi: mido.MidiFile) -> list[int]:
    return sorted(m.note for t in midi.tracks for m in t if m.type == "note_on" and m.velocity)


def test_unisons_are_struck_twice_as_abc2midi_does():
    text = tune("[ee]2 [dd]2 [GBdd]4|]")
    ours = tune_to_midi(parse(text))
    buffer = io.BytesIO()
    ours.save(file=buffer)  # a file every reader takes
    reread = mido.MidiFile(file=io.BytesIO(buffer.getvalue()))
    assert note_ons(reread) == [67, 71, 74, 74, 74, 74, 76, 76]
    reference = run_abc2midi(text, neutral=False)
    assert note_ons(reread) == sorted(n.pitch for n in reference.notes)


OVERLAYS = [
    "^F2 A2 c2 d2 & F8|F8|]",  # each voice its own accidentals
    "A2 B2 c2 d2 & F4 ^G4|G8|]",
    "A2 B2 c2 d2 & F2 G2 A2 B2 & D8|e8|]",  # three voices
    "A2 B2 c2 d2 & F4|e8|]",  # an overlaid voice short of the bar
    "A2 B2 c2 d2 & F4 G4 A4|e8|]",  # and one past it: it runs on
    "A2 B2- & F8|B4 c4|]",  # the first voice's tie waits for it
    "A>B c2 d2 e2 & [FA]8|e8|]",
    "(& A2 B2 c2 d2 | e8 & F4- F4 | F4-F2 D2 &) | f8 |]",  # over bar lines
    "A4 (& B2 c2 | d8 & F2 | G8 &) | f8 |]",  # from the start of the bar of `(&`
    "|: A2 B2 c2 d2 & F8 :| e8 |]",
]


@pytest.mark.parametrize("body", OVERLAYS)
def test_voice_overlays_play_as_in_abc2midi(body):
    text = tune(body)
    agree(text)  # valid, too: bars are measured by the first voice
    parsed = parse(text)
    first = [n for n in parsed.notes if n.voice == 1]
    score = tune_to_musicxml(parsed)  # the score shows the first voice
    assert score.count("<note") == len(first)
    # Live playback, as the text streams in, sounds the same, but for voices laid over
    # the tune's first note, which goes out before they are read (runtime/live/performance.py).
    text = tune("e8|" + body)
    whole, _ = play(text, Style(seed=1))
    for chunk in (1, 5):
        streamed, _ = play(text, Style(seed=1), chunk=chunk)
        assert notes_and_tempi(streamed) == notes_and_tempi(whole)


def test_an_overlaid_voice_of_another_length_is_played_and_warned():
    parsed = parse(tune("A2 B2 c2 d2 & F4|e8|A2 B2 c2 d2 & F4 G4 A4|e8|]"))
    assert [d.message for d in parsed.diagnostics] == [
        "voice 2 of the overlay is 4 units shorter than the first; played as written, as "
        "abc2midi does",
        "voice 2 of the overlay is 4 units longer than the first; played as written, as "
        "abc2midi does"]
    assert parsed.valid and [n.onset for n in parsed.notes if n.pitch.midi == 76] == [1, 3]
