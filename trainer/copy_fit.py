"""Fit the copy model's gate (runtime/generate/copy_model.py) to an exported model.

The gate weighs each proposal against the LSTM. Its weights are fitted on the
valid split only, by maximum likelihood of the mix
p(x) = (p_lstm(x) + sum of w_c over proposals c of x) / (1 + sum of w_c),
with the LSTM's probabilities taken from the .onnx file itself (so an int8 file
gets the gate that suits its own probabilities): L-BFGS over about 50 weights.
Then its `boost` for generation: tunes are generated from the valid split's
headers with each boost of BOOSTS, and the one whose tunes restate (repeated
bars, restated figures, echoes, a second half reusing the first) nearest the
valid split's own tunes is kept. The test split is never seen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    CopyGate,
    matched_bucket,
    walk,
)
from abcgen.runtime.generate.model import Model
from abcgen.runtime.generate.params import GeneratorParams

BOOSTS = (1.0, 1.5, 2.0, 2.5, 3.0)
RESTATEMENT = ("repeated_bars", "restated_notes", "echo", "second_half")
CALIBRATION_TUNES = 100


@dataclass
class Proposals:
    """Every proposal made while reading the tunes, one row each, and the LSTM's
    log-probability of the right character at every position."""

    position: np.ndarray  # which position (index into `right`) a proposal is made at
    kind: np.ndarray
    bucket: np.ndarray
    gap: np.ndarray
    logp: np.ndarray  # the LSTM's log-probability of the proposed character
    confident: np.ndarray  # the LSTM's largest log-probability there
    correct: np.ndarray
    right: np.ndarray  # [positions]: the LSTM's log-probability of the right character


def collect(model: Model, tunes: Sequence[str]) -> Proposals:
    index = {ch: i for i, ch in enumerate(model.info.vocab)}
    rows: list[tuple] = []
    right: list[float] = []
    for i, targets, logp in log_probs(model, tunes):
        for (proposals, gap), target, row in zip(walk(tunes[i], index), targets, logp,
                                                 strict=True):
            top = float(row.max())
            rows += [(len(right), kind, matched_bucket(matched), gap, row[token], top,
                      token == target) for kind, token, matched in proposals]
            right.append(float(row[target]))
    columns = np.array(rows, dtype=np.float64).reshape(-1, 7).T
    return Proposals(columns[0].astype(np.int64), columns[1].astype(np.int64),
                     columns[2].astype(np.int64), columns[3], columns[4], columns[5],
                     columns[6], np.array(right))


class _Gate(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        kinds = len(KINDS)
        self.table = torch.nn.Parameter(torch.full((kinds, MATCHED), -3.0, dtype=torch.float64))
        self.lstm = torch.nn.Parameter(torch.zeros(kinds, dtype=torch.float64))
        self.gap = torch.nn.Parameter(torch.zeros(kinds, dtype=torch.float64))
        self.confidence = torch.nn.Parameter(torch.zeros(kinds, dtype=torch.float64))

    def bits(self, p: dict[str, torch.Tensor]) -> torch.Tensor:
        """Bits per character of the mix."""
        kind = p["kind"]
        score = (self.table[kind, p["bucket"]] + self.lstm[kind] * p["logp"]
                 + self.gap[kind] * p["gap"] + self.confidence[kind] * p["confident"])
        weight = torch.exp(score.clamp(max=30))
        right = p["right"]
        numerator = torch.exp(right).scatter_add(0, p["position"], weight * p["correct"])
        denominator = torch.ones_like(right).scatter_add(0, p["position"], weight)
        return -(torch.log(numerator) - torch.log(denominator)).mean() / math.log(2)

    def frozen(self) -> CopyGate:
        rows = [self.table.detach().tolist()]
        rows += [getattr(self, name).detach().tolist() for name in ("lstm", "gap", "confidence")]
        return CopyGate(tuple(map(tuple, rows[0])), *map(tuple, rows[1:]))


def fit_gate(model: Model, tunes: Sequence[str]) -> tuple[CopyGate, float, float]:
    """(the gate, bits/char of the tunes with the LSTM alone, and with the copy model)."""
    found = collect(model, tunes)
    tensors = {name: torch.as_tensor(getattr(found, name)) for name in Proposals.__annotations__}
    gate = _Gate()
    optimiser = torch.optim.LBFGS(gate.parameters(), lr=1, max_iter=200,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = gate.bits(tensors)
        loss.backward()
        return loss

    for _ in range(3):
        optimiser.step(closure)
    with torch.no_grad():
        mixed = float(gate.bits(tensors))
    alone = float(-found.right.mean() / math.log(2))
    return gate.frozen(), alone, mixed


def calibrate_boost(model_bytes: bytes, gate: CopyGate, tunes: Sequence[str],
                    count: int = CALIBRATION_TUNES) -> tuple[float, dict[float, float]]:
    """(the boost of BOOSTS whose tunes restate nearest `tunes`, and each boost's
    distance: the root mean square of the differences of the RESTATEMENT shares)."""
    primes = [header(tunes[i]) for i in primed_order(tunes, count, seed=0)]
    wanted = _restatement([tune_structure(t) for t in tunes])
    distances = {}
    for boost in BOOSTS:
        model = Model(_with_metadata(model_bytes, replace(gate, boost=boost).to_json()))
        texts, _, _ = sample_primed(model, GeneratorParams(seed=0), primes)
        found = _restatement([tune_structure(text) for text, _ in texts])
        distances[boost] = math.sqrt(sum((found[k] - wanted[k]) ** 2 for k in RESTATEMENT)
                                     / len(RESTATEMENT))
    return min(distances, key=distances.get), distances


def _restatement(facts: list) -> dict[str, float]:
    summary = summarise_structure(facts, limits=[1, 1, 1])
    return {k: summary[k]["share"] or 0.0 for k in RESTATEMENT}


@dataclass
class Fitted:
    data: bytes  # the .onnx file with the gate in its metadata
    tunes: int
    lstm_bpc: float  # on the tunes it was fitted on (the valid split)
    copy_bpc: float
    boost: float
    distances: dict[float, float]  # each boost tried: its restatement's distance to the tunes'


def with_gate(model_bytes: bytes, tunes: Sequence[str]) -> Fitted:
    """The .onnx file `model_bytes` with a copy gate fitted to `tunes` (the valid split;
    those the vocabulary cannot write are left out), replacing any it had."""
    model = Model(model_bytes)
    known = set(model.info.vocab)
    usable = [t for t in tunes if known.issuperset(t)]
    if not usable:
        raise AbcgenError("no validation tune fits the model's vocabulary: cannot fit the "
                          "copy model (give tunes of its own corpus with --valid)")
    gate, alone, mixed = fit_gate(model, usable)
    boost, distances = calibrate_boost(model_bytes, gate, usable)
    value = replace(gate, boost=boost).to_json(
        fitted_on="valid", tunes=len(usable), lstm_bpc=round(alone, 4), copy_bpc=round(mixed, 4),
        boost_distances={str(b): round(d, 4) for b, d in distances.items()})
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
