"""Structure measures (runtime/evaluate/structure.py) on tunes whose build is known
by construction, the whole-bar length checked against the real abc2midi."""

from __future__ import annotations

import shutil
from fractions import Fraction

import pytest

from abcgen.runtime.abc.parser import parse
from abcgen.runtime.evaluate.structure import (
    DIFFERENT,
    IDENTICAL,
    SIMILAR,
    abc2midi_length,
    loop_limits,
    played_length,
    restated,
    self_similarity,
    summarise_structure,
    tune_structure,
)

needs_abc2midi = pytest.mark.skipif(shutil.which("abc2midi") is None, reason="needs abc2midi")

# An AABB tune: bar 3 is bar 1, bar 7 is bar 5, bar 8 is bar 4 (3 of 8 bars repeat);
# its B part ends as the A part does (the second half reuses a bar of the first),
# but bars 5-8 share only their last bar with bars 1-4 (no echo).
AABB = "M:2/4\nL:1/8\nK:G\n|:GABc|dBAG|GABc|d2G2:|\n|:gfed|BcdB|gfed|d2G2:|\n"


def header(meter: str = "6/8", key: str = "G") -> str:
    return f"M:{meter}\nL:1/8\nK:{key}\n"


def test_repeated_bars_second_half_and_echo_of_an_aabb_tune():
    facts = tune_structure(AABB)
    assert (facts.bars, facts.repeated_bars) == (8, 3)
    assert facts.second_half is True and facts.echo is False
    # bars 5-7 restate bars 1-3: an echo; a new 8th bar does not matter
    echoed = header("2/4") + "GABc|dBAG|GABc|d2G2|GABc|dBAG|GABc|B2d2|]"
    assert tune_structure(echoed).echo is True
    # one bar of four in common is not an echo; fewer than 8 bars: not measured
    once = header("2/4") + "GABc|dBAG|GABc|d2G2|GABc|Bcde|fedc|B2d2|]"
    assert tune_structure(once).echo is False
    assert tune_structure(header("2/4") + "GABc|dBAG|GABc|d2G2|]").echo is None


def test_the_opening_pickup_is_not_a_bar_and_another_short_bar_is():
    facts = tune_structure(header("4/4") + "c|c8|c8|c7:|")
    assert facts.bars == 3 and facts.repeated_bars == 1  # the short closing bar counts
    assert tune_structure(header("4/4") + "c8|c8|c8|]").repeated_bars == 2


def test_restated_figures_are_windows_of_six_played_before_without_overlap():
    line = "CDEF GABc|edcB AGFE|"
    facts = tune_structure(header("4/4", "C") + line * 2)
    assert (facts.notes, facts.restated_notes) == (32, 16)  # the second half, note for note
    # a note repeated seven times: its windows overlap the first, so nothing is restated
    assert tune_structure(header("4/4", "C") + "CCCCCCCC|]").restated_notes == 0
    # lengths count as much as pitches: the same pitches in another rhythm are new
    assert tune_structure(header("4/4", "C") + "CDEFGABc|C>DE>FG>AB>c|]").restated_notes == 0
    assert restated([(60, Fraction(1, 8))] * 12) == 6  # the second window of six


@pytest.mark.parametrize(
    ("ending", "final_long", "lead_in"),
    [
        ("G3 G3|]", True, False),  # the tonic held a beat (a dotted quarter)
        ("G3 G2 z|]", True, False),  # a quarter and the rest after it: a beat
        ("G3 z2 D|]", False, True),  # an upbeat into nothing
        ("G3 GAB|]", False, True),  # runs on past the cadence
        ("G3 G3:|", True, None),  # not ending |]: no lead-in measured
    ],
)
def test_final_note_and_lead_in(ending, final_long, lead_in):
    facts = tune_structure(header() + "GAB cBA|BAG AGF|GAB cBA|" + ending)
    assert (facts.final_long, facts.lead_in) == (final_long, lead_in)


