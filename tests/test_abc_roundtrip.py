"""`abcgen convert X.abc -o Y.abc` changes the layout, never the music: every tune
plays the same in the real abc2midi before and after (as written, abc2midi's
playback habits and all), and abcgen's parser reads the same notes, bars and
fields. The held-out tunebooks go through the installed command in the default
suite; the whole corpus runs under `-m slow`. Each case below once changed the
music of a real tune."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli import run
from same_music import same_events

from abcgen.runtime.abc.abc_file import read_tunes
from abcgen.runtime.abc.corpus import raw_tunes
from abcgen.runtime.abc.events import Note
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.abc.writer import format_abc
from abcgen.runtime.evaluate.abc2midi import run_abc2midi

HELD_OUT = sorted((Path(__file__).parent / "data" / "heldout").glob("*.abc"))
needs_abc2midi = pytest.mark.skipif(shutil.which("abc2midi") is None, reason="needs abc2midi")

CASES = {
    # a bar line ending in `!` (an old line-break mark, ignored) before `\`: joined,
    # the two `!` made one decoration of the notes between them (21 notes -> 13)
    "bang before continuation": "X:1\nT:t\nM:4/4\nL:1/8\nK:G\nGABc dedB|!\\\nGABc dedB|!\\\n"
                                "G4 z4|]\n",
    "lone bang mid-line": "X:1\nT:t\nM:6/8\nL:1/8\nK:Am\neAA eAA|!(Bd).d B2A|\\\n"
                          "e!AA e!AA|]\n",
    # a header field continued with `\`: the writer took the next line for music
    "header continuation": "X:8\nT:Clayhole Waltz\nM:3/4\nL:1/8\n"
                           "Z:licensed under a Creative Commons Licens\\\ne.\nK:A\n"
                           "|: EA | c2-cB cd | c2B2A2 :|\n",
    # characters str.splitlines() breaks lines at, in a title and a field
    "line separators in the header": "X:1\nT:Caf\x85 \x0c\x1c\x1d\x1e \u2028 \u2029 end\n"
                                     "C:a\x0bb\nM:2/4\nL:1/8\nK:D\nABcd|efga|]\n",
    "CR line ends": "X:1\rT:mac\rM:2/4\rL:1/8\rK:D\rABcd|efga|\rf2d2|]\r",
    # `[|]` is one bar line; a line break after `[|` left `]` to start the next line
    "bar line [|]": "X:1\nT:t\nM:2/4\nL:1/8\nK:G\nGABc|dedB|GABc|dedB[|]\nGABc|dedB|]\n",
    # `A:|` at a line start is a note and a repeat (abc2midi), not an A: field
    # found by the fuzz (tests/test_parser_fuzz.py)
    "lone bang between tokens": "X:1\nT:t\nM:4/4\nL:1/8\nK:D\nE2=F2G!2F2 | ED-D3z\n=FD|]\n",
    "open string ending in ]": 'X:1\nT:t\nM:2/4\nL:1/8\nK:G\nGABc "D.C."[|]|]\nC."[|]|]\nC.|]\n',
    # a header line missing its colon: abc2midi skips it; K:C was put before it
    "stray line in the header": "X:411\nT:Romance\nM:2/4\nL:1/8\nN bars 13 and 21 are |f2ed|\n"
                                "Z:Jack Campin\nK:G\nd2BB|B3 G|AAAB|d>cBz|]\n",
    "note and repeat at a line start": "X:1\nT:t\nM:2/4\nL:1/2\nK:G\n|:A|B|c|d|A:|\n",
}


def plays_differently(text: str, converted: str) -> str | None:
    """None when abc2midi plays both texts alike, else what differs."""
    before = run_abc2midi(text, neutral=False).notes
    after = run_abc2midi(converted, neutral=False).notes
    if before == after:
        return None
    first = next((i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b),
                 min(len(before), len(after)))
    return (f"abc2midi: {len(before)} notes before, {len(after)} after; first difference "
            f"at note {first}: {before[first:first + 1]} -> {after[first:first + 1]}")


def check_round_trip(text: str, converted: str) -> None:
    diff = same_events(parse(text), parse(converted))
    assert diff is None, f"{diff}\n{text}\n---\n{converted}"
    if shutil.which("abc2midi"):
        diff = plays_differently(text, converted)
        assert diff is None, f"{diff}\n{text}\n---\n{converted}"


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_cases_that_once_changed_the_music(text, tmp_path, capsys):
    source = tmp_path / "in.abc"
    source.write_bytes(text.encode("utf-8"))
    code, _, err = run(["convert", str(source), "-o", str(tmp_path / "out.abc")], capsys)
    assert code == 0, err
    converted = (tmp_path / "out.abc").read_text(encoding="utf-8")
    [(_, tune)] = read_tunes(source)  # CR line ends and all, as convert read them
    check_round_trip(tune, converted)
    assert converted.split("\n")[1] == next(
        line for line in tune.split("\n") if line.startswith("T:"))  # the title, one line


FAULTY = {  # found by the fuzz: abc2midi may read these otherwise; convert keeps abcgen's reading
    # files reach the writer with `\n` line ends (abc_file); elsewhere a lone CR is a space
    "CR inside a line": "X:1\nT:t\nB:Ryan's Col\rlection\nM:C|\nL:1/8\nK:G\nG2Bd\rgdBG|]\n",
    "space before X:": " X: 1\nT:t\nM:2/4\nL:1/16\nK:D\nABcd efga|]\n",  # X is a rest
    "a lone \\ before K:": "X:1\nT:t\nN:note\n\\\nK: Bb\nFE \\\n| DFBc d2cd|]\n",
}


@pytest.mark.parametrize("text", FAULTY.values(), ids=FAULTY.keys())
def test_faulty_tunes_keep_abcgens_reading(text):
    assert same_events(parse(text), parse(format_abc(text))) is None


@needs_abc2midi
@pytest.mark.parametrize("book", HELD_OUT, ids=lambda p: p.name)
def test_every_held_out_tune_plays_the_same_after_convert(book, tmp_path, capsys):
    code, _, err = run(["convert", str(book), "-o", str(tmp_path / "out.abc")], capsys)
    assert code == 0, err
    for index, (_, text) in enumerate(read_tunes(book), 1):
        converted = tmp_path / f"out-{index}.abc"
        if converted.exists():  # a tune without notes is skipped
            check_round_trip(text, converted.read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.timeout(3600)
@needs_abc2midi
def test_every_corpus_tune_plays_the_same_after_convert():
    """abc2midi is asked about the tunes abcgen reads without an error: where a tune is
    faulty the two may read it differently (`dc/d` ending a line, `/ ed` the next),
    and convert keeps abcgen's reading."""
    changed = []
    for text in raw_tunes():
        tune = parse(text)
        if not any(isinstance(e, Note) for e in tune.events):
            continue  # convert skips it
        converted = format_abc(text)
        diff = same_events(tune, parse(converted))
        if diff is None and tune.valid:
            diff = plays_differently(text, converted)
        if diff:
            changed.append(f"{diff}\n{text}")
    assert not changed, f"{len(changed)} tunes changed; the first:\n{changed[0]}"
