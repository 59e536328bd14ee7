"""Constrained decoding for the generator: the automaton (rules.py) applied to each tune.

`Constraint` follows one tune (its prime, then each draw) and gives the mask
before each step; `BatchConstraint` is the generator's `StepMask` for a batch.
The rules, and so their cache of masks, are shared by every tune of a process.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from abcgen.runtime.abc.form import FormSpec, spec_of
from abcgen.runtime.abc.normalise import BOS
from abcgen.runtime.constrain import forms
from abcgen.runtime.constrain.forms import PENDING, FormChoice, auto_form, auto_forms
from abcgen.runtime.constrain.note_rules import commit_note
from abcgen.runtime.constrain.rules import Rules, step
from abcgen.runtime.constrain.state import LENGTHS, State, canonical, closing_room
from abcgen.runtime.errors import AbcgenError


@lru_cache(maxsize=4)
def rules_for(vocab: tuple[str, ...]) -> Rules:
    """One `Rules` (and so one warm mask cache) per vocabulary for the whole process."""
    return Rules(vocab)


class Constraint:
    """One tune: `feed` the prime, then `allowed()` before each step and `advance(id)` after.

    `form` is a `FormSpec.key` to generate in, PENDING for `--form auto` (decided by
    `draw` once the meter is known), or '' (free: the bar rules only).
    """

    def __init__(self, rules: Rules, *, steer_at: int | None = None, form: str = "",
                 draw: float = 0.0) -> None:
        self.rules = rules
        self.steer_at = steer_at
        self.draw = draw
        self.state = State(form=form)
        self.generated = 0
        self.fallbacks = 0
        self.refused: tuple[State, str, int] | None = None  # where a prime was lost

    @property
    def lost(self) -> bool:
        """A prime the rules could not follow turned the constraint off for this tune."""
        return self.state.mode == "x"

    @property
    def ended(self) -> bool:
        return self.state.mode == "e"

    def feed(self, text: str) -> None:
        """Follow a prime (BOS and canonical text) without judging it; `lost` when it
        cannot be followed (`refused` says where). With `auto`, the form drawn is
        tried first, then the meter's others, then free."""
        self.state, self.refused = self._follow(self.state, text, 0)

    def _follow(self, state: State, text: str, start: int):
        for i in range(start, len(text)):
            nxt = step(state, text[i], feed=True)
            if nxt is None:
                return state._replace(mode="x"), (state, text[i], i)
            if nxt.mode == "x":
                return nxt, (state, text[i], i)
            if nxt.form == PENDING and nxt.mode == "b":
                tried = None
                for key in auto_forms(nxt.meter, self.draw):
                    chosen = nxt._replace(form=key, tonic=nxt.tonic if key else "")
                    found = self._follow(canonical(chosen), text, i + 1)
                    if found[1] is None:
                        return found
                    tried = tried or found
                return tried
            state = canonical(nxt)
        return state, None

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
        if state.form == PENDING and state.mode == "b":  # auto: the meter is known now
            key = auto_form(state.meter, self.draw)
            state = state._replace(form=key, tonic=state.tonic if key else "")
        if (self.steer_at is not None and self.generated >= self.steer_at and not state.steer
                and state.mode == "b" and not state.tok):
            state = state._replace(steer=True)
        self.state = canonical(state)


class BatchConstraint:
    """Constraints for a batch of tunes: the generator's `StepMask`."""

    def __init__(self, vocab: Sequence[str], batch: int, *, max_chars: int | None = None,
                 reserve: int = 200, form: FormChoice | None = None, seed: int | None = None
                 ) -> None:  # fmt: skip
        """`form`: None or free for the bar rules only; `seed` makes `auto`'s draws."""
        self.rules = rules_for(tuple(vocab))
        self.form = form or FormChoice()
        steer_at = None if max_chars is None else max(0, max_chars - reserve)
        key = self.form.spec.key if self.form.spec else PENDING if self.form.auto else ""
        draws = np.random.default_rng(seed).random(batch)  # apart from the sampling's draws
        self.rows = [Constraint(self.rules, steer_at=steer_at, form=key, draw=float(d))
                     for d in draws]
        self._out = np.empty((batch, len(self.rules.vocab)), dtype=bool)

    def feed(self, texts: Sequence[str]) -> None:
        """Follow each tune's prime; AbcgenError when it cannot take the form asked for,
        or the bar rules (its tunes would hold what `abcgen check` refuses)."""
        for row, text in zip(self.rows, texts, strict=True):
            row.feed(text)
            if row.lost:
                raise AbcgenError(unfit(self.form.spec, text, row.refused))

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


