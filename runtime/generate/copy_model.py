"""A tune-local copy model beside the LSTM: folk tunes say things twice.

A musician reading a tune expects bars to come back: the second phrase answers
the first, a part returns to its opening, a second ending restates the first.
The LSTM alone barely expects it (it spends 1.46 bits a character on a bar that
exactly repeats an earlier one). So beside it, each tune keeps `TuneCopier`: it
follows the bars and parts of the text written so far and proposes, for the
next character, what each earlier place a musician would look at wrote there:

- `suffix`: after the longest earlier stretch of the tune that ends like the
  text so far (at least `MIN_CONTEXT` characters);
- `bar1` `bar2` `bar4` `bar8`: the same place in the bar 1, 2, 4 or 8 bars back;
- `part`: the same bar of the previous part; `rounded`: the first part's
  opening, in the second half of a later part (the B part's last phrase
  returning to the A part's first); `ending`: the first ending, in the second.

A bar-aligned proposal holds while the bar so far matches its model bar and
is dropped at the first difference. `CopyGate` weighs each proposal by what
predicts a correct copy (its kind, how many characters it has matched, whether
the bar has started, the LSTM's own probability for the character and its
confidence); the next character is drawn from

    p(x) = (p_lstm(x) + sum of w_c over proposals c of x) / (1 + sum of w_c),
    w_c = exp(score_c),

whose weights were fitted on the valid split when the model was exported
(trainer/copy_fit.py) and travel in the ONNX file (`abcgen.copy`, DESIGN.md).

Copying feeds on itself, so a loop guard keeps restatement from becoming a
loop: when the last bar has been played `LOOP_LIMITS[1]` times in a row (or the
last 2 or 4 bars `LOOP_LIMITS[2|4]` times), nothing may be copied from the loop
into the next bar. The LSTM alone may still write it; the constraint mask,
applied after the mix, keeps every guarantee exact.

Pure Python over each tune's characters, because a step has about 15 µs to
spare at batch 1 (numpy's call overhead alone would spend it on arrays of a
few elements): the work per character is a handful of comparisons.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from abcgen.runtime.errors import AbcgenError

KINDS = ("suffix", "bar1", "bar2", "bar4", "bar8", "part", "rounded", "ending")
BARS_BACK = ((1, 1), (2, 2), (4, 3), (8, 4))  # bars back, and the kind that looks there
PHRASE = 8  # the gate knows a bar's place in its part up to this many bars
MATCHED = 7  # buckets of characters matched: 0, 1, 2-3, 4-7, 8-15, 16-31, 32 and more
MIN_CONTEXT = 4  # a suffix match starts at this many equal characters
LONGEST = 64  # a suffix match is measured back this far at most
LOOP_LIMITS = {1: 3, 2: 2, 4: 2}  # plays in a row of the last k bars before copying stops
SECTION = ("|:", "::", ":|", "||", "|]", "[|")  # bar lines that close a part (no ending digit)
_BAR_CHARS = frozenset("|:]")
_LETTERS = frozenset("ABCDEFGabcdefgz")
METADATA_KEY = "abcgen.copy"
FORMAT = 1


def _notes(key: str) -> int:
    return sum(ch in _LETTERS for ch in key)


def matched_bucket(matched: int) -> int:
    return min(matched.bit_length(), MATCHED - 1)


@dataclass(frozen=True)
class CopyGate:
    """score = table[kind][bucket(matched)] + lstm[kind] * log p_lstm(char)
    + gap[kind] * (the bar has not started) + confidence[kind] * max log p_lstm
    + place[kind][the bar has not started][the bar's place in its part, mod PHRASE],
    weight = exp(score), times boost[kind] when generating.

    The scores are fitted for the likelihood of the valid split's tunes (what the
    bits/char measures). A tune written one character at a time by that mix still
    restates less than the tunes it was fitted on (the LSTM does not plan a return,
    so the copy model is asked only once one has begun), so generation multiplies
    each kind's weights by its `boost`, chosen at export so that tunes generated from
    the valid split's headers restate as often, and as, the valid split's own do."""

    table: tuple[tuple[float, ...], ...]
    lstm: tuple[float, ...]
    gap: tuple[float, ...]
    confidence: tuple[float, ...]
    place: tuple[tuple[tuple[float, ...], ...], ...]
    boost: tuple[float, ...] = (1.0,) * len(KINDS)

    def __post_init__(self) -> None:
        rows = [self.table, self.lstm, self.gap, self.confidence]
        if (len(self.table) != len(KINDS) or any(len(r) != MATCHED for r in self.table)
                or any(len(r) != len(KINDS) for r in rows[1:]) or len(self.place) != len(KINDS)
                or any(len(g) != 2 or any(len(r) != PHRASE for r in g) for g in self.place)):
            raise AbcgenError(f"copy gate: expected {len(KINDS)} kinds, {MATCHED} buckets and "
                              f"{PHRASE} places")
        values = ([v for r in self.table for v in r] + [v for r in rows[1:] for v in r]
                  + [v for g in self.place for r in g for v in r])
        if not all(isinstance(v, (int, float)) and not math.isnan(v) and v < math.inf
                   for v in values):
            raise AbcgenError("copy gate: weights must be numbers below infinity")
        if len(self.boost) != len(KINDS) or not all(0 <= b < math.inf for b in self.boost):
            raise AbcgenError(f"copy gate: boost must be {len(KINDS)} finite numbers >= 0")

    @classmethod
    def from_json(cls, text: str) -> CopyGate:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise AbcgenError(f"copy gate format {data.get('format')!r}; this abcgen "
                                  f"reads {FORMAT}")
            if tuple(data["kinds"]) != KINDS:
                raise AbcgenError(f"copy gate kinds {data['kinds']}; this abcgen has {KINDS}")
            return cls(tuple(tuple(r) for r in data["table"]), tuple(data["lstm"]),
                       tuple(data["gap"]), tuple(data["confidence"]),
                       tuple(tuple(tuple(r) for r in g) for g in data["place"]),
                       tuple(float(b) for b in data["boost"]))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise AbcgenError(f"unreadable copy gate ({err!r})") from None

    def to_json(self, **fitted: object) -> str:
        """The metadata value; `fitted` says how it was fitted (split, bits/char)."""
        return json.dumps({"format": FORMAT, "kinds": KINDS, "table": self.table,
                           "lstm": self.lstm, "gap": self.gap, "confidence": self.confidence,
                           "place": self.place, "boost": self.boost, **fitted})

    @classmethod
    def closed(cls) -> CopyGate:
        """A gate that never copies: generation exactly as without the copy model."""
        zeros = (0.0,) * len(KINDS)
        return cls(((-math.inf,) * MATCHED,) * len(KINDS), zeros, zeros, zeros,
                   (((0.0,) * PHRASE,) * 2,) * len(KINDS))


class TuneCopier:
    """One tune's text as bars and parts, and what earlier places propose next."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self._line = ""  # header line being read
        self.body = False
        self.bars: list[int] = []  # where each bar's first note (or other content) stands
        self._ends: list[int] = []  # where each finished bar's bar line starts
        self._openers: list[str] = []  # the bar line before each bar (spaces left out)
        self.parts: list[int] = []  # the bar each part starts with
        self._bar_line = ""  # bar line characters since the last content
        self.gap = True  # between a bar line and the next bar's content
        self.phrase = 0  # the bar's place in its part, counted in PHRASE bars
        self._bracket = False  # a `[` whose meaning the next character decides
        self._aligned: list[tuple[int, int, int]] = []  # (kind, model bar, next position)
        self._upcoming: list[tuple[int, str]] | None = None  # gap proposals, cached
        self._keys: list[str] = []  # each finished bar's notes, spaces left out
        self._blocked = ""  # the notes of the bar that would play a loop once too often
        self._contexts: dict[str, int] = {}
        self._sp, self._sm = -1, 0  # suffix match: position of its next character, length

    # ------------------------------------------------------------------ feeding

    def feed(self, text: str) -> None:
        for ch in text:
            self.push(ch)

    def push(self, ch: str) -> None:
        text = self.text
        n = len(text)
        if self._aligned:
            self._aligned = [(k, bar, j + 1) for k, bar, j in self._aligned if text[j] == ch]
        text.append(ch)
        if not self.body:
            if ch == "\n":
                self.body = self._line.startswith("K:")
                self._line = ""
            else:
                self._line += ch
            return
        self._suffix(ch, n + 1)
        if self._bracket:
            self._bracket = False
            if ch == "|" or ch.isdigit():
                self._bar_char("[" + ch)
                return
            if self.gap:
                self._new_bar(n - 1, "[")
                self._aligned = [(k, bar, j + 1) for k, bar, j in self._aligned if text[j] == ch]
        if ch == "[":
            self._bracket = True
        elif ch in _BAR_CHARS or (ch.isdigit() and self._bar_line):
            self._bar_char(ch)
        elif not ch.isspace() and self.gap:
            self._new_bar(n, ch)

    def _bar_char(self, chars: str) -> None:
        if not self.gap:
            self.gap = True
            end = len(self.text) - len(chars)
            self._keys.append("".join(self.text[self.bars[-1]:end]).replace(" ", ""))
            self._ends.append(end)
            self._blocked = self._loop()
        self._bar_line += chars
        self._aligned = []
        self._upcoming = None

    def _new_bar(self, start: int, first: str) -> None:
        """A bar's content starts at `start` with `first`: align the bar-wise proposals."""
        self._parts_with(len(self.bars), self._bar_line)
        self.bars.append(start)
        self._openers.append(self._bar_line)
        self._bar_line, self.gap, self._upcoming = "", False, None
        self.phrase = self._place(len(self.bars) - 1)
        text = self.text
        self._aligned = [(k, bar, self.bars[bar] + 1)
                         for k, bar in self._models(len(self.bars) - 1)
                         if text[self.bars[bar]] == first]

    def _parts_with(self, bar: int, opener: str) -> bool:
        """Start a part at `bar` when its bar line closes one; True when it did."""
        section = (any(s in opener for s in SECTION) and not any(c.isdigit() for c in opener)
                   and (not self.parts or bar - self.parts[-1] >= 2))
        if (bar == 0 or section) and (not self.parts or self.parts[-1] != bar):
            self.parts.append(bar)
            return True
        return False

    def _place(self, bar: int) -> int:
        """`bar`'s place in its part, its pickup not counted, modulo PHRASE. A part's
        first bar is taken for a pickup when it holds at most half the notes of its
        second (known once that is finished; the tracker counts no time)."""
        start = self.parts[-1]
        keys = self._keys
        pickup = (start + 1 < len(keys)
                  and 2 * _notes(keys[start]) <= _notes(keys[start + 1]))
        return max(0, bar - start - pickup) % PHRASE

    def _models(self, bar: int) -> list[tuple[int, int]]:
        """(kind, earlier bar) a musician would look at for `bar`."""
        found = [(kind, bar - back) for back, kind in BARS_BACK if bar - back >= 0]
        parts = self.parts
        if len(parts) >= 2:
            i, length = bar - parts[-1], parts[-1] - parts[-2]
            if i < length:
                found.append((5, parts[-2] + i))
            half = length // 2
            if 2 <= half <= i < length:
                found.append((6, parts[0] + i - half))
        opener = self._openers[bar] if bar < len(self._openers) else self._bar_line
        if "2" in opener or "3" in opener:
            first = next((b for b in range(bar - 1, -1, -1) if "1" in self._openers[b]), None)
            if first is not None:
                found.append((7, first))
        keys, blocked = self._keys, self._blocked
        return [(k, b) for k, b in found
                if 0 <= b < bar and not (blocked and keys[b] == blocked)]

    def _loop(self) -> str:
        """The notes the next bar must not copy: the bar that would play a group of
        bars once more than LOOP_LIMITS allows in a row ('' when none would)."""
        keys = self._keys[-8:]
        for k, limit in LOOP_LIMITS.items():
            if len(keys) < k * limit:
                continue
            group = keys[-k:]
            if all(keys[len(keys) - r * k - k:len(keys) - r * k] == group for r in range(limit)):
                return group[0]
        return ""

    def _suffix(self, ch: str, n: int) -> None:
        text, sp = self.text, self._sp
        if 0 <= sp < n - 1 and text[sp] == ch:
            self._sp, self._sm = sp + 1, self._sm + 1
        else:
            self._sp, self._sm = -1, 0
        if n >= MIN_CONTEXT:
            key = "".join(text[n - MIN_CONTEXT:n])
            prev = self._contexts.get(key)
            if self._sp < 0 and prev is not None:
                m = MIN_CONTEXT
                while m < LONGEST and prev - m - 1 >= 0 and text[prev - m - 1] == text[n - m - 1]:
                    m += 1
                self._sp, self._sm = prev, m
            self._contexts[key] = n

    def _bar_key(self, position: int) -> str:
        """The notes of the finished bar that holds `position` ('' for none)."""
        bar = bisect_right(self.bars, position) - 1
        return self._keys[bar] if 0 <= bar < len(self._keys) else ""

    # ------------------------------------------------------------------ proposals

    def proposals(self) -> list[tuple[int, str, int]]:
        """(kind, character, characters matched) for the next character."""
        if not self.body:
            return []
        text, out = self.text, []
        sp = self._sp
        if sp >= 0 and not (self._blocked and self._bar_key(sp) == self._blocked):
            out.append((0, text[sp], self._sm))
        if self.gap:
            if self._upcoming is None:
                bar = len(self.bars)
                added = self._parts_with(bar, self._bar_line)
                self._upcoming = [(k, text[self.bars[b]]) for k, b in self._models(bar)]
                self.phrase = self._place(bar)
                if added:
                    self.parts.pop()
            out += [(k, ch, 0) for k, ch in self._upcoming]
        else:
            ends = self._ends
            for k, bar, j in self._aligned:
                # a bar proposes up to its bar line's first character, no further
                if j < len(text) and (bar + 1 >= len(self.bars) or j <= ends[bar]):
                    out.append((k, text[j], j - self.bars[bar]))
        return out


