"""Fit the copy model's gate (runtime/generate/copy_model.py) to an exported model.

The gate weighs each proposal against the LSTM. Its weights are fitted on the
valid split only, by maximum likelihood of the mix
p(x) = (p_lstm(x) + sum of w_c over proposals c of x) / (1 + sum of w_c),
with the LSTM's probabilities taken from the .onnx file itself (so an int8 file
gets the gate that suits its own probabilities): L-BFGS over about 50 weights.
Then its `boost` for generation: tunes are generated from the valid split's
headers (the same seeds each time) with boosts found by a short coordinate
search, until they restate (repeated bars, restated figures, echoes, a second
half reusing the first) nearest the valid split's own tunes, measure by
measure. The test split is never seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import onnx
import torch

from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.evaluate.bits import log_probs
from abcgen.runtime.evaluate.report import header, primed_order, sample_primed
from abcgen.runtime.evaluate.structure import summarise_structure, tune_structure
from abcgen.runtime.generate.copy_model import (
    KINDS,
    MATCHED,
    METADATA_KEY,
    PHRASE,
    CopyGate,
    matched_bucket,
    walk,
)
from abcgen.runtime.generate.onnx_model import Model
from abcgen.runtime.generate.params import GeneratorParams

# The boost's coordinates, searched in this order, each a factor on the kinds it names
# tried at these values: the whole copy model, then the phrase that returns four bars
# on (against the rest), then a bar repeated at once.
BOOST_GROUPS = ((KINDS, (1.0, 1.5, 2.0)), (("bar4",), (1.0, 1.5, 2.0, 3.0)),
                (("bar1",), (0.25, 0.5, 1.0)))
RESTATEMENT = ("repeated_bars", "restated_notes", "echo", "second_half")
CALIBRATION_TUNES = 200
PLACE_L2 = 1e-5  # bits/char per squared weight of a place


@dataclass
class Proposals:
    """Every proposal made while reading the tunes, one row each, and the LSTM's
    log-probability of the right character at every position."""

    position: np.ndarray  # which position (index into `right`) a proposal is made at
    kind: np.ndarray
    bucket: np.ndarray
    gap: np.ndarray
    place: np.ndarray
    logp: np.ndarray  # the LSTM's log-probability of the proposed character
    confident: np.ndarray  # the LSTM's largest log-probability there
    correct: np.ndarray
    right: np.ndarray  # [positions]: the LSTM's log-probability of the right character


def collect(model: Model, tunes: Sequence[str]) -> Proposals:
    index = {ch: i for i, ch in enumerate(model.info.vocab)}
    rows: list[tuple] = []
    right: list[float] = []
    for i, targets, logp in log_probs(model, tunes):
        for (proposals, gap, place), target, row in zip(walk(tunes[i], index), targets, logp,
                                                        strict=True):
            top = float(row.max())
            rows += [(len(right), kind, matched_bucket(matched), gap, place, row[token], top,
                      token == target) for kind, token, matched in proposals]
            right.append(float(row[target]))
    columns = np.array(rows, dtype=np.float64).reshape(-1, 8).T
    whole = [c.astype(np.int64) for c in columns[[0, 1, 2, 3, 4]]]
    return Proposals(*whole, columns[5], columns[6], columns[7], np.array(right))


class _Gate(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        kinds = len(KINDS)
        self.table = torch.nn.Parameter(torch.full((kinds, MATCHED), -3.0, dtype=torch.float64))
        self.lstm = torch.nn.Parameter(torch.zeros(kinds, dtype=torch.float64))
        self.gap = torch.nn.Parameter(torch.zeros(kinds, dtype=torch.float64))
        self.confidence = torch.nn.Parameter(torch.zeros(kinds, dtype=torch.float64))
        self.place = torch.nn.Parameter(torch.zeros(kinds, 2, PHRASE, dtype=torch.float64))

    def bits(self, p: dict[str, torch.Tensor]) -> torch.Tensor:
        """Bits per character of the mix."""
        kind, gap = p["kind"], p["gap"]
        score = (self.table[kind, p["bucket"]] + self.lstm[kind] * p["logp"]
                 + self.gap[kind] * gap + self.confidence[kind] * p["confident"]
                 + self.place[kind, gap, p["place"]])
        weight = torch.exp(score.clamp(max=30))
        right = p["right"]
        numerator = torch.exp(right).scatter_add(0, p["position"], weight * p["correct"])
        denominator = torch.ones_like(right).scatter_add(0, p["position"], weight)
        return -(torch.log(numerator) - torch.log(denominator)).mean() / math.log(2)

    def penalty(self) -> torch.Tensor:
        """A little L2 on the places: a place a few tunes reach keeps a modest weight."""
        return PLACE_L2 * (self.place ** 2).sum()

    def frozen(self) -> CopyGate:
        rows = [self.table.detach().tolist()]
        rows += [getattr(self, name).detach().tolist() for name in ("lstm", "gap", "confidence")]
        place = tuple(tuple(tuple(r) for r in g) for g in self.place.detach().tolist())
        return CopyGate(tuple(map(tuple, rows[0])), *map(tuple, rows[1:]), place)


def fit_gate(model: Model, tunes: Sequence[str]) -> tuple[CopyGate, float, float]:
    """(the gate, bits/char of the tunes with the LSTM alone, and with the copy model)."""
    found = collect(model, tunes)
    tensors = {name: torch.as_tensor(getattr(found, name)) for name in Proposals.__annotations__}
    gate = _Gate()
    optimiser = torch.optim.LBFGS(gate.parameters(), lr=1, max_iter=200,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = gate.bits(tensors) + gate.penalty()
        loss.backward()
        return loss

    for _ in range(3):
        optimiser.step(closure)
    with torch.no_grad():
        mixed = float(gate.bits(tensors))
    alone = float(-found.right.mean() / math.log(2))
    return gate.frozen(), alone, mixed


def calibrate_boost(model_bytes: bytes, gate: CopyGate, tunes: Sequence[str],
                    count: int = CALIBRATION_TUNES, say: Callable[[str], None] = lambda _: None
                    ) -> tuple[tuple[float, ...], dict[str, float]]:  # fmt: skip
    """(the boost of each kind, and the distance of each set tried: the largest
    difference of a RESTATEMENT share from the tunes' own, so that every measure lies
    near its own, none traded for another). A coordinate search: each factor of
    BOOST_GROUPS tried at its values in turn, the others held where they are best."""
    primes = [header(tunes[i]) for i in primed_order(tunes, min(count, len(tunes)), seed=0)]
    wanted = _restatement([tune_structure(t) for t in tunes])
    tried: dict[tuple[float, ...], float] = {}

    def distance(factors: tuple[float, ...]) -> float:
        if factors not in tried:
            say(f"copy model: generating {len(primes)} tunes with boosts "
                + ",".join(f"{f:g}" for f in factors) + f" (set {len(tried) + 1})")
            model = Model(_with_metadata(model_bytes, replace(gate, boost=_boost(factors))
                                         .to_json()))
            texts, _, _ = sample_primed(model, GeneratorParams(seed=0), primes)
            found = _restatement([tune_structure(text) for text, _ in texts])
            tried[factors] = max(abs(found[k] - wanted[k]) for k in RESTATEMENT)
        return tried[factors]

    best = tuple(1.0 for _ in BOOST_GROUPS)
    for group, (_, values) in enumerate(BOOST_GROUPS):
        best = min(((*best[:group], value, *best[group + 1:]) for value in values),
                   key=distance)
    return _boost(best), {",".join(f"{f:g}" for f in k): round(v, 4) for k, v in tried.items()}


def _boost(factors: tuple[float, ...]) -> tuple[float, ...]:
    """Each kind's boost: the product of the factors of BOOST_GROUPS that name it."""
    return tuple(math.prod(f for (kinds, _), f in zip(BOOST_GROUPS, factors, strict=True)
                           if kind in kinds) for kind in KINDS)