def unfit(spec: FormSpec | None, text: str, refused: tuple[State, str, int] | None) -> str:
    """Why a prime cannot take the form `spec` (None: the bar rules alone): where, and the
    rule that is the reason."""
    state, ch, i = refused or (State(), "", len(text))
    start = text.rfind("\n", 0, i) + 1
    line = text.count("\n", 0, i) + 1
    where = f"line {line}: {text[start:i + 1].lstrip(BOS)!r}"
    free = step(state._replace(form="", tonic="", part=0, fbar=0, deg=0), ch, feed=True)
    if spec is not None and state.mode != "x" and free is not None and free.mode != "x":
        why = form_refusal(state, ch)
    else:
        why = bar_refusal(state, ch)
    if spec is None:
        return (f"the prime does not keep the bar rules the mask keeps: {why} ({where}); "
                "--free generates without the mask")
    return f"the prime does not fit --form {spec.text} with {spec.bars_text}: {why} ({where})"


def bar_refusal(s: State, ch: str) -> str:
    """Why the bar rules refuse `ch` in state `s`, as far as they can say."""
    if s.mode == "h" and ch == "\n" and s.buf[:2] in ("M:", "L:"):
        return (f"with {s.buf}, bars cannot be counted in the note lengths generation "
                "writes (choose another meter or unit length)")
    if s.tok in ("field", "[") and (s.buf.lstrip("[")[:1] in "ML" or ch in "ML"):
        return "the meter or the unit length changes inside the tune"
    if s.tok in ("note", "rest") and s.bar and ch not in ",'0123456789/":
        if s.buf not in LENGTHS or LENGTHS[s.buf] > s.room:
            return "a note runs past the end of its bar"
        if LENGTHS[s.buf] == s.room and ch in "ABCDEFGabcdefgz^_=[(":
            return "a bar is full, and no bar line closes it"
    bar = s.tok == "bar" or (not s.tok and ch in "|:") or (s.tok == "note" and ch in "|:")
    if bar and s.mode == "b" and s.bar and not s.pickup and not s.carry:
        if closing_room(s) and s.room != closing_room(s):
            return ("a tune that opens with a pickup ends each part's pass short by exactly "
                    "the pickup, so that every pass plays whole bars")
        if s.room and not closing_room(s):
            return "only a pickup lets a part end short, and this tune has none"
    return ("generation cannot follow it there: it breaks the bar rules or holds what "
            "generation never writes")


def form_refusal(s: State, ch: str) -> str:
    """Why the form refuses `ch` in state `s`, in a musician's words."""
    spec = spec_of(s.form)
    parts = len(spec.plays)
    if s.mode == "h":
        return "a form counts bars, and M:none has no bars to count"
    if not s.tonic:
        return "the key signature of K: does not spell its own tonic"
    if s.part >= parts:
        return f"the tune goes on after its {parts} parts"
    name = f"part {chr(65 + s.part)}"
    target = "the tonic or the fifth" if 2 in forms.cadences(s) else "the tonic"
    if s.tok in ("note", "rest") and ch in "|:[ \n":
        done = commit_note(s)
        if done is None and forms.cadence_bar(s):
            if s.buf in LENGTHS and s.room - LENGTHS[s.buf] < closing_room(s):
                return (f"the last bar of {name} ends short by exactly its pickup, so that "
                        "each pass plays whole bars")
            return f"{name} does not land on {target} on a beat"
        s = done or s
    if s.tok == "bar" or (not s.tok and ch in "|:"):
        counted = forms.counts(s)
        if counted and s.fbar + 1 < spec.lengths[s.part]:
            return f"{name} ends after {s.fbar + 1} bars; it needs {spec.lengths[s.part]}"
        if counted and s.ending != 1 and s.deg not in forms.cadences(s):
            return f"{name} does not land on {target} on a beat"
        if counted and s.room != closing_room(s):
            return (f"the last bar of {name} ends short by exactly its pickup, so that each "
                    "pass plays whole bars" if closing_room(s) else
                    f"the last bar of {name} is full: the part has no pickup to complete it")
        if s.empty and spec.plays[s.part] == 1:
            return f"{name} is played once: it has no `|:`"
        ends = ("`:|` (or endings `|1 ... :|2 ... ||`)" if spec.plays[s.part] == 2
                else "`|]`" if s.part == parts - 1 else "`||`")
        return f"bar {s.fbar + counted} of {name} ends here; its last bar ends with {ends}"
    if forms.closed(s):
        return (f"{name} is repeated after a part played once or after endings: "
                "open it with `|:`")
    if forms.cadence_bar(s):
        return (f"the last bar of {name} lands on {target} on a beat and holds it (or rests) "
                "to its end, with no accidental or tie on it")
    return f"bar {s.fbar + 1} of {name} cannot take this"
