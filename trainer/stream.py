"""The training data of each epoch: the train tunes shuffled, each moved by a random
number of semitones (--transpose), joined into one token stream
BOS+text+EOS BOS+text+EOS ... and cut into parallel streams.

The order and the shifts depend on the seed and the epoch number alone, so a
resumed run rebuilds the very same epoch and no data RNG needs saving. Every tune
is transposed to every shift once, when the run starts: transposing in Python at
the start of each epoch took 3.4 s an epoch on the default corpus with
--transpose 1, picking the ready arrays takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from abcgen.trainer.transpose import transpose_tune
from abcgen.trainer.vocab import Vocab


class TrainStream:
    """The train split as token ids, at every shift -transpose..transpose."""

    def __init__(self, texts: Sequence[str], vocab: Vocab, transpose: int, seed: int) -> None:
        self.seed, self.transpose = seed, transpose
        plain = [vocab.encode_tune(text) for text in texts]
        self.chars = sum(len(ids) for ids in plain)
        self.shifted = {
            shift: plain if shift == 0 else
            [_moved(text, ids, shift, vocab) for text, ids in zip(texts, plain, strict=True)]
            for shift in range(-transpose, transpose + 1)
        }

    def epoch(self, epoch: int, streams: int, width: int) -> torch.Tensor:
        """[streams, width] ids: epoch `epoch`'s tunes in its order and keys, end to end
        (repeated from the start if a little short)."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        count = len(self.shifted[0])
        order = torch.randperm(count, generator=g).tolist()
        if self.transpose:
            shifts = torch.randint(-self.transpose, self.transpose + 1, (count,),
                                   generator=g).tolist()
            parts = [self.shifted[shifts[i]][i] for i in order]
        else:
            parts = [self.shifted[0][i] for i in order]
        stream = np.resize(np.concatenate(parts), streams * width)
        return torch.from_numpy(stream.reshape(streams, width))


def _moved(text: str, ids: np.ndarray, shift: int, vocab: Vocab) -> np.ndarray:
    """The tune `shift` semitones away; itself where transposition can't move it or
    would need a character the vocabulary lacks."""
    moved = transpose_tune(text, shift)
    if moved is None or not set(moved) <= vocab.ids.keys():
        return ids
    return vocab.encode_tune(moved)
