"""Played order: repeats, endings and parts, as abc2midi plays them.

The layouts and their played orders are in tests/layouts.py; they are checked
here against the real abc2midi 4.84, together with hundreds of random layouts.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import shutil
from fractions import Fraction

import pytest
from layouts import LAYOUTS, PARTS, random_layout, tune_text

from abcgen.runtime.abc.bars import takes_ending_number
from abcgen.runtime.abc.events import Bar
from abcgen.runtime.abc.parser import Parser, parse
from abcgen.runtime.abc.repeats import expand, part_order, play_order
from abcgen.runtime.evaluate.abc2midi import run_abc2midi

needs_abc2midi = pytest.mark.skipif(shutil.which("abc2midi") is None, reason="needs abc2midi")


def order(body: str, header: str = "") -> str:
    return "".join(n.pitch.step for n in expand(parse(tune_text(body, header))))


@pytest.mark.parametrize(("body", "played"), LAYOUTS)
def test_played_order(body, played):
    assert order(body) == played


@pytest.mark.parametrize(("header", "body", "played"), PARTS)
def test_parts_play_in_the_order_of_the_header(header, body, played):
    assert order(body, header) == played


@needs_abc2midi
def test_the_layouts_above_are_what_abc2midi_plays():
    letters = {60: "C", 62: "D", 64: "E", 65: "F", 67: "G", 69: "A", 71: "B"}
    cases = [("", body, played) for body, played in LAYOUTS] + PARTS
    for header, body, played in cases:
        notes = run_abc2midi(tune_text(body, header)).notes
        assert "".join(letters[n.pitch] for n in notes) == played, (header, body)


BAR_RUNS = ["|", ":|", ":||", "|:|", "::|", "|||", "[||", "|]|", "||", "|]", "::", "[|", "|:",
            ":|]", "||:", ":|:", "[|:", ":||:", ":|||", "|:||"]  # fmt: skip


@needs_abc2midi
@pytest.mark.parametrize("bar", BAR_RUNS)
def test_an_ending_number_straight_after_a_bar_line_warns_where_abc2midi_reads_none(bar):
    # `...d2(eg)||1 (fd)cA` (ryansMammoth) means an ending; abc2midi reads none after
    # `||`: abcgen plays the ending the writer meant, and says abc2midi will not
    text = tune_text(f"|:C2 {bar}1 D2:|2 E2|]")
    refused = any("Unrecognized character: 1" in m.text for m in run_abc2midi(text).messages)
    tune = parse(text)
    assert takes_ending_number(bar) is not refused
    assert [d.severity for d in tune.diagnostics] == (["warning"] if refused else [])
    assert any(b.ending == "1" for b in tune.events if isinstance(b, Bar))


@pytest.mark.parametrize(
    ("spec", "parts"),
    [("AABB", "AABB"), ("(AB)2C", "ABABC"), ("A2B", "AAB"), ("A.B.A", "ABA"), ("A B", "AB"),
     ("A(B2C)2", "ABBCBBC"), ("A((BC)2D)2", "ABCBCDBCBCD"), ("(AB", "AB"), ("", "")],
)  # fmt: skip
def test_part_order_reads_the_header_as_abc2midi_does(spec, parts):
    assert "".join(part_order(spec)) == parts


def test_a_header_p_that_is_no_order_is_ignored_with_a_warning():
    assert part_order("Verse") is None
    tune = parse(tune_text("P:A\nC2|]\nP:B\nD2|]", "P:Verse 1\n"))
    assert "".join(n.pitch.step for n in expand(tune)) == "CD"
    assert [d.severity for d in tune.diagnostics] == ["warning"]


def test_part_labels_abc2midi_refuses_are_errors():
    twice = parse(tune_text("P:A\nC2|]\nP:A\nD2|]", "P:AA\n"))
    message = "P: part A is written twice; the second is played"
    assert [d.message for d in twice.diagnostics] == [message]
    assert "".join(n.pitch.step for n in expand(twice)) == "DD"  # as abc2midi plays it
    assert not parse(tune_text("P:A\nC2|]\nP:A\nD2|]")).diagnostics  # no order: no parts


@needs_abc2midi
def test_a_tie_into_a_repeat_holds_its_note_as_abc2midi_does():
    # ties join in written order: D is held into the next written bar on both passes,
    # and that bar's D is silent, whatever is played after the `:|`
    text = tune_text("|: C2 D2- :| D2 E2 |]")
    played = [(n.onset, n.duration, n.pitch.midi) for n in expand(parse(text)) if n.pitch]
    assert played == [(0, 1, 60), (1, 2, 62), (2, 1, 60), (3, 2, 62), (5, 1, 64)]
    reference = [(n.onset, n.duration, n.pitch) for n in run_abc2midi(text).notes]
    assert reference == played


def test_played_notes_are_retimed_back_to_back():
    tune = parse("M:3/4\nL:1/4\nK:G\nD | G2 B :| [1 A3 :| [2 g3 |]")
    notes = expand(tune)
    assert notes[0].onset == 0
    for a, b in itertools.pairwise(notes):
        assert b.onset == a.onset + a.duration
    # each note keeps its source position and bar
    assert {(n.line, n.col) for n in notes} <= {(n.line, n.col) for n in tune.notes}


def test_play_order_spans_cover_written_time():
    tune = parse("M:4/4\nL:1/4\nK:C\n|: CDEF :| GABc |]")
    assert play_order(tune) == [(0, 1), (0, 2)]  # twice the A part, then on to the end


def test_grace_notes_and_chords_follow_their_bar():
    tune = parse("M:4/4\nL:1/4\nK:C\n|: {d}[CE]4 :|")
    notes = expand(tune)
    assert [(n.grace, n.pitch.midi, n.onset) for n in notes] == [
        (True, 74, 0), (False, 60, 0), (False, 64, 0),
        (True, 74, 1), (False, 60, 1), (False, 64, 1),
    ]  # fmt: skip


def test_a_malformed_ending_number_is_ignored_not_a_crash():
    # `1-2-3` lexes as one ending; the MusicXML writer already ignored it, expand raised
    tune = parse("X:1\nM:4/4\nL:1/4\nK:G\n|:ABcd|1-2-3 ABcd:|4 ABcd|]\n")
    assert expand(tune)


# -- random layouts, against the real abc2midi ------------------------------------------


@needs_abc2midi
def test_random_layouts_play_as_abc2midi_plays_them():
    rng = random.Random(13)
    for _ in range(300):
        text = random_layout(rng)
        ours = [n.pitch.midi for n in expand(parse(text))]
        assert ours == [n.pitch for n in run_abc2midi(text).notes], text


def prefixes_hold(text: str) -> bool:
    """Whether every prefix the parser makes certain expands to a prefix of the
    whole tune's played order, as live playback needs."""
    full = [(n.pitch, n.onset) for n in expand(parse(text))]
    parser, events = Parser(), []
    for ch in text:
        new = parser.feed(ch)
        events += new
        if new:
            tune = dataclasses.replace(parser.tune, events=list(events), complete=False)
            played = [(n.pitch, n.onset) for n in expand(tune)]
            if full[: len(played)] != played:
                return False
    return True


def test_a_prefix_of_a_tune_expands_to_a_prefix_of_its_played_order():
    text = "M:4/4\nL:1/4\nK:C\n|: CDEF | GABc :| defg |]"
    assert prefixes_hold(text)
    cut = text.index("GABc")
    assert Fraction(0) in [n.onset for n in expand(parse(text[:cut]))]
    # a part the order names next, not written yet, ends the playing of a prefix
    assert prefixes_hold(tune_text("P:A\nC2|D2|]\nP:B\nE2|F2|]", "P:BA\n"))


def test_prefixes_of_random_layouts_play_as_the_whole_does():
    # only abc2midi's look-ahead repairs (a late `::` or ending without its `|:`)
    # break it; parts written twice are left out (an error: the later one wins)
    rng = random.Random(5)
    texts = [random_layout(rng, unique_parts=True) for _ in range(300)]
    held = sum(prefixes_hold(t) for t in texts)
    assert held >= 0.95 * len(texts)
