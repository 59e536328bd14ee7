"""Fuzzing the parser with random and mutated tunes: it never raises, never
loops, gives the same result however the text is cut into pieces, and its
work stays proportional to the input (counted, not timed)."""

from __future__ import annotations

import functools
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abcgen.runtime.abc.corpus import default_corpus_paths
from abcgen.runtime.abc.normalise import split_tunebook
from abcgen.runtime.abc.parser import Parser, parse

HEAD = "X:1\nM:6/8\nL:1/8\nK:D\n"
# ABC's own characters, weighted toward music, plus a few it does not use
ALPHABET = "ABCDEFGabcdefgzxZ,'^_=/23|:[]{}()<>-!+\"%.~HTuv \n\\K:M&$y`#;1\t\u00e9"
# Measured: 2 to 11 characters examined per character of input, whatever the
# input; the bound allows the longest token (about 24 characters) to be read
# again after every one-character piece. Quadratic work would be hundreds.
MAX_WORK_PER_CHAR = 32


@functools.cache
def corpus_tunes() -> list[str]:
    tunes: list[str] = []
    for folder in default_corpus_paths():
        path = sorted(folder.glob("*.abc"))[0]
        tunes += split_tunebook(path.read_text(encoding="utf-8", errors="replace"))[:40]
    return tunes


def check(text: str, cuts: list[int]) -> None:
    """Invariants of one parse, and that feeding the same text in pieces changes nothing."""
    tune = parse(text)
    sounding = [n for n in tune.notes if not n.grace]
    assert all(a.onset <= b.onset for a, b in itertools.pairwise(sounding))
    assert all(n.duration > 0 for n in tune.notes)
    assert all(0 <= n.pitch.midi <= 127 for n in tune.notes if n.pitch is not None)
    assert all(d.line >= 1 and d.col >= 1 for d in tune.diagnostics)
    parser = Parser()
    events = []
    for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True):
        events += parser.feed(text[a:b])
    events += parser.close()
    assert events == tune.events
    assert parser.tune.diagnostics == tune.diagnostics
    assert parser.work <= MAX_WORK_PER_CHAR * (len(text) + 1)


def cuts_of(data: st.DataObject, text: str) -> list[int]:
    points = data.draw(st.lists(st.integers(0, len(text)), max_size=40))
    return sorted(set(points))


@pytest.mark.timeout(300)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.text(alphabet=ALPHABET, max_size=300), data=st.data())
def test_random_text(body, data):
    text = HEAD + body
    check(text, cuts_of(data, text))


@pytest.mark.timeout(300)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_corpus_tunes(data):
    text = data.draw(st.sampled_from(corpus_tunes()))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(text)))
        piece = data.draw(st.text(alphabet=ALPHABET, min_size=0, max_size=4))
        cut = data.draw(st.integers(0, 4))
        text = text[:at] + piece + text[at + cut :]
    check(text, cuts_of(data, text))


@pytest.mark.parametrize(
    "piece",
    ['"', "!", "+", "%", "[K:", " ", ":", "[", "(", "A", "^", "{", "|", "1", "-", ">", "\\", "&"],
)
def test_long_runs_fed_one_character_at_a_time_stay_linear(piece):
    """Unfinished strings, comments and runs of one symbol are where a careless
    incremental reader goes quadratic: 20,000 characters would cost 10^8."""
    for text in (HEAD + piece * 20_000, HEAD + "A" + piece + "x" * 20_000):
        parser = Parser()
        for ch in text:
            parser.feed(ch)
        parser.close()
        assert parser.work <= MAX_WORK_PER_CHAR * len(text)
