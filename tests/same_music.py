"""Whether two parses of one tune hold the same music, blind to where things stand
in the file: what `convert -o .abc` must keep (tests/test_abc_roundtrip.py, the fuzz)."""

from __future__ import annotations

import dataclasses

from abcgen.runtime.abc.events import FieldChange, Tune


def same_events(tune: Tune, again: Tune) -> str | None:
    """None when both parses hold the same music: every note, bar line and chord
    symbol (not where it stands in the file), and every K: M: L: Q: P: field; a K:C
    that the writer adds to a tune without K: (which is read as K:C) is no change."""
    def events(t: Tune, added_key: bool) -> list:
        out = []
        for e in t.events:
            if isinstance(e, FieldChange):
                if e.name not in "KMLQP" or (added_key and e.name == "K" and e.value == "C"):
                    added_key = added_key and e.name != "K"
                    continue
                e = (e.name, e.value.strip(), e.onset, e.key, e.meter, e.tempo)
            else:
                e = dataclasses.replace(e, line=0, col=0)
            out.append(e)
        return out

    a, b = events(tune, False), events(again, "K" not in tune.fields)
    for x, y in zip(a, b, strict=False):
        if x != y:
            return f"before: {x}\nafter:  {y}"
    return None if len(a) == len(b) else f"{len(a)} events before, {len(b)} after"
