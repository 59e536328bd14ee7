"""Constrained decoding for the generator: the automaton (rules.py) applied to each tune.

`Constraint` follows one tune (its prime, then each draw) and gives the mask
before each step; `BatchConstraint` is the generator's `StepMask` for a batch.
The rules, and so their cache of masks, are shared by every tune of a process.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from abcgen.runtime.generate.rules import Rules
from abcgen.runtime.generate.state import State, canonical


@lru_cache(maxsize=4)
def rules_for(vocab: tuple[str, ...]) -> Rules:
    """One `Rules` (and so one warm mask cache) per vocabulary for the whole process."""
    return Rules(vocab)


class Constraint:
    """One tune: `feed` the prime, then `allowed()` before each step and `advance(id)` after."""

    def __init__(self, rules: Rules, *, steer_at: int | None = None) -> None:
        self.rules = rules
        self.steer_at = steer_at
        self.state = State()
        self.generated = 0
        self.fallbacks = 0

    @property
    def lost(self) -> bool:
        """A prime the rules could not follow turned the constraint off for this tune."""
        return self.state.mode == "x"

    @property
    def ended(self) -> bool:
        return self.state.mode == "e"

    def feed(self, text: str) -> None:
        """Follow a prime (BOS and canonical text) without judging it."""
        step = self.rules.step
        for ch in text:
            self.state = canonical(step(self.state, ch, feed=True) or self.state._replace(mode="x"))

    def allowed(self) -> np.ndarray:
        mask = self.rules.mask(self.state)
        if mask is self.rules.nothing:
            self.fallbacks += 1
            return self.rules.everything
        return mask

    def advance(self, token: int) -> None:
        state = self.rules.next(self.state, token)
        if state is None:  # drawn without the mask (fallback or free): stop following
            state = self.state._replace(mode="x")
        self.generated += 1
        if (self.steer_at is not None and self.generated >= self.steer_at and not state.steer
                and state.mode == "b" and not state.tok):
            state = state._replace(steer=True)
        self.state = canonical(state)


class BatchConstraint:
    """Constraints for a batch of tunes: the generator's `StepMask`."""

    def __init__(self, vocab: Sequence[str], batch: int, *, max_chars: int | None = None,
                 reserve: int = 200) -> None:
        self.rules = rules_for(tuple(vocab))
        steer_at = None if max_chars is None else max(0, max_chars - reserve)
        self.rows = [Constraint(self.rules, steer_at=steer_at) for _ in range(batch)]
        self._out = np.empty((batch, len(self.rules.vocab)), dtype=bool)

    def feed(self, texts: Sequence[str]) -> None:
        for row, text in zip(self.rows, texts, strict=True):
            row.feed(text)

    def allowed(self, which: Sequence[int] | None = None) -> np.ndarray:
        """bool [batch, vocab], or [len(which), vocab] for the tunes `which`; rows of
        ended tunes allow everything (they are ignored)."""
        rows = self.rows if which is None else [self.rows[i] for i in which]
        out = self._out[: len(rows)]
        for i, row in enumerate(rows):
            out[i] = self.rules.everything if row.ended else row.allowed()
        return out

    def accepts(self, tokens: Sequence[int]) -> np.ndarray:
        """bool [batch]: whether each tune may take its token next (`allowed()` there)."""
        return np.fromiter((row.ended or row.rules.accepts(row.state, int(token))
                            for row, token in zip(self.rows, tokens, strict=True)),
                           bool, len(self.rows))

    def advance(self, tokens: Sequence[int]) -> None:
        for row, token in zip(self.rows, tokens, strict=True):
            if not row.ended:
                row.advance(int(token))

    @property
    def fallbacks(self) -> int:
        return sum(row.fallbacks for row in self.rows)

    @property
    def lost(self) -> int:
        return sum(row.lost for row in self.rows)