def weights(gate: CopyGate, proposals: Sequence[tuple[int, int, int]], logits: np.ndarray,
            lse: float, top: float, gap: bool, place: int,
            boost: Sequence[float] | None = None) -> dict[int, float]:
    """Token -> the weight of the proposals of it, against 1 for the LSTM. The LSTM's
    log-probabilities are `logits - lse` (its logits' log-sum-exp; `top` their largest);
    proposals are (kind, token, matched); `boost` the gate's when generating."""
    confident = top - lse
    mass: dict[int, float] = {}
    for kind, token, matched in proposals:
        logp = float(logits[token]) - lse
        score = (gate.table[kind][matched_bucket(matched)] + gate.lstm[kind] * logp
                 + gate.confidence[kind] * confident + (gate.gap[kind] if gap else 0.0)
                 + gate.place[kind][gap][place])
        weight = math.exp(score) if score > -700 else 0.0
        if boost is not None:
            weight *= boost[kind]
        if weight > 0:  # none: the LSTM's logit stays as it is (a closed gate copies nothing)
            mass[token] = mass.get(token, 0.0) + weight
    return mass


def walk(text: str, index: dict[str, int]):
    """(proposals as (kind, token, matched), gap, place) before each character of
    BOS+text, then before EOS: what the copy model saw when scoring a written tune."""
    tune = TuneCopier()
    for ch in [*text, None]:
        proposals = [(k, index[c], m) for k, c, m in tune.proposals()]
        yield proposals, tune.gap, tune.phrase
        if ch is not None:
            tune.push(ch)


