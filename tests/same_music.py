"""Whether two parses of one tune hold the same music, blind to where things stand
in the file: what `convert -o .abc` must keep (tests/test_abc_roundtrip.py, the fuzz)."""

from __future__ import annotations

import dataclasses

from abcgen.runtime.abc.events import FieldChange, Tune


def same_events(tune: Tune, again: Tune) -> str | None:
    """None when both parses hold the same music: every note, bar line and chord
    symbol (not where it stands in the file), and every K: M: L: Q: P: field; a K:C
    that the writer adds to a tune without K: (which is read as K:C) is no change."""
    a, b = _events(tune), _events(again)
    keys = [i for i, e in enumerate(b) if isinstance(e, tuple) and e[0] == "K"]
    added = len(keys) == sum(isinstance(e, tuple) and e[0] == "K" for e in a) + 1
    if added and b[keys[0]][1:3] == ("C", 0):
        del b[keys[0]]
    for x, y in zip(a, b, strict=False):
        if x != y:
            return f"before: {x}\nafter:  {y}"
    return None if len(a) == len(b) else f"{len(a)} events before, {len(b)} after"


def _events(tune: Tune) -> list:
    out = []
    for e in tune.events:
        if isinstance(e, FieldChange):
            if e.name in "KMLQP":
                out.append((e.name, e.value.strip(), e.onset, e.key, e.meter, e.tempo))
        else:
            out.append(dataclasses.replace(e, line=0, col=0))
    return out
