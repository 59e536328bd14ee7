"""The generation loop, shaped like onnxruntime-genai's: the caller owns the loop.

    gen = Generator(model, GeneratorParams(meter="6/8", key="D", num=4, seed=7))
    gen.append(gen.params.prime)    # the prime, fed in one call
    while not gen.is_done():
        gen.generate_next()         # one character for every unfinished tune
        print(gen.new_chars()[0], end="")

`generate(model, params)` runs that loop to the end. The params (params.py) say
everything; the generator builds from them the constraint mask (the form, and
`auto`'s draws, included) and the sampling, so every caller gets the same tunes
for the same request.

Every tune starts from BOS, as in training; the generator feeds it itself and
never draws it again.
A tune ends when EOS is drawn (EOS is not part of its text) or when it reaches
`max_chars` generated characters. The batch shares one seeded numpy Generator:
the same model, params and batch size give the same tunes (on the same
onnxruntime build and CPU family, whose float rounding the draws see).
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

from abcgen.runtime.generate.onnx_model import Model, Stepper
from abcgen.runtime.generate.params import GeneratorParams
from abcgen.runtime.generate.prime import check_prefix
from abcgen.runtime.generate.sampling import sample, sample_checked

COMPACT_AT = 8  # smallest batch worth shrinking
_FROM_PARAMS = object()  # Generator's default mask: the one the params ask for


class StepMask(Protocol):
    """Which characters may come next, for every tune of the batch (in tune order).

    `constraints.BatchConstraint` is the one the params build; tests and tools may
    bring any object with these three methods.
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


def generate(model: Model, params: GeneratorParams,
             *, mask: StepMask | object | None = _FROM_PARAMS) -> list[Generated]:
    """`params.num` tunes from `params.prime`, generated together as one batch."""
    gen = Generator(model, params, mask=mask)
    gen.append(params.prime)
    while not gen.is_done():
        gen.generate_next()
    return gen.results()


class Generator:
    """Stateful generation of `params.num` tunes; `mask` replaces the params' own
    constraint mask (a test's, or None for none)."""

    def __init__(self, model: Model, params: GeneratorParams,
                 *, mask: StepMask | object | None = _FROM_PARAMS) -> None:
        if params.prefix:
            check_prefix(params.prefix, model.info.vocab)
        if mask is _FROM_PARAMS:
            mask = None
            if not params.free:
                from abcgen.runtime.constrain.mask import BatchConstraint

                mask = BatchConstraint(model.info.vocab, params.num, max_chars=params.max_chars,
                                       reserve=params.steer_reserve, form=params.shape,
                                       seed=params.seed)
        self.model, self.params, self.mask = model, params, mask
        self.batch, self.max_chars = params.num, params.max_chars
        self.sampling = params.sampling  # live playing may change it between steps
        self.rng = np.random.default_rng(params.seed)
        batch = self.batch
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

    def results(self) -> list[Generated]:
        """Each tune as text (the params' prime and what it generated) and whether it ended."""
        return [Generated(self.params.prime + text, bool(ended))
                for text, ended in zip(self.texts(), self.ended, strict=True)]

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
