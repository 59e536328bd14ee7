"""Fuzzing with random and mutated tunes. The parser never raises, never loops,
gives the same result however the text is cut into pieces, and its work stays
proportional to the input (counted, not timed). Thousands of seeded mutations of
real tunes (tests/mutations.py) then go through the parser, the ABC round trip
(`convert -o .abc`, parsed again: the same music) and every writer, MIDI and
MusicXML on hundreds, SVG and audio on a few: each either writes or refuses
with an AbcgenError that has a message, within its time. `-m slow` runs ten
times as many."""

from __future__ import annotations

import functools
import itertools
import resource
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import mido
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import ALPHABET, exercise, mutated

from abcgen.runtime.abc.abc_file import read_tunes
from abcgen.runtime.abc.corpus import default_corpus_paths
from abcgen.runtime.abc.parser import Parser, parse

HEAD = "X:1\nM:6/8\nL:1/8\nK:D\n"
# Measured: 2 to 11 characters examined per character of input, whatever the
# input; the bound allows the longest token (about 24 characters) to be read
# again after every one-character piece. Quadratic work would be hundreds.
MAX_WORK_PER_CHAR = 32


@functools.cache
def corpus_tunes() -> list[str]:
    tunes: list[str] = []
    for folder in default_corpus_paths():
        tunes += [text for _, text in read_tunes(sorted(folder.glob("*.abc"))[0])[:40]]
    return tunes


def check(text: str, cuts: list[int]) -> None:
    """Invariants of one parse, and that feeding the same text in pieces changes nothing."""
    tune = parse(text)
    sounding = [n for n in tune.notes if not n.grace and n.voice == 1]  # overlays go back
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


def run_mutations(count: int, seed: int, every: dict[str, int]) -> None:
    """`count` mutated tunes through parse and the ABC round trip, and through each
    writer every `every[writer]`-th; no problem, and memory that stays bounded."""
    found: Counter[str] = Counter()
    problems = []
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for i, text in enumerate(mutated(count, seed)):
        writers = tuple(w for w, n in every.items() if i % n == 0)
        problems += [(p, text) for p in exercise(text, writers, found)]
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) >> 10  # MB
    print(dict(found.most_common()))
    first = f"{problems[0][0]}\n{problems[0][1]!r}" if problems else ""
    assert not problems, f"{len(problems)} problems; the first:\n{first}"
    assert found["parsed"] == count and grown < 500, grown


@pytest.mark.timeout(300)
def test_mutated_tunes_through_the_parser_every_writer_and_the_round_trip():
    run_mutations(2000, seed=21, every={"midi": 5, "musicxml": 8, "svg": 300, "audio": 500})


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_many_more_mutated_tunes():
    run_mutations(20000, seed=2121, every={"midi": 2, "musicxml": 4, "svg": 100, "audio": 250})


# What once made the writers take minutes and gigabytes or write broken files: now
# refused by the caps (runtime/abc/limits.py) or written within MIDI's and XML's ranges.
BEYOND_THE_WRITERS = [  # text, output, refused (False: written, well-formed; None: either)
    ("L:99999/1\nM:4/4\nK:D\nABc|]\n", ".musicxml", True),  # 34 MB of tied notes
    ("L:1/8\nK:D\nA9999|]\n", ".wav", True),  # 41 minutes of audio, 4.4 GB
    ("M:256/4\nL:1/8\nK:D\nABc|]\n", ".mid", None),  # a meter MIDI cannot store
    ("Q:1/4=3\nL:1/8\nK:D\nABc|]\n", ".mid", True),  # a tempo MIDI cannot store
    ("T:a\x0cb\nL:1/8\nK:D\n\"G\x17\"ABc|]\n", ".musicxml", False),  # characters XML cannot hold
]


@pytest.mark.slow
@pytest.mark.parametrize(("text", "suffix", "refused"), BEYOND_THE_WRITERS)
def test_convert_refuses_what_is_beyond_the_writers(text, suffix, refused, tmp_path):
    """The installed `abcgen convert`, in its own process, within 30 s: the tune
    skipped with its reason (or an error), or a well-formed file."""
    source, target = tmp_path / "in.abc", tmp_path / f"out{suffix}"
    source.write_text("X:1\n" + text, encoding="utf-8")
    abcgen = Path(sys.executable).with_name("abcgen")
    done = subprocess.run([abcgen, "convert", source, "-o", target], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode in (0, 2) and "Traceback" not in done.stderr, done.stderr
    assert refused is None or target.exists() != refused, done.stderr
    if suffix == ".musicxml" and target.exists():
        ET.parse(target)
    elif suffix == ".mid" and target.exists():
        mido.MidiFile(target)