class BatchCopier:
    """The copy model for a batch of tunes, mixed into the generator's logits."""

    def __init__(self, gate: CopyGate, vocab: Sequence[str], batch: int) -> None:
        self.gate = gate
        self.vocab = list(vocab)
        self._index = {ch: i for i, ch in enumerate(self.vocab)}
        self.tunes = [TuneCopier() for _ in range(batch)]

    def feed(self, texts: Sequence[str]) -> None:
        for tune, text in zip(self.tunes, texts, strict=True):
            tune.feed(text)

    def advance(self, tokens: Sequence[int], grew: Sequence[bool]) -> None:
        """The token each tune drew; tunes that did not grow (EOS, or over) are left."""
        vocab = self.vocab
        for tune, token, grown in zip(self.tunes, tokens, grew, strict=True):
            if grown:
                tune.push(vocab[token])

    def mix(self, logits: np.ndarray, rows: Sequence[int]) -> None:
        """Mix each row's proposals into `logits` [len(rows), vocab] in place, as
        log(p_lstm + weights) up to a constant per row (all a draw needs)."""
        gate, index = self.gate, self._index
        for r, tune_index in enumerate(rows):
            tune = self.tunes[tune_index]
            proposals = tune.proposals()
            if not proposals:
                continue
            row = logits[r]
            top = float(row.max())
            lse = top + math.log(float(np.exp(row - top).sum()))
            mass = weights(gate, [(k, index[c], m) for k, c, m in proposals], row, lse, top,
                           tune.gap, tune.phrase, gate.boost)
            for token, weight in mass.items():
                row[token] = lse + math.log(math.exp(float(row[token]) - lse) + weight)
