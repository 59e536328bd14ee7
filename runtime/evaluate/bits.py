"""Bits per character, DESIGN.md's metric: each tune from a zero state, BOS+text ->
text+EOS, summed -log2 p over every predicted character, divided by their count;
with a copy gate, p is the copy model's mix (copy_model.py) instead of the LSTM's."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.generate.copy_model import CopyGate, walk, weights
from abcgen.runtime.generate.onnx_model import Model


def log_probs(model: Model, texts: Sequence[str], batch: int = 32
              ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:  # fmt: skip
    """(index into texts, targets [len+1], LSTM log-probabilities [len+1, vocab]) of each
    tune, run in batches of similar lengths (little padding), in no fixed order."""
    info = model.info
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch):
        chunk = order[start:start + batch]
        ids = [model.encode(texts[i]) for i in chunk]
        width = max(map(len, ids)) + 1
        inputs = np.full((len(ids), width), info.eos, np.int64)
        for row, seq in enumerate(ids):
            inputs[row, 0], inputs[row, 1:len(seq) + 1] = info.bos, seq
        logits = model.run(inputs, *model.zero_state(len(ids)))[0].astype(np.float64)
        logits -= logits.max(axis=-1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        for row, (i, seq) in enumerate(zip(chunk, ids, strict=True)):
            yield i, np.append(seq, info.eos), logp[row, :len(seq) + 1]


def bits_per_char(model: Model, texts: Sequence[str], batch: int = 32,
                  gate: CopyGate | None = None) -> float:
    """The metric over `texts`, with the LSTM alone or, given `gate`, mixed with the copy model."""
    if not texts:
        raise AbcgenError("no tunes to score")
    index = {ch: i for i, ch in enumerate(model.info.vocab)}
    nats, count = 0.0, 0
    for i, targets, logp in log_probs(model, texts, batch):
        if gate is None:
            nats -= logp[np.arange(len(targets)), targets].sum()
        else:
            for (proposals, gap, place), target, row in zip(walk(texts[i], index), targets,
                                                            logp, strict=True):
                mass = weights(gate, proposals, row, 0.0, float(row.max()), gap, place)
                p = (math.exp(row[target]) + mass.get(int(target), 0.0)) / (1 + sum(mass.values()))
                nats -= math.log(p)
        count += len(targets)
    return nats / count / math.log(2)
