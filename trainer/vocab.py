"""The character vocabulary: a list of strings whose index is the token id.

Ids 0 and 1 are BOS and EOS; the remaining entries are the characters of the
corpus in code-point order. The character *set* is taken from all three splits
(only which characters occur, never how often), so that every character of the
valid and test tunes has an id and the metric can score it; a character seen
only outside the train split simply keeps an untrained embedding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from abcgen.runtime.abc.normalise import BOS, EOS
from abcgen.runtime.errors import AbcgenError


class Vocab:
    """Maps characters to ids and back; the list form is what checkpoints and ONNX store."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if list(tokens[:2]) != [BOS, EOS] or len(set(tokens)) != len(tokens):
            raise AbcgenError("a vocabulary must start with BOS, EOS and hold no duplicates")
        self.tokens = list(tokens)
        self.ids = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocab:
        chars: set[str] = set()
        for text in texts:
            chars.update(text)
        return cls([BOS, EOS, *sorted(chars - {BOS, EOS})])

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def bos(self) -> int:
        return 0

    @property
    def eos(self) -> int:
        return 1

    def encode(self, text: str) -> np.ndarray:
        """Token ids of `text` as int64; an unknown character is an error, never skipped."""
        try:
            return np.fromiter((self.ids[ch] for ch in text), dtype=np.int64, count=len(text))
        except KeyError as err:
            raise AbcgenError(f"character {err.args[0]!r} is not in the vocabulary") from None

    def encode_tune(self, text: str) -> np.ndarray:
        """BOS + text + EOS: how a tune appears in the token stream."""
        return self.encode(BOS + text + EOS)

    def decode(self, ids: Iterable[int]) -> str:
        out = []
        for i in ids:
            if not 0 <= int(i) < len(self.tokens):
                raise AbcgenError(f"token id {int(i)} is outside 0..{len(self) - 1}")
            out.append(self.tokens[int(i)])
        return "".join(out)