def _restatement(facts: list) -> dict[str, float]:
    summary = summarise_structure(facts, limits=[1, 1, 1])
    return {k: summary[k]["share"] or 0.0 for k in RESTATEMENT}


@dataclass
class Fitted:
    data: bytes  # the .onnx file with the gate in its metadata
    tunes: int
    lstm_bpc: float  # on the tunes it was fitted on (the valid split)
    copy_bpc: float
    boost: tuple[float, ...]  # per kind
    distances: dict[str, float]  # each set of factors tried: its distance to the tunes'


def with_gate(model_bytes: bytes, tunes: Sequence[str],
              say: Callable[[str], None] = lambda _: None) -> Fitted:
    """The .onnx file `model_bytes` with a copy gate fitted to `tunes` (the valid split;
    those the vocabulary cannot write are left out), replacing any it had; `say` hears
    what it is doing (a few minutes in all)."""
    model = Model(model_bytes)
    known = set(model.info.vocab)
    usable = [t for t in tunes if known.issuperset(t)]
    if not usable:
        raise AbcgenError("no validation tune fits the model's vocabulary: cannot fit the "
                          "copy model (give tunes of its own corpus with --valid)")
    say(f"copy model: fitting its gate on {len(usable)} valid tunes")
    gate, alone, mixed = fit_gate(model, usable)
    boost, distances = calibrate_boost(model_bytes, gate, usable, say=say)
    value = replace(gate, boost=boost).to_json(
        fitted_on="valid", tunes=len(usable), lstm_bpc=round(alone, 4), copy_bpc=round(mixed, 4),
        boost_distances=distances)
    return Fitted(_with_metadata(model_bytes, value), len(usable), alone, mixed, boost, distances)


def _with_metadata(model_bytes: bytes, value: str) -> bytes:
    """`model_bytes` with METADATA_KEY set to `value` (any earlier one replaced)."""
    proto = onnx.load_from_string(model_bytes)
    props = [p for p in proto.metadata_props if p.key != METADATA_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(props)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, value
    return proto.SerializeToString()
