"""How good a model is: bits/char on the test split and what its tunes look like.

Everything is computed from the .onnx file with onnxruntime (no torch), so any
exported model can be compared with any other on the same numbers:

- bits/char on the test split (DESIGN.md's metric);
- for N tunes per temperature, generated with the constraint mask in each form
  asked for (`auto`, `AABB`...) and without the mask (same seeds): valid rate
  by our parser and by abc2midi, how often the two agree, share of interior
  bars of exact length, share of AABB-like tunes (two or more repeated
  sections), share ending with a final bar line, lengths, and originality: the
  longest run of consecutive bars copied from a training tune (bars compared
  as text under the same L: and K:);
- the form of every tune (form_stats.py), for the runs and for the test split side
  by side: the forms found, the share as asked, the cadences, per meter;
- pitch-class (relative to the tonic), interval, note-length and range
  histograms of the tunes against the training corpus, with their overlapping
  area and KL divergence, so two models can be ranked.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from abcgen.runtime.abc.corpus import splits_sha256
from abcgen.runtime.abc.events import Bar, Note, Tune
from abcgen.runtime.abc.keys import SEMITONE
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.constrain.forms import FormChoice
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.evaluate.form_stats import form_histograms, summarise_forms, tune_form
from abcgen.runtime.evaluate.structure import (
    loop_limits,
    pictured,
    summarise_structure,
    tune_structure,
)
from abcgen.runtime.generate.generator import Generator
from abcgen.runtime.generate.onnx_model import Model
from abcgen.runtime.generate.params import DEFAULT_MAX_CHARS, GeneratorParams
from abcgen.runtime.generate.prime import prime_text

COPY_RUN = 4  # bars: a tune with this many consecutive bars of one training tune copies it
FINAL = {"|]", "||", ":|", "::"}
# Note-length bins (whole notes); anything else counts as 'other'.
LENGTH_BINS = [Fraction(1, d) * n for n, d in ((1, 32), (1, 16), (3, 32), (1, 8), (3, 16),
                                                (1, 4), (3, 8), (1, 2), (3, 4), (1, 1))]
LENGTH_LABELS = [str(x) for x in LENGTH_BINS] + ["other"]
INTERVALS = 12  # histogram of melodic steps from -12 to +12 semitones (clipped)
RANGE_MAX = 36  # semitones; wider ranges share the last bin
_BAR_SPLIT = re.compile(r":*\[?\|[|\]]*:*\d*|::+|\[\d")


# ---------------------------------------------------------------- bits per character


def bits_per_char(model: Model, texts: Sequence[str], batch: int = 32) -> float:
    """DESIGN.md's metric: each tune from a zero state, BOS+text -> text+EOS."""
    if not texts:
        raise AbcgenError("no tunes to score")
    info = model.info
    bits, count = 0.0, 0
    ordered = sorted(texts, key=len)  # similar lengths together: little padding
    for start in range(0, len(ordered), batch):
        ids = [model.encode(t) for t in ordered[start:start + batch]]
        width = max(map(len, ids)) + 1
        inputs = np.full((len(ids), width), info.eos, np.int64)
        targets = np.full((len(ids), width), -1, np.int64)
        for row, seq in enumerate(ids):
            inputs[row, 0], inputs[row, 1:len(seq) + 1] = info.bos, seq
            targets[row, :len(seq)], targets[row, len(seq)] = seq, info.eos
        logits = model.run(inputs, *model.zero_state(len(ids)))[0].astype(np.float64)
        logits -= logits.max(axis=-1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        scored = targets >= 0
        picked = np.take_along_axis(logp, np.where(scored, targets, 0)[..., None], -1)[..., 0]
        bits -= picked[scored].sum() / np.log(2)
        count += int(scored.sum())
    return bits / count


# ---------------------------------------------------------------- one tune


@dataclass
class TuneFacts:
    """What the report counts about one generated tune."""

    text: str
    tune: Tune  # as parsed, for the statistics
    ended: bool  # the model wrote EOS (not cut at the length limit)
    valid: bool  # no error from our parser
    errors: list[str]
    abc2midi_valid: bool | None  # None: not checked
    bars: int  # bars with notes
    interior: int  # interior bars (not the first or last) in a metered tune
    exact: int  # of those, bars of exactly the meter's length
    bar_errors: Counter[str]  # interior bar length minus the meter's, in unit lengths
    repeats: int  # repeated sections (`:|` and `::`)
    final_bar: bool
    copied: int  # longest run of consecutive bars found in one training tune


def bar_lengths(tune: Tune) -> list[Fraction]:
    """Lengths of the bars that hold notes, in written order (whole notes)."""
    out, start, notes = [], Fraction(0), False
    for e in tune.events:
        if isinstance(e, Note) and not e.grace:
            notes = True
        elif isinstance(e, Bar):
            if notes:
                out.append(e.onset - start)
            start, notes = e.onset, False
    if notes:
        last = max((n.onset + n.duration for n in tune.notes if not n.grace), default=start)
        out.append(last - start)
    return out


def bar_texts(text: str) -> tuple[str, list[str]]:
    """(L: and K: of the tune, its bars as text without spaces): the unit of copying."""
    head, _, body = text.partition("\nK:")
    key, _, body = body.partition("\n")
    unit = next((line for line in head.split("\n") if line.startswith("L:")), "")
    bars = ["".join(b.split()) for b in _BAR_SPLIT.split(body)]
    return f"{unit} K:{key}", [b for b in bars if b]


class CopyIndex:
    """Where each bar of the training tunes occurs, to find runs copied from one tune."""

    def __init__(self, texts: Iterable[str]) -> None:
        self._where: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for i, text in enumerate(texts):
            head, bars = bar_texts(text)
            for j, bar in enumerate(bars):
                self._where.setdefault((head, bar), []).append((i, j))

    def longest_run(self, text: str) -> int:
        head, bars = bar_texts(text)
        best, runs = 0, {}
        for bar in bars:
            where = self._where.get((head, bar), ())
            runs = {(t, j): runs.get((t, j - 1), 0) + 1 for t, j in where}
            best = max(best, *runs.values(), 0)
        return best


def tune_facts(text: str, ended: bool, copies: CopyIndex | None, abc2midi: bool) -> TuneFacts:
    tune = parse(text)
    errors = [str(d) for d in tune.diagnostics if d.severity == "error"]
    lengths = bar_lengths(tune)
    interior = lengths[1:-1] if tune.meter is not None else []
    need = tune.meter.bar_length if tune.meter is not None else None
    kinds = [e.kind for e in tune.events if isinstance(e, Bar)]
    return TuneFacts(
        text=text,
        tune=tune,
        ended=ended,
        valid=tune.valid,
        errors=errors,
        abc2midi_valid=_abc2midi_valid(text) if abc2midi else None,
        bars=len(lengths),
        interior=len(interior),
        exact=sum(x == need for x in interior),
        bar_errors=Counter(str((x - need) / tune.unit) for x in interior if x != need),
        repeats=sum(k in (":|", "::") for k in kinds),
        final_bar=bool(kinds) and kinds[-1] in FINAL and _ends_with_bar(tune),
        copied=copies.longest_run(text) if copies is not None else 0,
    )


def _ends_with_bar(tune: Tune) -> bool:
    return bool(tune.events) and isinstance(tune.events[-1], Bar)


def _abc2midi_valid(text: str) -> bool:
    from abcgen.runtime.evaluate.abc2midi import run_abc2midi

    ref = run_abc2midi(text)
    return not ref.bar_warnings and not any(m.severity == "error" for m in ref.messages)


# ---------------------------------------------------------------- musical statistics


def histograms(tunes: Iterable[Tune]) -> dict[str, np.ndarray]:
    """Counts of pitch classes (from the tonic), intervals, note lengths and ranges."""
    pcs = np.zeros(12)
    steps = np.zeros(2 * INTERVALS + 1)
    lengths = np.zeros(len(LENGTH_BINS) + 1)
    ranges = np.zeros(RANGE_MAX + 1)
    index = {x: i for i, x in enumerate(LENGTH_BINS)}
    for tune in tunes:
        tonic = _tonic(tune)
        melody = [n for n in tune.notes if not n.grace and n.chord_index == 0]
        pitches = [n.pitch.midi for n in melody if n.pitch is not None]
        for p in pitches:
            pcs[(p - tonic) % 12] += 1
        for a, b in itertools.pairwise(pitches):
            steps[max(-INTERVALS, min(INTERVALS, b - a)) + INTERVALS] += 1
        for n in melody:
            lengths[index.get(n.duration, len(LENGTH_BINS))] += 1
        if pitches:
            ranges[min(RANGE_MAX, max(pitches) - min(pitches))] += 1
    return {"pitch_class": pcs, "interval": steps, "note_length": lengths, "range": ranges}


def _tonic(tune: Tune) -> int:
    if tune.key is None:
        return 0
    tonic = tune.key.tonic
    return (SEMITONE[tonic[0]] + {"#": 1, "b": -1}.get(tonic[1:], 0)) % 12


def distance(p: np.ndarray, q: np.ndarray) -> dict[str, float]:
    """Overlapping area (1 = same shape) and KL(p || q) in bits, q smoothed."""
    p = p / p.sum() if p.sum() else p
    q = q / q.sum() if q.sum() else q
    qs = (q + 1e-4) / (1 + 1e-4 * len(q))
    nz = p > 0
    return {"overlap": float(np.minimum(p, q).sum()),
            "kl_bits": float((p[nz] * np.log2(p[nz] / qs[nz])).sum())}


# ---------------------------------------------------------------- the whole report


def summarise(facts: Sequence[TuneFacts]) -> dict[str, Any]:
    """Rates and distributions over a set of tunes."""
    n = len(facts) or 1
    checked = [f for f in facts if f.abc2midi_valid is not None]
    interior = sum(f.interior for f in facts)
    chars = np.array([len(f.text) for f in facts] or [0])
    bars = np.array([f.bars for f in facts] or [0])
    errors: Counter[str] = Counter()
    for f in facts:
        errors.update(f.bar_errors)
    return {
        "tunes": len(facts),
        "ended": sum(f.ended for f in facts) / n,
        "valid": sum(f.valid for f in facts) / n,
        "abc2midi_valid": sum(f.abc2midi_valid for f in checked) / len(checked) if checked
        else None,
        "abc2midi_agrees": sum(f.abc2midi_valid == f.valid for f in checked) / len(checked)
        if checked else None,
        "exact_interior_bars": sum(f.exact for f in facts) / interior if interior else None,
        "aabb": sum(f.repeats >= 2 for f in facts) / n,
        "final_bar": sum(f.final_bar for f in facts) / n,
        "chars": _spread(chars),
        "bars": _spread(bars),
        "copied_4_bars": sum(f.copied >= COPY_RUN for f in facts) / n,
        "longest_copy": _spread(np.array([f.copied for f in facts] or [0])),
        "bar_errors": dict(sorted(errors.items(), key=lambda kv: Fraction(kv[0]))),
        "first_errors": Counter(e.split(": ", 2)[-1][:60] for f in facts for e in f.errors[:1])
        .most_common(5),
    }


def _spread(x: np.ndarray) -> dict[str, float]:
    return {"mean": float(x.mean()), "median": float(np.median(x)),
            "p10": float(np.percentile(x, 10)), "p90": float(np.percentile(x, 90))}


def sample_tunes(model: Model, params: GeneratorParams) -> tuple[list[tuple[str, bool]], int]:
    """(text, ended) of the tunes `params` asks for, and how often the mask fell back."""
    gen = Generator(model, params)
    gen.append(params.prime)
    while not gen.is_done():
        gen.generate_next()
    return ([(t.text, t.ended) for t in gen.results()],
            gen.mask.fallbacks if gen.mask is not None else 0)


def primed_order(test: Sequence[str], num: int, seed: int) -> list[int]:
    """`--primes test`: the test tunes (by index) whose headers prime a run's `num`
    tunes, a seeded shuffle of the split (cycled when `num` is larger), so that runs
    meet the split's mix of meters, units and keys."""
    if not test:
        raise AbcgenError("--primes test needs test tunes")
    order = random.Random(seed).sample(range(len(test)), len(test))
    return [order[i % len(test)] for i in range(num)]


def header(text: str) -> str:
    """The M:, L: and K: lines a canonical tune starts with: a prime."""
    return "\n".join(text.split("\n")[:3]) + "\n"


def sample_primed(model: Model, params: GeneratorParams, primes: Sequence[str]
                  ) -> tuple[list[tuple[str, bool]], int, list[str]]:  # fmt: skip
    """`sample_tunes` for tunes that each have their own prime (a header, as `prefix`):
    one batch per distinct prime, each seeded from `params.seed` and its place; in the
    order of `primes`. A prime that cannot take the form asked for (M:none and AABB)
    gives no tunes: the third item says why, once for each tune left out."""
    rows: dict[str, list[int]] = {}
    for i, prime in enumerate(primes):
        rows.setdefault(prime, []).append(i)
    out: dict[int, tuple[str, bool]] = {}
    fallbacks, unfit = 0, []
    for group, (prime, where) in enumerate(rows.items()):
        own = int(np.random.SeedSequence([params.seed, group]).generate_state(1)[0])
        try:
            texts, fell = sample_tunes(model, replace(params, prefix=prime, num=len(where),
                                                      seed=own))
        except AbcgenError as err:
            unfit += [str(err)] * len(where)
            continue
        out.update(zip(where, texts, strict=True))
        fallbacks += fell
    return [out[i] for i in sorted(out)], fallbacks, unfit


def evaluate(
    model_path: Path,
    splits: dict[str, list[str]],
    *,
    num: int = 100,
    temperatures: Sequence[float] = (1.0,),
    forms: Sequence[FormChoice] = (FormChoice(auto=True),),
    meter: str | None = None,
    primes: str | None = None,
    seed: int = 0,
    max_chars: int = DEFAULT_MAX_CHARS,
    abc2midi: bool = True,
    corpus_sample: int = 1000,
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]]]:
    """The JSON report, the histograms behind its distances and the form histograms
    (test split first, then each run), for the plots. `primes` 'test': tune i of each
    run starts from the M:/L:/K: header of a test tune (`primed_order`), not `meter`."""
    model = Model(model_path)
    recorded = model.info.corpus.get("sha256")
    report: dict[str, Any] = {
        "model": str(model_path),
        "model_metrics": model.info.metrics,
        "corpus_matches_model": recorded == splits_sha256(splits) if recorded else None,
        "test_tunes": len(splits["test"]),
        "test_bpc": bits_per_char(model, splits["test"]) if splits["test"] else None,
        "settings": {"num": num, "temperatures": list(temperatures), "seed": seed,
                     "forms": [f.key for f in forms], "prime": prime_text(meter), "primes": primes,
                     "max_chars": max_chars, "abc2midi": abc2midi},
        "runs": [],
    }
    train = splits["train"]
    copies = CopyIndex(train)
    rng = random.Random(seed)
    sample = rng.sample(train, min(corpus_sample, len(train)))
    hists = {"corpus": histograms(parse(t) for t in sample)}
    test_forms = [tune_form(t) for t in splits["test"]]
    report["test_forms"] = summarise_forms(test_forms)
    form_hists = {"test split": form_histograms(test_forms)}
    test_shapes = [tune_structure(t, abc2midi=abc2midi) for t in splits["test"]]
    limits = loop_limits(test_shapes)
    report["test_structure"] = summarise_structure(test_shapes, limits)
    humans = list(zip(splits["test"], test_shapes, strict=True))
    primed = primed_order(splits["test"], num, seed) if primes == "test" else None
    if primed is not None:
        report["primed_structure"] = summarise_structure(
            [test_shapes[i] for i in sorted(set(primed))], limits)
        humans = [humans[i] for i in primed]
    for temperature in temperatures:
        for form in [*forms, None]:
            params = GeneratorParams(meter=meter, num=num, temperature=temperature, seed=seed,
                                     max_chars=max_chars, form=form or FormChoice(),
                                     free=form is None)
            unfit: list[str] = []
            if primed is None:
                texts, fallbacks = sample_tunes(model, params)
            else:
                texts, fallbacks, unfit = sample_primed(
                    model, params, [header(splits["test"][i]) for i in primed])
            facts = [tune_facts(t, ended, copies, abc2midi) for t, ended in texts]
            found = [tune_form(f.tune) for f in facts]
            shapes = [tune_structure(f.text, f.tune, abc2midi=abc2midi) for f in facts]
            name = f"T{temperature:g} " + (f"form {form.key}" if form is not None else "no mask")
            hists[name] = histograms(f.tune for f in facts)
            form_hists[name] = form_histograms(found)
            run = {"name": name, "temperature": temperature, "constrained": form is not None,
                   "form": form.key if form is not None else None,
                   "fallbacks": fallbacks, **summarise(facts),
                   "forms": summarise_forms(found, form.spec if form is not None else None),
                   "structure": summarise_structure(shapes, limits),
                   "pictured": pictured([f.text for f in facts], shapes, humans),
                   "distance": {k: distance(v, hists["corpus"][k]) for k, v in hists[name].items()},
                   "examples": [f.text for f in facts[:3]]}
            if unfit:
                run["unfit_primes"] = {"tunes": len(unfit), "why": unfit[0]}
            report["runs"].append(run)
    return report, hists, form_hists
