"""Choosing the next character for every tune of a batch at once.

Temperature, top-k and top-p act on the logits row by row but are computed for
the whole batch in a few numpy calls; the draws come from one seeded numpy
Generator, so a seed fixes the whole batch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from abcgen.runtime.errors import AbcgenError


def random_seed() -> int:
    """A fresh seed, printed with the tunes so that any of them can be made again.
    (From os.urandom: importing `secrets` costs 15 ms of every cold start.)"""
    return int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF


MIN_TEMPERATURE = 0.01


@dataclass(frozen=True)
class SamplingOptions:
    """temperature 0 means greedy; top_k 0 and top_p 1.0 mean no cut."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        """The one check of a temperature, for every command (the live controller's
        range, 0.1..2.0, lies inside it)."""
        t = self.temperature
        if not 0 <= t < math.inf:  # also refuses nan
            raise AbcgenError(f"temperature must be a finite number >= 0, got {t}")
        if 0 < t < MIN_TEMPERATURE:  # logits / t would overflow float32 and draw garbage
            raise AbcgenError(f"temperature must be 0 (the likeliest) or at least "
                              f"{MIN_TEMPERATURE}, got {t}")
        if self.top_k < 0:
            raise AbcgenError(f"top-k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise AbcgenError(f"top-p must be in (0, 1], got {self.top_p}")


def sample(
    logits: np.ndarray,
    rng: np.random.Generator,
    options: SamplingOptions,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """One token id per row of logits [batch, vocab]; `allowed` [batch, vocab] masks ids out.

    Cuts become -inf logits; the draw is Gumbel-max (argmax of logits plus
    Gumbel noise), which samples the softmax exactly without computing it.
    """
    x = logits / options.temperature if options.temperature not in (0, 1) else logits
    if allowed is not None:
        x = _masked(x, allowed)
    if options.temperature == 0:
        return x.argmax(axis=1)
    size = x.shape[1]
    if 0 < options.top_k < size:
        kth = np.partition(x, size - options.top_k, axis=1)[:, size - options.top_k, None]
        x = np.where(x < kth, -np.inf, x)
    if options.top_p < 1:  # keep the smallest set of best ids whose mass reaches top_p
        ranked = -np.sort(-x, axis=1)
        probs = np.exp(ranked - ranked[:, :1])
        probs /= probs.sum(axis=1, keepdims=True)
        kept = ((np.cumsum(probs, axis=1) - probs) < options.top_p).sum(axis=1)
        x = np.where(x < ranked[np.arange(len(x)), kept - 1, None], -np.inf, x)
    return (x + rng.gumbel(size=x.shape)).argmax(axis=1)


def sample_checked(
    logits: np.ndarray,
    rng: np.random.Generator,
    options: SamplingOptions,
    accepts: Callable[[np.ndarray], np.ndarray],
    allowed: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """The draw `sample(logits, rng, options, mask)` makes, for options without top-k
    or top-p, asking `accepts(ids) -> bool [batch]` about each row's pick first and
    `allowed(refused) -> bool [refused rows, vocab]` only for the rows it refused.

    Gumbel-max draws the best noisy score, and a mask only removes candidates: when
    a row's best is allowed it is the draw. Only refused rows need their whole
    mask, which a constraint builds with one transition per character of the
    alphabet for every state it has not seen before.
    """
    if options.top_k or options.top_p < 1:
        raise AbcgenError("sample_checked draws without top-k and top-p; use sample")
    x = logits / options.temperature if options.temperature not in (0, 1) else logits
    if options.temperature != 0:
        x = x + rng.gumbel(size=x.shape)
    best = x.argmax(axis=1)
    refused = ~accepts(best)
    if refused.any():
        best[refused] = _masked(x[refused], allowed(refused)).argmax(axis=1)
    return best


def _masked(x: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    if not allowed.any(axis=1).all():
        raise AbcgenError("the step mask allows no character at all")
    return np.where(allowed, x, -np.inf)
