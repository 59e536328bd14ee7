"""The meter, one definition for everything that counts time (abc/meter.py), against
the real abc2midi on every meter the corpus and the held-out tunebooks use.

For each such meter a tune has one bar per tuplet `(2` ... `(9` and per time it may
take (two or three notes): abc2midi must flag exactly the bars the parser flags,
so a bar of tuplets that one accepts the other accepts too.
"""

from __future__ import annotations

import re
import shutil
from fractions import Fraction
from pathlib import Path

import pytest

from abcgen.runtime.abc.corpus import raw_tunes
from abcgen.runtime.abc.meter import Meter, parse_meter, tuplet_q
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.evaluate.abc2midi import run_abc2midi
from abcgen.runtime.formats.midi import default_bpm, tune_to_midi

HELD_OUT = Path(__file__).parent / "data" / "heldout"
_M = re.compile(r"^M:([^%\n]*)|\[M:([^\]\n]*)\]", re.M)

abc2midi = pytest.mark.skipif(shutil.which("abc2midi") is None,
                              reason="abc2midi not installed (apt install abcmidi)")


def used_meters() -> set[tuple[int, int]]:
    """Every meter a tune of the corpus or of the held-out set writes (M:none aside)."""
    texts = [*raw_tunes(), *(p.read_text(encoding="utf-8", errors="replace")
                             for p in sorted(HELD_OUT.glob("*.abc")))]
    found = set()
    for text in texts:
        for a, b in _M.findall(text):
            try:
                meter = parse_meter(a or b)
            except ValueError:
                continue
            if meter is not None and meter.numerator:
                found.add((meter.numerator, meter.denominator))
    return found


METERS = sorted(used_meters())


def tuplet_bars(numerator: int, denominator: int) -> tuple[str, list[int]]:
    """A tune in this meter whose bars 1.. each hold one tuplet `(p`, filled up as if it
    took the time of q notes, one bar a line; and the lines of those bars."""
    k = 1
    while numerator * k < 4:  # at least four units in a bar
        k *= 2
    units = numerator * k
    lines = [f"M:{numerator}/{denominator}", f"L:1/{denominator * k}", "K:C", "c" * units + "|"]
    tested = []
    for p in range(2, 10):
        for q in (2, 3):
            if q <= units:
                tested.append(len(lines) + 1)
                lines.append(f"({p}" + "d" * p + "c" * (units - q) + "|")
    lines.append("c" * units + "|]")
    return "\n".join(lines) + "\n", tested


def test_the_meter_knows_its_beats():
    assert [Meter(n, 8).compound for n in (3, 6, 9, 12, 15)] == [False, True, True, True, True]
    assert Meter(6, 4).compound and not Meter(3, 4).compound and not Meter(4, 4).compound
    assert Meter(6, 8).beat == Fraction(3, 8) and Meter(3, 4).beat == Fraction(1, 4)
    assert Meter(6, 4).beat == Fraction(3, 4)
    assert [tuplet_q(5, m) for m in (Meter(3, 4), Meter(15, 8), Meter(4, 4), None)] == [3, 3, 2, 2]
    assert tuplet_q(3, Meter(6, 8)) == 2 and tuplet_q(2, Meter(4, 4)) == 3


def test_a_quintuplet_in_15_8_fills_the_bar_as_abc2midi_reads_it():
    bar = "c" * 15 + "|"
    tune = parse("M:15/8\nL:1/8\nK:C\n" + bar + "(5abcde" + "c" * 12 + "|" + bar + "]\n")
    assert tune.valid, tune.diagnostics  # was "bar has 14 eighth notes"


def test_jigs_take_the_jig_tempo_and_accent_dotted_beats():
    assert default_bpm(Meter(15, 8)) == default_bpm(Meter(6, 8)) == 150
    assert default_bpm(Meter(6, 4)) == default_bpm(Meter(3, 4)) == 120
    midi = tune_to_midi(parse("M:6/4\nL:1/4\nK:C\ncdefga|]\n"))
    velocities = [m.velocity for m in midi.tracks[1] if m.type == "note_on" and m.velocity]
    assert velocities[0] > velocities[3] > velocities[1] == velocities[2]  # down, beat, off


def test_the_corpus_uses_the_usual_meters():
    assert {(6, 8), (9, 8), (3, 4), (6, 4), (3, 2), (12, 8)} <= set(METERS)


@abc2midi
@pytest.mark.parametrize(("numerator", "denominator"), METERS)
def test_tuplets_fill_bars_as_abc2midi_counts_them(numerator, denominator):
    text, tested = tuplet_bars(numerator, denominator)
    ours = {d.line for d in parse(text).diagnostics if d.message.startswith("bar has")}
    theirs = {m.line for m in run_abc2midi(text).bar_warnings}
    assert ours <= set(tested) and ours == theirs, text
    assert len(ours) == len(tested) // 2  # each tuplet fills its bar one way, not the other
