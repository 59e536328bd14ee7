"""The metric of DESIGN.md: bits per character, each tune scored from a zero state
as BOS+text -> text+EOS, summed -log2 p over all predicted characters of all
tunes, divided by their count.

Tunes are batched by length and padded at the end; the LSTM is causal, so the
padding never reaches a scored position, and a mask drops the padded targets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from abcgen.trainer.model import CharLSTM


@torch.no_grad()
def score(
    model: CharLSTM,
    tunes: Sequence[np.ndarray],
    device: torch.device | str = "cpu",
    batch_chars: int = 16384,
) -> tuple[float, int]:
    """Summed bits and number of predicted characters over `tunes` (each BOS+text+EOS ids).

    Returns the two sums rather than their ratio so that processes scoring
    different shares of a split can add them up.
    """
    was_training = model.training
    model.eval()
    order = sorted(range(len(tunes)), key=lambda i: len(tunes[i]))
    total, count = 0.0, 0
    start = 0
    try:
        while start < len(order):
            # Longest tune last: grow the batch while its padded size fits the budget.
            end = start + 1
            while end < len(order) and (end + 1 - start) * len(tunes[order[end]]) <= batch_chars:
                end += 1
            batch = [tunes[i] for i in order[start:end]]
            width = max(len(t) for t in batch) - 1
            x = np.zeros((len(batch), width), dtype=np.int64)
            y = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=bool)
            for row, t in enumerate(batch):
                x[row, : len(t) - 1] = t[:-1]
                y[row, : len(t) - 1] = t[1:]
                mask[row, : len(t) - 1] = True
            logits, _, _ = model(torch.from_numpy(x).to(device))
            nll = F.cross_entropy(
                logits.float().transpose(1, 2), torch.from_numpy(y).to(device), reduction="none"
            )
            total += float(nll[torch.from_numpy(mask).to(device)].double().sum()) / math.log(2)
            count += int(mask.sum())
            start = end
    finally:
        model.train(was_training)
    return total, count


def bits_per_char(
    model: CharLSTM,
    tunes: Sequence[np.ndarray],
    device: torch.device | str = "cpu",
    batch_chars: int = 16384,
) -> float:
    total, count = score(model, tunes, device, batch_chars)
    return total / count if count else math.nan
