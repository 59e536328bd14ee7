"""How a length is written: note values (with dots, or tied where no single
value shows it) and the beams that group short notes as the ABC spaces them."""

from __future__ import annotations

import itertools
from fractions import Fraction

from abcgen.runtime.abc.events import Note

TYPES = {
    Fraction(2): "breve",
    Fraction(1): "whole",
    Fraction(1, 2): "half",
    Fraction(1, 4): "quarter",
    Fraction(1, 8): "eighth",
    Fraction(1, 16): "16th",
    Fraction(1, 32): "32nd",
    Fraction(1, 64): "64th",
    Fraction(1, 128): "128th",
}
# every length one note value shows: (type, dots), longest first
NOTATED = dict(
    sorted(
        (
            (base * (2 - Fraction(1, 2**dots)), (name, dots))
            for base, name in TYPES.items()
            for dots in range(3)
        ),
        reverse=True,
    )
)
_FLAGS = {"eighth": 1, "16th": 2, "32nd": 3, "64th": 4, "128th": 5}


def beams(groups: list[list]) -> dict[int, list]:
    """Beams (level, begin/continue/end/hook) keyed by id() of the note that
    carries them. As ABC has it (2.1, section 4.7), eighths and shorter written
    without a space between them share a beam (`GABc dBGB`: two beams of
    four); rests, longer notes and tied-over lengths break it; grace notes and
    chord symbols stand aside."""
    runs: list[list[tuple[Note, int]]] = []
    joined = False  # the last main note may take a beam
    for group in groups:
        head = group[0]
        if not isinstance(head, Note) or head.grace:
            continue
        written = head.duration
        if head.tuplet is not None:
            written = head.written or head.duration * Fraction(*head.tuplet[:2])
        notated = NOTATED.get(written)  # None: tied pieces, never beamed
        level = _FLAGS.get(notated[0]) if notated and not head.measures else None
        if level is None or head.pitch is None:
            joined = False
            continue
        if not joined or head.spaced:
            runs.append([])
        runs[-1].append((head, level))
        joined = True
    out: dict[int, list] = {}
    for run in runs:
        if len(run) < 2:
            continue
        for depth in range(1, max(lv for _, lv in run) + 1):
            inside = [i for i, (_, lv) in enumerate(run) if lv >= depth]
            for _, stretch in itertools.groupby(enumerate(inside), lambda p: p[1] - p[0]):
                idx = [i for _, i in stretch]
                if len(idx) == 1:
                    kinds = ["forward hook" if idx[0] == 0 else "backward hook"]
                else:
                    kinds = ["begin", *["continue"] * (len(idx) - 2), "end"]
                for i, kind in zip(idx, kinds, strict=True):
                    out.setdefault(id(run[i][0]), []).append((depth, kind))
    return out


def split(length: Fraction) -> list[Fraction]:
    """Note values, longest first, that add up to `length`."""
    pieces = []
    while length > 0:
        fit = next((v for v in NOTATED if v <= length), None)
        if fit is None:  # shorter than a 128th: too small to show, so lengthen the last value
            if not pieces:
                pieces.append(length)
            else:
                pieces[-1] += length
            break
        pieces.append(fit)
        length -= fit
    return pieces


def notated(length: Fraction) -> tuple[str, int]:
    """The note value that shows `length`, or the longest one shorter than it."""
    return NOTATED.get(length) or next(
        (v for k, v in NOTATED.items() if k <= length), ("128th", 0)
    )
