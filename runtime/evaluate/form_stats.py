"""Form statistics of a set of tunes: what `abcgen eval` shows beside the corpus's.

For each tune `abc.form.read_form` finds its parts, their bars and repeats and
where each ends; here they are counted: the forms found (overall and per
meter), the share whose form is the one asked for, the share ending on the
tonic, the share of parts ending on the tonic or fifth, and the histograms
behind the picture (part lengths, final scale degrees). `auto_table` is the
same reading of the training split, as the table `--form auto` draws from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from abcgen.runtime.abc.events import Tune
from abcgen.runtime.abc.form import (
    FIFTH,
    MAX_PARTS,
    PART_BARS,
    TONIC,
    FormFound,
    FormSpec,
    read_form,
)
from abcgen.runtime.abc.parser import parse

MAX_BARS = 32  # part lengths histogram: 1..32 bars, longer ones in the last bin
DEGREES = ["1", "b2", "2", "b3", "3", "4", "#4", "5", "b6", "6", "b7", "7"]  # semitones
TOP = 6  # forms listed per meter


@dataclass(frozen=True)
class TuneForm:
    meter: str  # as in M: ('none' for free meter)
    form: FormFound | None  # None: no meter or no notes

    @property
    def name(self) -> str:
        """`AABB:8`, `AB:8+16` (parts of different lengths), or '-' (no form read)."""
        if self.form is None or not self.form.parts:
            return "-"
        bars = [p.bars for p in self.form.parts]
        lengths = str(bars[0]) if len(set(bars)) == 1 else "+".join(map(str, bars))
        return f"{self.form.text}:{lengths}"


def tune_form(tune: Tune | str) -> TuneForm:
    """The form of a tune (text or parsed), with its meter."""
    if isinstance(tune, str):
        tune = parse(tune)
    m = tune.meter
    return TuneForm("none" if m is None else f"{m.numerator}/{m.denominator}", read_form(tune))


def summarise_forms(forms: Sequence[TuneForm], asked: FormSpec | None = None) -> dict[str, Any]:
    """Shares and distributions of the forms of a set of tunes (JSON-ready)."""
    read = [f.form for f in forms if f.form is not None and f.form.parts]
    n = len(forms) or 1
    parts = [p for f in read for p in f.parts]
    cadences = [ok for f in read for ok in f.cadences_kept()]
    return {
        "tunes": len(forms),
        "read": len(read) / n,
        "asked": asked.key if asked else None,
        "as_asked": sum(f.matches(asked) for f in read) / n if asked else None,
        "ends_on_tonic": sum(f.last == TONIC for f in read) / n,
        "parts_end_on_tonic_or_fifth": sum(p.last in (TONIC, FIFTH) for p in parts) / len(parts)
        if parts else None,
        "parts_keep_cadence": sum(cadences) / len(cadences) if cadences else None,
        "repeated_parts": sum(p.plays > 1 for p in parts) / len(parts) if parts else None,
        "with_endings": sum(any(p.endings for p in f.parts) for f in read) / n,
        "forms": _shares(Counter(f.name for f in forms), n),
        "by_meter": {meter: _shape(group) for meter, group in _by_meter(forms)},
    }


def _shape(group: list[TuneForm]) -> dict[str, Any]:
    """A meter's forms, and the coarse shares that small samples still measure well."""
    read = [f.form for f in group if f.form is not None and f.form.parts]
    n = len(group)
    parts = [p for f in read for p in f.parts]
    return {
        "tunes": n,
        "repeated": sum(any(p.plays > 1 for p in f.parts) for f in read) / n,
        "one_part": sum(len(f.parts) == 1 for f in read) / n,
        "eight_bar_parts": sum(p.bars == 8 for p in parts) / len(parts) if parts else None,
        "ends_on_tonic": sum(f.last == TONIC for f in read) / n,
        "forms": _shares(Counter(f.name for f in group), n),
    }


def form_histograms(forms: Iterable[TuneForm]) -> dict[str, np.ndarray]:
    """Counts of part lengths (bars) and of the final scale degree of parts and tunes."""
    lengths = np.zeros(MAX_BARS)
    part_ends = np.zeros(12)
    tune_ends = np.zeros(12)
    for f in forms:
        if f.form is None:
            continue
        for p in f.form.parts:
            lengths[min(max(p.bars, 1), MAX_BARS) - 1] += 1
            if p.last is not None:
                part_ends[p.last] += 1
        if f.form.last is not None:
            tune_ends[f.form.last] += 1
    return {"part_bars": lengths, "part_end": part_ends, "tune_end": tune_ends}


def auto_table(forms: Iterable[TuneForm], *, min_share: float = 0.01, min_count: int = 3,
               min_tunes: int = 100) -> dict[str, list[tuple[str, float]]]:
    """Per meter with at least `min_tunes` tunes: the forms a `FormSpec` can ask for
    (each part played once or twice) that at least `min_share` and `min_count` of
    them use, as (`FormSpec.key`, share)."""
    table: dict[str, list[tuple[str, float]]] = {}
    for meter, group in _by_meter(forms):
        if len(group) < min_tunes or meter == "none":
            continue
        counts = Counter(_askable(f.form) for f in group)
        counts.pop(None, None)
        rows = [(key, round(c / len(group), 3)) for key, c in counts.most_common()
                if c / len(group) >= min_share and c >= min_count]
        if rows:
            table[meter] = rows
    return table


def _askable(form: FormFound | None) -> str | None:
    """The `FormSpec.key` that asks for this form, if one can."""
    if form is None or not form.parts or len(form.parts) > MAX_PARTS:
        return None
    low, high = PART_BARS
    if any(p.plays > 2 or not low <= p.bars <= high for p in form.parts):
        return None
    return FormSpec(tuple(p.plays for p in form.parts), tuple(p.bars for p in form.parts)).key


def _by_meter(forms: Iterable[TuneForm]) -> list[tuple[str, list[TuneForm]]]:
    groups: dict[str, list[TuneForm]] = {}
    for f in forms:
        groups.setdefault(f.meter, []).append(f)
    return sorted(groups.items(), key=lambda kv: -len(kv[1]))


def _shares(counts: Counter[str], n: int) -> dict[str, float]:
    top = dict(counts.most_common(TOP))
    other = sum(counts.values()) - sum(top.values())
    shares = {name: round(c / n, 4) for name, c in top.items()}
    if other:
        shares["other"] = round(other / n, 4)
    return shares
