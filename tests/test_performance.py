"""Tunes played as they are written: streamed rendering must equal the whole
tune's rendering (the MIDI writer's), plus swing and humanisation on top."""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from functools import cache
from pathlib import Path

import pytest

from abcgen.runtime.abc.events import Bar
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.abc.tune import split_tunebook
from abcgen.runtime.live.performance import WHOLE, Performance, Style


@cache
def corpus_tunes(count: int = 12) -> list[str]:
    """Raw tunes (titles, comments and all) spread over O'Neill's 1850 in music21's corpus."""
    spec = importlib.util.find_spec("music21")
    root = Path(next(iter(spec.submodule_search_locations))) / "corpus" / "oneills1850"
    texts = [t for path in sorted(root.rglob("*.abc"))[:40]
             for t in split_tunebook(path.read_text(encoding="latin-1"))]
    step = max(1, len(texts) // count)
    return texts[::step][:count]


def notes_and_tempi(items, accents_from: float = 0.0) -> list[tuple[float, str]]:
    """Comparable items. Program changes may move to where a channel first appears;
    note_on velocities before `accents_from` are guesses, made before the first bar line."""
    out = []
    for pos, d in items:
        if isinstance(d, bytes) and d[0] & 0xF0 == 0xC0:
            continue
        if isinstance(d, bytes) and d[0] & 0xF0 == 0x90 and d[2] and pos < accents_from:
            d = d[:2] + b"?"
        out.append((round(pos, 9), repr(d)))
    return sorted(out)


def play(text: str, style: Style, chunk: int | None = None) -> tuple[list, float]:
    performance = Performance(style)
    items = []
    pieces = [text] if chunk is None else [text[i:i + chunk] for i in range(0, len(text), chunk)]
    for piece in pieces:
        items += performance.feed(piece)
    items += performance.close()
    return items, performance.length


@pytest.mark.parametrize("index", range(12))
def test_streamed_tune_sounds_like_the_whole_tune(index):
    text = corpus_tunes()[index]
    style = Style(chords=True, seed=5)
    whole, length = play(text, style)
    streamed, streamed_length = play(text, style, chunk=1)
    assert any(isinstance(d, bytes) and d[0] & 0xF0 == 0x90 for _, d in whole)
    first_bar = next(float(e.onset) for e in parse(text).events
                     if isinstance(e, Bar) and e.onset > 0)
    assert notes_and_tempi(streamed, first_bar) == notes_and_tempi(whole, first_bar)
    assert streamed_length == length


def test_the_first_note_goes_out_before_the_first_bar_is_complete():
    performance = Performance(Style())
    assert performance.feed("M:6/8\nL:1/8\nK:D\n") == []
    items = performance.feed("Ad")  # A may still become A2, A>, A-; d, d2
    assert not any(isinstance(d, bytes) and d[0] & 0xF0 == 0x90 for _, d in items)
    items = performance.feed("f")
    assert [(p, d[1]) for p, d in items if isinstance(d, bytes) and d[0] & 0xF0 == 0x90] \
        == [(0.0, 69)]


def test_nothing_is_handed_out_before_its_time_is_certain():
    """A tied note's end, and a note that broken rhythm may still shorten, wait."""
    performance = Performance(Style(humanise=0))
    early = performance.feed("M:4/4\nL:1/8\nK:C\nC2 D2 E2 F2|G8-|")
    assert all(pos < 1 + 1 for pos, _ in early)  # nothing from the tied G's end
    offs = [pos for pos, d in early if isinstance(d, bytes) and d[0] & 0xF0 == 0x80]
    assert 2.0 not in offs
    rest = performance.feed("G4 A>B c2|]\n") + performance.close()
    g_off = [pos for pos, d in rest if d == bytes([0x80, 67, 64])]
    assert g_off == [2.5]  # G8 tied to G4: one note of 12 eighths, from bar 2


def test_swing_delays_every_second_eighth():
    text = "M:4/4\nL:1/8\nK:C\ncdef gabc'|]\n"
    straight, _ = play(text, Style(humanise=0))
    swung, _ = play(text, Style(humanise=0, swing=0.6))
    ons = [sorted(p for p, d in items if isinstance(d, bytes) and d[0] & 0xF0 == 0x90)
           for items in (straight, swung)]
    for a, b in zip(*ons, strict=True):
        on_beat = Fraction(a).limit_denominator(64) % Fraction(1, 4) == 0
        expected = a if on_beat else a - 1 / 8 + 0.6 * 2 / 8
        assert b == pytest.approx(expected)


def test_swing_leaves_compound_meters_alone():
    text = "M:6/8\nL:1/8\nK:D\ndfe dcB|AFA DFA|]\n"
    assert play(text, Style(swing=0.66, seed=1)) == play(text, Style(seed=1))


def test_humanised_velocities_are_seeded_and_near_the_accent():
    text = corpus_tunes()[0]

    def velocities(style: Style) -> list[int]:
        items, _ = play(text, style)
        return [d[2] for _, d in sorted(items, key=lambda i: (i[0], repr(i[1])))
                if isinstance(d, bytes) and d[0] & 0xF0 == 0x90 and d[2] > 0]

    plain = velocities(Style(humanise=0))
    seeded = velocities(Style(humanise=6, seed=1))
    assert seeded == velocities(Style(humanise=6, seed=1))
    assert seeded != velocities(Style(humanise=6, seed=2))
    assert seeded != plain
    assert all(abs(a - b) <= 6 for a, b in zip(plain, seeded, strict=True))
    assert len(set(plain)) > 1  # accents by beat strength come from the MIDI writer


def test_positions_are_whole_notes_and_tempo_comes_from_q():
    items, length = play("X:1\nM:3/4\nL:1/4\nQ:1/4=90\nK:G\nG A B|d2 B|]\n", Style(humanise=0))
    assert [d for p, d in items if isinstance(d, float)] == [pytest.approx(90.0)]
    ons = sorted(p for p, d in items if isinstance(d, bytes) and d[0] & 0xF0 == 0x90)
    assert ons == [0, 0.25, 0.5, 0.75, 1.25]
    assert length == pytest.approx(1.5)
    assert WHOLE == 1920
