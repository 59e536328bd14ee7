"""The normaliser's bar clock (abc/bar_repair.py) against the parser's, on the corpus.

Both count time with meter.py's arithmetic. At every line end of every corpus tune
where the normaliser knows the time since the last bar line, the parser's time
there (from its events) must be the same: so the repair adds a bar line exactly
where the parser finds the bar full. The whole corpus runs with `-m slow`; a
sample by default.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from abcgen.runtime.abc import bar_repair
from abcgen.runtime.abc import normalise as normaliser
from abcgen.runtime.abc.corpus import raw_tunes
from abcgen.runtime.abc.events import Bar
from abcgen.runtime.abc.parser import parse

F = Fraction


def parser_times(text: str) -> dict[int, Fraction]:
    """Per line: the time from the last bar line to the end of the line's last note."""
    tune = parse(text)
    ends: dict[int, Fraction] = {}
    bars: dict[int, Fraction] = {}
    for e in tune.events:
        if isinstance(e, Bar):
            bars[e.line] = e.onset
        elif not getattr(e, "grace", True):
            ends[e.line] = e.onset + e.duration
    times, end, start = {}, F(0), F(0)
    for line in range(1, text.count("\n") + 2):
        end, start = ends.get(line, end), bars.get(line, start)
        times[line] = end - start
    return times


def disagreements(raws: list[str], monkeypatch) -> tuple[int, list[str]]:
    """(line ends compared, those where the two clocks differ)."""
    seen: list[tuple[str, str, list]] = []
    repair = normaliser.repair_bars

    def spy(lines, meter, unit, bar, steps):
        times = [c.at_end(following) for c, following in bar_repair.bar_times(lines, meter, unit)]
        seen.append((meter, unit, ["".join(t for _, t in line) for line in lines], times))
        repair(lines, meter, unit, bar, steps)

    monkeypatch.setattr(normaliser, "repair_bars", spy)
    for raw in raws:
        normaliser.normalise(raw)
    compared, wrong = 0, []
    for meter, unit, lines, times in seen:
        text = "\n".join([f"M:{meter}", f"L:{unit}", "K:C", *lines]) + "\n"
        theirs = parser_times(text)
        for i, ours in enumerate(times):
            if ours is not None:
                compared += 1
                if ours != theirs[i + 4]:
                    wrong.append(f"line {i + 4}: {ours} != {theirs[i + 4]}\n{text}")
    return compared, wrong


def test_the_bar_time_counts_as_the_parser_does():
    def at_end(tokens: str, meter: str = "4/4") -> Fraction | None:
        kinds = {">": "broken", "(": "tuplet", "Z": "mrest"}
        line = [(kinds.get(t[0], "note"), t) for t in tokens.split()]
        clock, following = next(bar_repair.bar_times([line], meter, "1/8"))
        return clock.at_end(following)

    assert at_end("A > B c2") == F(1, 2)
    assert at_end("A > B2 c") == F(1, 2)  # unequal lengths: the mark is ignored, as the parser does
    assert at_end("(3 A B c d") == F(3, 8)
    assert at_end("(5 A B C D E F", "3/4") == F(1, 2)  # in the time of 3, as abc2midi reads it
    assert at_end("A >") is None and at_end("(3 A B") is None and at_end("Z2") is None


def test_a_sample_of_the_corpus(monkeypatch):
    compared, wrong = disagreements(list(raw_tunes())[::25], monkeypatch)
    assert compared > 1000 and not wrong, wrong[:3]


@pytest.mark.slow
def test_the_whole_corpus(monkeypatch):
    compared, wrong = disagreements(list(raw_tunes()), monkeypatch)
    assert compared > 40_000 and not wrong, wrong[:3]