def test_a_reel_landing_on_its_last_quarter_has_no_lead_in_but_no_beat_long_end():
    reel = header("2/2", "Em") + "EFGA B2AG|FDEF GFED|EFGA B2AG|FDAF "
    lands = tune_structure(reel + "BEE2|]")
    assert lands.lead_in is False and lands.final_long is False  # the beat of 2/2 is a half
    assert tune_structure(reel + "E2 FD|]").lead_in is True
    assert tune_structure(reel + "E4|]").final_long is True


def test_phrase_ends_every_fourth_bar_and_at_each_section_end():
    line = header("4/4", "C").replace("L:1/8", "L:1/4")
    facts = tune_structure(line + "CDEF|GABc|CDEF|G4|CDEF|GABc|CDEF|c4|]")
    assert facts.phrase_ends == (2, 2) and facts.other_ends == (0, 6)
    sections = tune_structure(line + "|:CDEF|G4:||:EFGA|c4:|")
    assert sections.phrase_ends == (2, 2) and sections.other_ends == (0, 2)


def test_loops_are_counted_as_played():
    loop = header("4/4", "C") + "CDEF GABc|" * 5 + "c8|]"
    facts = tune_structure(loop)
    assert facts.loops == (5, 2, 1)  # one bar five times; two bars twice
    assert tune_structure(header("4/4", "C") + "|:CDEF GABc:|c8|]").loops == (2, 1, 0)
    two_bars = tune_structure(header("4/4", "C") + "|:CDEF GABc|c8:|C8|]")
    assert two_bars.loops == (1, 2, 1)
    humans = [tune_structure(AABB), two_bars]
    limits = loop_limits(humans)
    assert limits == [1, 2, 2]  # the AABB tune plays its 4-bar A part twice
    summary = summarise_structure([facts, tune_structure(AABB)], limits)
    assert summary["loops_beyond_test"] == {"share": 0.5, "of": 2}
    assert summary["run_over_3"]["share"] == 0.5
    assert summary["longest_run"] == {"mean": 3.0, "max": 5}


def test_summary_counts_each_measure_over_the_tunes_it_applies_to():
    tunes = [AABB, header() + "GAB cBA|G3 z2 D|]", header("none") + "GAB|cBA|G3|]"]
    summary = summarise_structure([tune_structure(t) for t in tunes], [8, 8, 8])
    assert summary["tunes"] == 3
    assert summary["lead_in"] == {"share": 1.0, "of": 1}  # only the 6/8 tune ends |]
    assert summary["final_long"]["of"] == 2  # M:none has no beat
    assert summary["repeated_bars"]["share"] == pytest.approx((3 / 8 + 0 + 0) / 3)
    assert set(summary["by_meter"]) == {"2/4", "6/8", "none"}
    assert summary["by_meter"]["6/8"]["tunes"] == 1


@needs_abc2midi
@pytest.mark.parametrize(
    ("body", "whole"),
    [
        ("D|GAB cBA|G3 G2:|", True),  # the closing bar is the pickup short: whole bars
        ("D|GAB cBA|G3 G3:|", False),  # a full closing bar: the pickup shifts the repeat
        ("D|GAB cBA|G3 G2|]", True),
        ("D|GAB cBA|G3 G3|]", False),
        ("GAB cBA|G3 z3|]", True),  # the closing rest is played
        ("|:GAB cBA|1G3 G3:|2G3 z3|]", True),
    ],
)
def test_whole_bar_played_length_agrees_with_abc2midi(body, whole):
    text = header() + body + "\n"
    facts = tune_structure(text, abc2midi=True)
    assert facts.whole_bars is whole and facts.whole_bars_abc2midi is whole
    assert abc2midi_length(text) == played_length(parse(text))


def test_self_similarity_marks_identical_and_similar_bars():
    grid = self_similarity(parse(header("4/4", "C") + "CDEF GABc|DEFG ABcd|CDEF GABc|c8|]"))
    assert grid.shape == (4, 4) and (grid.diagonal() == IDENTICAL).all()
    assert grid[2, 0] == grid[0, 2] == IDENTICAL
    assert grid[1, 0] == SIMILAR  # a step higher, the same rhythm and contour
    assert grid[3, 0] == DIFFERENT
    assert self_similarity(parse(AABB)).shape == (8, 8)
