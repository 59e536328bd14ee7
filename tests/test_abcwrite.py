"""The ABC re-emitter: same music, standard header, a few bars per line."""

from __future__ import annotations

import pytest
from test_musicxml import SAMPLE, corpus_tune

from abcgen.runtime.abc.events import Bar
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.abc.writer import format_abc, write_abc
from abcgen.runtime.errors import AbcgenError

# What the model writes: canonical header, the whole body on one line.
GENERATED = (
    "M:6/8\nL:1/8\nK:Ador\n"
    '|:"Am"eAA eAA|edc BAG|eAA eAA|"G"BAG GAB|eAA eAA|edc BAG|1 ABc dcB:|2 ABc d2e|]\n'
)


def music(text: str) -> list[tuple]:
    """What a tune sounds like and how its bars fall, blind to layout."""
    tune = parse(text)
    notes = [(n.onset, n.duration, n.pitch, n.tie, n.grace, n.tuplet) for n in tune.notes]
    bars = [(b.onset, b.kind, b.ending) for b in tune.events if isinstance(b, Bar)]
    return notes + bars


@pytest.mark.parametrize("text", [GENERATED, *map(corpus_tune, SAMPLE)])
def test_same_music_clean_header_and_idempotent(text):
    out = format_abc(text, index=3)
    assert music(out) == music(text)
    lines = out.splitlines()
    assert lines[0] == "X:3" and lines[1].startswith("T:")
    header_end = next(i for i, line in enumerate(lines) if line.startswith("K:"))
    assert all(line[1] == ":" or line.startswith("%%") for line in lines[:header_end])
    assert format_abc(out, index=3) == out


def test_bars_per_line_and_parts_on_new_lines():
    out = format_abc(GENERATED, title="Gen", bars_per_line=2)
    lines = out.splitlines()
    assert lines[:2] == ["X:1", "T:Gen"] and lines[4] == "K:Ador"
    bars = [b for b in parse(out).events if isinstance(b, Bar) and b.onset > 0]
    per_line = [sum(b.line == i + 1 for b in bars) for i in range(5, len(lines))]
    # two bars a line; the line with the endings keeps them together with their music
    assert per_line == [2, 2, 4]
    assert lines[-1] == "eAA eAA|edc BAG|1 ABc dcB:|2 ABc d2e|]"
    assert format_abc(GENERATED).splitlines()[5:] == [
        '|:"Am"eAA eAA|edc BAG|eAA eAA|"G"BAG GAB|',
        "eAA eAA|edc BAG|1 ABc dcB:|2 ABc d2e|]",
    ]


def test_titles_and_header_fields_kept():
    text = "X:12\nT:First\nT:Second\nR:reel\nM:C|\nL:1/8\nK:D\nABcd efga|]\n"
    out = format_abc(text).splitlines()
    assert out[:6] == ["X:1", "T:First", "T:Second", "R:reel", "M:C|", "L:1/8"]
    assert format_abc(text, title="New").splitlines()[1:3] == ["T:New", "R:reel"]
    assert format_abc("K:G\nGABc|]\n").splitlines()[:3] == ["X:1", "T:Untitled", "K:G"]


def test_bad_options_and_unwritable_path(tmp_path):
    with pytest.raises(AbcgenError, match="bars_per_line"):
        format_abc(GENERATED, bars_per_line=0)
    with pytest.raises(AbcgenError, match="cannot write"):
        write_abc(GENERATED, tmp_path / "missing" / "t.abc")
    write_abc(GENERATED, tmp_path / "t.abc", index=2)
    assert (tmp_path / "t.abc").read_text() == format_abc(GENERATED, index=2)
