"""Forms: the spec a musician asks for, and the form read from a tune as written,
checked against what the real abc2midi plays."""

from __future__ import annotations

import shutil

import pytest

from abcgen.runtime.abc.form import FIFTH, TONIC, parse_form, read_form
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.evaluate.abc2midi import run_abc2midi
from abcgen.runtime.evaluate.form_stats import (
    auto_table,
    form_histograms,
    summarise_forms,
    tune_form,
)

JIG = "M:6/8\nL:1/8\nK:D\n"
A7 = "dfe dcB|AFA DFA|dfe dcB|AFA DFA|dfe dcB|AFA DFA|dfe dcB|"  # seven full bars
B7 = "fed cBA|dBG AFA|fed cBA|dBG AFA|fed cBA|dBG AFA|fed cBA|"


@pytest.mark.parametrize(("text", "plays"), [
    ("AABB", (2, 2)), ("AB", (1, 1)), ("aabbcc", (2, 2, 2)), ("ABC", (1, 1, 1)), ("A", (1,)),
    ("AAB", (2, 1)), ("ABB", (1, 2)),
])  # fmt: skip
def test_forms_a_musician_asks_for(text, plays):
    spec = parse_form(text, 16)
    assert spec.plays == plays and spec.lengths == (16,) * len(plays)
    assert spec.text == text.upper() and spec.key == f"{text.upper()}:16"
    assert spec.cadence(0) == ({TONIC, FIFTH} if len(plays) > 1 else {TONIC})
    assert all(spec.cadence(i) == {TONIC} for i in range(1, len(plays)))


@pytest.mark.parametrize(("text", "bars", "message"), [
    ("ABBA", 8, "in order"), ("AAA", 8, "in order"), ("BA", 8, "in order"),
    ("A1", 8, "one letter"), ("", 8, "one letter"), ("ABCDEFG", 8, "at most 6"),
    ("AABB", 1, "part bars"), ("AABB", 65, "part bars"),
])  # fmt: skip
def test_forms_that_are_not(text, bars, message):
    with pytest.raises(ValueError, match=message):
        parse_form(text, bars)


def form_of(body: str, header: str = JIG) -> tuple[str, list[int], list[int | None], int | None]:
    found = read_form(parse(header + body))
    return (found.text, [p.bars for p in found.parts], [p.last for p in found.parts],
            found.last)


# The ways tunebooks write the same AABB: every one reads as two repeated 8-bar parts.
AABB_LAYOUTS = [
    "|:A|" + A7 + "AFA D2:|\n|:A|" + B7 + "dBG D2:|",  # pickups, both repeats opened
    "A|" + A7 + "AFA D2:|\nA|" + B7 + "dBG D2:|",  # `:|` alone repeats from the last `:|`
    A7 + "AFA D3::" + B7 + "dBG D3:|",  # `::` ends one part and opens the next
    A7 + "AFA D3:| |:" + B7 + "dBG D3:|",  # `:| |:` on one line reads as `::`
    "|:" + A7 + "1 AFA DFA:|2 AFA D3||\n|:" + B7 + "dBG D3:|",  # first and second endings
    "|:" + A7 + "[1 AFA DFA:|[2 AFA D3||\n|:" + B7 + "dBG D3:|",  # written `[1` `[2`
    "A|" + A7 + "AFA D2A:|\n" + B7 + "dBG D3:|",  # the pickup inside a full last bar
    A7 + "AFA D3:|\n" + B7[:31] + "|1 " + B7[32:] + "dBG D3:|2 " + B7[32:] + "dBG D3|]",
]  # (the last: 4-bar endings, the second as long as the first)


@pytest.mark.parametrize("body", AABB_LAYOUTS)
def test_repeats_as_tunebooks_write_them(body):
    text, bars, ends, last = form_of(body)
    assert (text, bars) == ("AABB", [8, 8])
    assert last == TONIC and ends[1] == TONIC


def test_parts_played_once_endings_and_cadences():
    assert form_of(A7 + "AFA D3||\n" + B7 + "dBG A3|]")[:3] == ("AB", [8, 8], [TONIC, FIFTH])
    # a double bar inside `|: ... :|` does not end the part
    assert form_of("|:" + A7[:23] + "||" + A7[24:] + "AFA D3:|")[:2] == ("AA", [8])
    # Essen songs: phrases on lines, one part to the final bar
    assert form_of("dfe dcB|AFA DFA|\ndfe dcB|AFA D3|]")[:2] == ("A", [4])
    # a chord counts by its first note; rests after the last note do not matter
    assert form_of(A7 + "AFA [DA]2z|]")[2] == [TONIC]
    assert form_of(A7 + "AFA [AD]2z|]")[2] == [FIFTH]
    assert read_form(parse("M:none\nL:1/8\nK:D\nABc|]")) is None


def test_form_statistics_of_a_set_of_tunes():
    texts = [JIG + body for body in AABB_LAYOUTS[:7]] + [JIG + A7 + "AFA E3|]"]
    forms = [tune_form(t) for t in texts]
    summary = summarise_forms(forms, parse_form("AABB"))
    assert summary["as_asked"] == pytest.approx(7 / 8)
    assert summary["ends_on_tonic"] == pytest.approx(7 / 8)
    assert summary["forms"] == {"AABB:8": 0.875, "A:8": 0.125}
    hists = form_histograms(forms)
    assert hists["part_bars"][7] == 15 and hists["tune_end"][TONIC] == 7
    assert auto_table(forms, min_tunes=5, min_share=0.1, min_count=1) == {
        "6/8": [("AABB:8", 0.875), ("A:8", 0.125)]}


# Against the real abc2midi: the parts, their lengths and repeats add up to what it plays.
@pytest.mark.skipif(shutil.which("abc2midi") is None, reason="abc2midi is not installed")
@pytest.mark.parametrize("body", [*AABB_LAYOUTS[:5], AABB_LAYOUTS[-1],
                                  A7 + "AFA D3||\n" + B7 + "dBG A3|]",
                                  "|:" + A7 + "AFA D3:|\n" + B7 + "dBG A3|]"])
def test_form_adds_up_to_what_abc2midi_plays(body):
    tune = parse(JIG + body)
    found = read_form(tune)
    played = sum(p.bars * p.plays for p in found.parts) * tune.meter.bar_length
    notes = run_abc2midi(JIG + body).notes
    assert max(n.onset + n.duration for n in notes) == played
