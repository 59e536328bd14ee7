"""Played order: repeats and endings as folk musicians read them.

Each bar holds one pitch name, so the played order reads as a string.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest

from abcgen.runtime.abc.parser import parse
from abcgen.runtime.abc.repeats import expand, play_order


def order(body: str) -> str:
    notes = expand(parse("M:4/4\nL:1/2\nK:C\n" + body))
    return "".join(n.pitch.step for n in notes)


@pytest.mark.parametrize(
    ("body", "played"),
    [
        ("C2 | D2 |]", "CD"),
        ("|: C2 :| D2 |]", "CCD"),
        ("C2 :| D2 :|", "CCDD"),  # `:|` without `|:`: from the previous section start
        ("|: C2 :: D2 :|", "CCDD"),
        ("G | C2 :| D2 |]", "GCGCD"),  # a pickup is played again with its part
        ("|: C2 |1 D2 :|2 E2 |]", "CDCE"),
        ("|: C2 [1 D2 :| [2 E2 |]", "CDCE"),
        ("|: C2 |1 D2 :|\n[2 E2 |]", "CDCE"),
        ("|: C2 [1,3 D2 :| [2 E2 :| [4 F2 |]", "CDCECDCF"),
        ("|: C2 [1-2 D2 :| [3 E2 |]", "CDCDCE"),
        ("C2 || D2 :|", "CDD"),  # a double bar starts a part
        ("|: C2 || D2 :|", "CDCD"),  # ... but not inside an explicit `|: :|`
        ("|: C2 |1 D2 :|2 E2 | F2 :|", "CDCEFF"),  # the last ending is one bar long
        ("|: C2 :| |: D2 :|", "CCDD"),
        ("|: C2 | D2", "CD"),  # an open repeat is played once
    ],
)
def test_played_order(body, played):
    assert order(body) == played


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


def test_prefix_of_a_tune_expands_to_a_prefix_of_its_played_order():
    text = "M:4/4\nL:1/4\nK:C\n|: CDEF | GABc :| defg |]"
    full = [(n.pitch.midi, n.onset) for n in expand(parse(text))]
    cut = text.index("GABc")
    part = [(n.pitch.midi, n.onset) for n in expand(parse(text[:cut]))]
    assert full[: len(part)] == part
    assert Fraction(0) in [o for _, o in part]


@pytest.mark.parametrize(
    ("body", "played"),
    [
        ("|: C2 |1 D2 :|\n|2 E2 |]", "CDCE"),  # `:|` then `|2` on the next line
        ("C2 :|\n|: D2 :|", "CCDD"),
        ("|: C2 :| | D2 |]", "CCD"),
    ],
)
def test_bar_lines_with_nothing_between_read_as_one(body, played):
    assert order(body) == played


def test_a_malformed_ending_number_is_ignored_not_a_crash():
    # `1-2-3` lexes as one ending; the MusicXML writer already ignored it, expand raised
    tune = parse("X:1\nM:4/4\nL:1/4\nK:G\n|:ABcd|1-2-3 ABcd:|4 ABcd|]\n")
    assert expand(tune)
