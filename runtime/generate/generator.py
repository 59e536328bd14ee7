"""The generation loop, shaped like onnxruntime-genai's: the caller owns the loop.

    gen = Generator(model, batch=4, seed=7)
    gen.append(header)              # the prime, fed in one call
    while not gen.is_done():
        gen.generate_next()         # one character for every unfinished tune
        print(gen.new_chars()[0], end="")

Every tune starts from BOS, as in training; the generator feeds it itself and
never draws it again.
A tune ends when EOS is drawn (EOS is not part of its text) or when it reaches
`max_chars` generated characters. The batch shares one seeded numpy Generator:
the same model, prime, options, seed and batch size give the same tunes (on the
same onnxruntime build and CPU family, whose float rounding the draws see).
Rows that finish are dropped from the batch once half of it has finished, so a
long straggler does not keep paying for the short tunes.

Constrained decoding plugs in through `StepMask`: the generator shows it the
prime (`feed`), asks `allowed` before each draw and reports the draws
(`advance`). A mask that also has `accepts(ids) -> bool [batch]` is asked about
each tune's pick first, and `allowed(tunes)` only for the tunes whose pick it
refused (plain sampling only: top-k and top-p cut the masked distribution);
the tunes are the same either way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.generate.onnx_model import Model, Stepper
from abcgen.runtime.generate.sampling import SamplingOptions, sample, sample_checked

DEFAULT_MAX_CHARS = 2000
COMPACT_AT = 8  # smallest batch worth shrinking


class StepMask(Protocol):
    """Which characters may come next, for every tune of the batch (in tune order).

    `runtime.constraints.BatchConstraint` is one; any object with these three
    methods plugs in.
    """

    def feed(self, texts: Sequence[str]) -> None:
        """The text each tune was primed with (BOS included on the first call)."""

    def allowed(self) -> np.ndarray:
        """Bool [batch, vocab]: the ids allowed next. Rows of finished tunes are ignored."""

    def advance(self, tokens: Sequence[int]) -> None:
        """The id drawn for each tune (EOS, again, for tunes already finished)."""


@dataclass
class Generated:
    text: str  # prime + generated characters: one canonical tune text
    ended: bool  # the model ended it (EOS); False when cut at max_chars


def generate(
    model: Model,
    prime: str = "",
    *,
    num: int = 1,
    sampling: SamplingOptions | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    seed: int | None = None,
    mask: StepMask | None = None,
) -> list[Generated]:
    """`num` tunes from one prime, generated together as one batch."""
    gen = Generator(model, batch=num, sampling=sampling, max_chars=max_chars, seed=seed,
                    mask=mask)
    gen.append(prime)
    while not gen.is_done():
        gen.generate_next()
    return [Generated(prime + text, bool(ended))
            for text, ended in zip(gen.texts(), gen.ended, strict=True)]


class Generator:
    """Stateful generation of `batch` tunes from one prime."""

    def __init__(
        self,
        model: Model,
        *,
        batch: int = 1,
        sampling: SamplingOptions | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        seed: int | None = None,
        mask: StepMask | None = None,
    ) -> None:
        if batch < 1:
            raise AbcgenError(f"batch must be >= 1, got {batch}")
        if max_chars < 1:
            raise AbcgenError(f"max chars must be >= 1, got {max_chars}")
        self.model, self.batch, self.max_chars, self.mask = model, batch, max_chars, mask
        self.sampling = sampling or SamplingOptions()
        self.rng = np.random.default_rng(seed)
        self._vocab, self._eos = model.info.vocab, model.info.eos
        # Bookkeeping is per tune ([batch]); the stepper may hold fewer rows (_rows).
        self.ended = np.zeros(batch, bool)  # drew EOS (else cut at max_chars)
        self._live = np.ones(batch, bool)
        self._done = False
        self._count = np.zeros(batch, np.int64)
        self._last = np.full(batch, -1)  # id drawn in the last step, -1 for none
        self._history: list[np.ndarray] = []
        self._rows = np.arange(batch)
        self._stepper: Stepper | None = None  # created by the first feed
        self._logits: np.ndarray | None = None  # for the next draw, stepper rows

    # -- verbs -------------------------------------------------------------

    def append(self, text: str) -> None:
        """Feed `text` to every unfinished tune in one model call."""
        ids = self.model.encode(text)
        if self._stepper is None:
            ids = np.concatenate([[self.model.info.bos], ids])
            text = self._vocab[self.model.info.bos] + text
        if len(ids):
            self._feed_sequence(ids)
        if self.mask is not None:
            self.mask.feed([text] * self.batch)

    def generate_next(self) -> None:
        """Draw one character for every unfinished tune and feed it back."""
        if self.is_done():
            return
        if self._logits is None:
            self.append("")
        self._logits[:, self.model.info.bos] = -np.inf  # a tune never restarts
        drawn = self._draw()
        full = self._in_tune_order(drawn)
        live = self._live
        grow = live & (full != self._eos)
        self.ended |= live ^ grow  # live rows that drew EOS
        self._count += grow
        self._live = grow & (self._count < self.max_chars)
        self._done = not self._live.any()
        self._last = np.where(grow, full, -1)
        self._history.append(self._last)
        if self.mask is not None:
            self.mask.advance(np.where(live, full, self._eos))
        if not self._done:
            self._feed_step(drawn)

    def is_done(self) -> bool:
        return self._done

    def stream(self) -> Iterator[list[str]]:
        """Generate to the end, yielding each step's `new_chars()` as it comes."""
        while not self._done:
            self.generate_next()
            yield self.new_chars()

    def new_chars(self) -> list[str]:
        """The character each tune got in the last step ('' for finished tunes)."""
        return [self._vocab[i] if i >= 0 else "" for i in self._last]

    def texts(self) -> list[str]:
        """What each tune has generated so far (the prime not included)."""
        if not self._history:
            return [""] * self.batch
        steps = np.stack(self._history, axis=1)
        return ["".join(self._vocab[i] for i in row if i >= 0) for row in steps]

    def _draw(self) -> np.ndarray:
        mask, options = self.mask, self.sampling
        if mask is None:
            return sample(self._logits, self.rng, options)
        if hasattr(mask, "accepts") and not options.top_k and options.top_p == 1:
            return sample_checked(self._logits, self.rng, options,
                                  lambda ids: mask.accepts(self._in_tune_order(ids))[self._rows],
                                  lambda refused: mask.allowed(self._rows[refused]))
        return sample(self._logits, self.rng, options, mask.allowed()[self._rows])

    def _in_tune_order(self, drawn: np.ndarray) -> np.ndarray:
        """Stepper rows to [batch] (EOS for tunes the batch has dropped)."""
        if len(self._rows) == self.batch:
            return drawn
        full = np.full(self.batch, self._eos)
        full[self._rows] = drawn
        return full

    # -- model calls -------------------------------------------------------

    def _feed_sequence(self, ids: np.ndarray) -> None:
        if self._stepper is None:  # all rows share the zero state: run once, then copy
            h, c = self.model.zero_state(1)
            logits, h, c = self.model.run(ids[None], h, c)
            self._stepper = self.model.stepper(self.batch)
            self._stepper.set_state(h, c)  # broadcasts over the batch
            self._logits = np.repeat(logits[:, -1], self.batch, axis=0)
        else:
            tokens = np.repeat(ids[None], len(self._rows), axis=0)
            logits, h, c = self.model.run(tokens, *self._stepper.state)
            self._stepper.set_state(h, c)
            self._logits = logits[:, -1]

    def _feed_step(self, drawn: np.ndarray) -> None:
        if len(self._rows) >= COMPACT_AT:
            keep = self._live[self._rows]
            if keep.sum() <= len(self._rows) // 2:
                h, c = self._stepper.state
                self._stepper = self.model.stepper(int(keep.sum()))
                self._stepper.set_state(h[:, keep], c[:, keep])
                self._rows, drawn = self._rows[keep], drawn[keep]
        self._stepper.tokens[:, 0] = drawn
        self._logits = self._stepper.step()
