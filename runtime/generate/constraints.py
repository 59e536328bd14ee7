"""Constrained decoding: before each step, the characters that keep a tune valid.

A character model sometimes writes a bar that is too long, leaves a chord open
or never ends. Here a small automaton follows the tune character by character:
`Rules.step(state, ch)` returns the next state, or None when `ch` would break
the tune, and the mask of a state is the set of characters it accepts. States
are small immutable tuples that count time relative to the unit length, so
the same situation in any tune is the same state: its mask is computed once
(one `step` per character of the alphabet) and then looked up. Generation
mostly asks only whether its pick is accepted (`accepts`), one remembered
transition; a whole mask is built only for a refused pick. Never a parser copy
per candidate character.

Every transition that opens something checks that it can be closed (a note
letter only when some length still fits the bar, `>` only when a second note
fits after it, `[` only when a chord, bar line or ending can follow it), so
every state the rules reach accepts at least one character. Should that ever
fail, the mask allows everything for that step and `Constraint.fallbacks`
counts it (the tests require zero).

What is enforced: the subset of canonical tune text (tune.py) that generation
writes, judged as `parser.py` judges it:
- header `M:` `L:` `K:` lines with values the parser reads (fields.py);
- syntax: no dangling accidental, chord, grace group, tuplet, broken-rhythm
  marker, tie, slur or first ending; no blank line (it would end the tune);
- bar arithmetic: a plain bar line only when the bar is exactly full, except
  the first bar (a pickup). A part may end short (`||`, `:|`, `::`) only as
  musicians write it: its pickup completes the bar (abc2midi replays a repeat
  from there). The next bar then holds exactly the rest, the pickup into the
  next part, which may open first (`:|` newline `|:` or `||`) and ends at a
  plain `|`; abc2midi counts the two as one bar. The tune's last bar (`|]`)
  may be short. No note is longer than what is left of the bar (longer notes
  are written tied across it), and what is left always stays fillable with
  the lengths allowed;
- what abc2midi also insists on: broken rhythm between notes of equal length;
  a tie to a note of the same pitch, over plain bar lines only; `::` or a
  first ending only after their own `|:` (a part that ends `:|` without one
  repeats from the last `:|`, as folk tunebooks write it); no `|:` open at
  the end;
- structure: EOS only right after `|]`, `||` or `:|` with nothing open, and
  nothing but EOS after `|]`. Past `steer_at` generated characters no new
  slur, tie, tuplet, grace group, ending or broken rhythm starts, notes take
  at least half of the longest length that fits, and the next bar line that
  may end the tune must, so a tune ends within a bar or two instead of being
  cut off.

What generation never writes (chord symbols, fields in the body, chords with a
length after `]`, `(p:q:r`, `x` and `Z` rests) a prime may still hold: `feed`
follows chord symbols and `[K:]` fields, and gives up on the rest (`lost`: no
mask for that tune).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from abcgen.runtime.abc.fields import parse_key, parse_meter, parse_unit
from abcgen.runtime.abc.tune import BOS, EOS

CACHE_LIMIT = 200_000  # masks, and transitions, kept (about 100 MB each at most)
UNIT = 384  # ticks per unit note length (L:): exact for every length, tuplet and `>` here
GRID = UNIT // 8  # the shortest length, `/8`: what is left of a bar stays a multiple of it

# Note lengths written after a note, in eighths of the unit length.
LENGTHS = {"": 8, "2": 16, "3": 24, "4": 32, "6": 48, "8": 64, "12": 96, "16": 128,
           "24": 192, "32": 256, "/": 4, "/2": 4, "//": 2, "/4": 2, "3/2": 12, "3/": 12,
           "3/4": 6, "/8": 1, "3/8": 3}  # fmt: skip
_COMPLETIONS = {s[:i]: tuple(t for t in LENGTHS if t.startswith(s[:i]))
                for s in LENGTHS for i in range(len(s) + 1)}
TUPLETS = {2: 3, 3: 2, 4: 3, 6: 2}  # p: q (p notes in the time of q)
BARS = {"|", "||", "|]", "[|", "|:", ":|", "::", ":||"}
_BAR_PREFIXES = {b[:i] for b in BARS for i in range(1, len(b) + 1)}
SECTION = {"||", "|]", ":|", "::"}  # may close a short bar (abc2midi: not `:||`)
FINAL = {"|]", "||", ":|", ":||"}  # may end a tune
_LETTERS = frozenset("ABCDEFGabcdefg")
_BETWEEN = frozenset("Aa^z~{([|:12 \n><-)]}" + EOS)  # may start something between tokens
_CONTINUE = {"note": frozenset(",'0123456789/-"), "rest": frozenset("0123456789/"),
             "bar": frozenset("|]:")}  # characters that may continue a token
_BODY = frozenset("ABCDEFGabcdefgz^_=,'0123456789/|:[](){}~-<> \n" + EOS)


def _readable(name: str, value: str) -> bool:
    try:
        {"M": parse_meter, "L": parse_unit, "K": parse_key}[name](value)
    except ValueError:
        return False
    return True


# Header lines generation may write, in order; the parser reads every one.
_HEADER = [
    ("M", ["none"] + [f"{n}/{d}" for n in range(1, 13) for d in (1, 2, 4, 8, 16)]),
    ("L", ["1/1", "1/2", "1/4", "1/8", "1/16", "1/32"]),
    ("K", [k for t in "ABCDEFG" for a in ("", "#", "b")
           for m in ("", "m", "mix", "dor", "phr", "lyd", "loc")
           if _readable("K", k := t + a + m)]),
]  # fmt: skip
_HEADER_LINES = [{f"{name}:{v}" for v in values} for name, values in _HEADER]
_HEADER_PREFIXES = [{line[:i] for line in lines for i in range(len(line) + 1)}
                    for lines in _HEADER_LINES]


class State(NamedTuple):
    """Everything the next mask depends on; equal states share one mask."""

    mode: str = "h"  # h header, b body, e ended, x lost (no constraint)
    tok: str = ""  # token in progress: '' acc note rest bar [ ( field quote
    buf: str = ""  # its text so far (header line, length, bar line, accidental, field)
    field: int = 0  # header line expected next: 0 M, 1 L, 2 K
    meter: str = "none"  # M: and L: values, to work out the bar
    unit: str = "1/8"
    bar: int = 0  # ticks in a full bar; 0 for free meter
    room: int = 0  # ticks left in the current bar
    empty: bool = True  # no note in the current bar yet
    pickup: bool = True  # the first bar (a pickup): it may be short
    carry: bool = False  # the bar holds the rest of a short bar before it: it must fill
    lead: int = 0  # ticks of the part's pickup (0 not known yet, -1 none or used up)
    content: bool = False  # a bar with notes has been closed
    prev: str = "start"  # the last complete element: note chord bar end space line tie
    #                      brk deco grace sopen sclose tup none start
    oct: int = 0  # octave marks after the note letter
    upper: bool = False  # upper-case letters take `,`, lower-case ones `'`
    ctx: str = ""  # '' top level, '[' inside a chord, '{' inside a grace group
    cn: int = 0  # notes so far in the chord or grace group
    cforce: str | None = None  # length every further chord note repeats
    cval: int = 0  # the chord's ticks
    tleft: int = 0  # notes left in the tuplet
    tq: int = 0  # tuplet: p notes in the time of q
    tp: int = 0
    tforce: str | None = None  # length every further tuplet note repeats
    brk: int = 0  # next note's factor after a broken rhythm: 1 for x1/2, 3 for x3/2
    last: int = 0  # ticks of the note just written when `>` `<` may follow it
    slur: int = 0  # open slurs
    pitch: str = ""  # the note being written: letter and octave marks (for a tie)
    tie: str = ""  # a tie waits for a note of this letter and octave marks
    bval: int = 0  # after `>` `<`: the written ticks the second note repeats
    kind: str = ""  # the last bar line
    ending: int = 0  # 0 none, 1 in a first ending, 3 after its `:|` (needs `2`), 2 in a
    #                   second, 4 after `|]` (needs EOS)
    repeat: int = 0  # 0 no repeat yet, 1 a `|:` or `::` waits for its `:|`, 2 closed by `:|`,
    #                   3 closed by a first ending's `:|`
    steer: bool = False  # past the length cap: head for the end


class Rules:
    """Transitions and cached masks for one vocabulary (shared by every tune)."""

    def __init__(self, vocab: Sequence[str]) -> None:
        self.vocab = list(vocab)
        self._masks: dict[State, np.ndarray] = {}
        self._fit: dict[tuple, bool] = {}
        self._next: dict[tuple[State, int], State | None] = {}
        self._body = [i for i, ch in enumerate(self.vocab) if ch in _BODY]
        self._singles = [(self.vocab[i], [i]) for i in self._body]
        # Between tokens, characters of a group are accepted alike; others never are.
        groups: dict[str, list[int]] = {}
        for i in self._body:
            ch = self.vocab[i]
            rep = "A" if ch in "ABCDEFG" else "a" if ch in "abcdefg" else "^" if ch in "^_=" else ch
            if rep in _BETWEEN:
                groups.setdefault(rep, []).append(i)
        self._groups = list(groups.items())
        self.everything = np.ones(len(self.vocab), dtype=bool)
        self.nothing = np.zeros(len(self.vocab), dtype=bool)
        self.everything.flags.writeable = self.nothing.flags.writeable = False

    def mask(self, state: State) -> np.ndarray:
        """Read-only bool [vocab]: the ids whose character `step` accepts in `state`."""
        found = self._masks.get(state)
        if found is None:
            if len(self._masks) >= CACHE_LIMIT:  # a long-running process: start afresh
                self._masks.clear()
                self._fit.clear()
            found = self._compute(state)
            found = self._masks[state] = found if found.any() else self.nothing
        return found

    def accepts(self, state: State, token: int) -> bool:
        """`mask(state)[token]`, without building the mask of a state not seen before."""
        found = self._masks.get(state)
        if found is not None:
            return bool(found[token])
        return self.next(state, token) is not None

    def next(self, state: State, token: int) -> State | None:
        """`step(state, vocab[token])`, remembered: a draw asks it twice (may the pick
        come next? then the state after it), and tunes keep meeting the same states."""
        key = (state, token)
        found = self._next.get(key, key)
        if found is key:
            if len(self._next) >= CACHE_LIMIT:
                self._next.clear()
            found = self._next[key] = self.step(state, self.vocab[token])
        return found

    def _compute(self, s: State) -> np.ndarray:
        if s.mode != "b":
            found = np.fromiter((self.step(s, ch) is not None for ch in self.vocab), bool,
                                len(self.vocab))
        elif s.tok in ("note", "rest", "bar"):
            # What does not continue the token acts on the state after it: reuse its mask.
            done = self._commit_note(s) if s.tok != "bar" else self._commit_bar(s)
            found = (self.mask(canonical(done)).copy() if done is not None
                     else np.zeros(len(self.vocab), bool))
            for i in self._body:
                ch = self.vocab[i]
                if ch in _CONTINUE[s.tok] or (ch == ":" and found[i]):
                    ok = s.tok == "bar" or ch in ",':-" or s.buf + ch in _COMPLETIONS
                    found[i] = ok and self.step(s, ch) is not None
        else:
            found = np.zeros(len(self.vocab), dtype=bool)
            groups = self._groups if s.tok in ("", "[") and not s.tie else self._singles
            for ch, ids in groups:
                found[ids] = self.step(s, ch) is not None
        found.flags.writeable = False
        return found

    # ------------------------------------------------------------------ dispatch

    def step(self, s: State, ch: str, feed: bool = False) -> State | None:
        """The state after `ch`, or None when `ch` is not allowed here.

        feed=True follows a prime: it also takes what generation never writes
        (fields in the body, chord symbols, any header line the parser reads).
        """
        if s.mode == "x":
            return s
        if s.mode == "e":
            return None
        if ch == BOS:
            return s if feed and s == State() else None
        if s.mode == "h":
            return self._header(s, ch, feed)
        tok = s.tok
        if tok:
            if tok == "note" or tok == "rest":
                nxt = self._length(s, ch)
                if nxt is not None:
                    return nxt
                if ch == ":" and s.prev in ("line", "start") and s.upper and not s.oct + len(s.buf):
                    return None  # `A:` at the start of a line reads as a field line
                done = self._commit_note(s)
                if ch == "-":  # a tie, to a note of the same pitch (abc2midi insists)
                    ok = (done is not None and tok == "note" and not s.ctx and not s.tleft
                          and not s.steer)
                    return done._replace(prev="tie", tie=s.pitch) if ok else None
                s = done
            elif tok == "bar":
                if s.buf + ch in _BAR_PREFIXES:
                    nxt = s._replace(buf=s.buf + ch)
                    return nxt if self._bar_viable(nxt) else None
                s = self._commit_bar(s)
            elif tok == "acc":
                if ch == s.buf and ch in "^_":
                    return s._replace(buf=ch * 2)
                return self._note(s._replace(tok=""), ch) if ch in _LETTERS else None
            elif tok == "[":
                return self._bracket(s, ch, feed)
            elif tok == "(":
                if ch.isdigit():
                    return self._tuplet(s, int(ch))
                # after a grace group a slur opens on its note: no second group (abc2midi)
                prev = "grace" if s.prev == "grace" else "sopen"
                s = s._replace(tok="", slur=s.slur + 1, prev=prev) if self._slur_ok(s) else None
            else:
                return self._skip(s, ch)
            if s is None:
                return None
        if ch == EOS:
            return self._eos(s)
        if s.ctx:
            return self._inner(s, ch)
        return self._top(s, ch, feed)

    # ------------------------------------------------------------------ header and fields

    def _header(self, s: State, ch: str, feed: bool) -> State | None:
        if ch != "\n":
            line = s.buf + ch
            return s._replace(buf=line) if feed or line in _HEADER_PREFIXES[s.field] else None
        if not feed and s.buf not in _HEADER_LINES[s.field]:
            return None
        s = self._field(s._replace(buf=""), s.buf)
        if s.mode != "x" and not s.bar and s.meter != "none":  # the lengths cannot fill a bar
            return None if not feed else s._replace(mode="x")
        return s

    def _field(self, s: State, line: str) -> State:
        """A header line, field line or inline field (without brackets)."""
        name, _, value = line.partition(":")
        if name not in ("M", "L", "K"):
            return s  # another header line of a prime: nothing to follow
        if not _readable(name, value):
            return s._replace(mode="x")
        if s.mode == "b" and name != "K":
            return s._replace(mode="x")  # M: or L: mid-tune (rare; only in a prime): stop following
        if name == "M":
            s = s._replace(meter=value.strip())
        elif name == "L":
            s = s._replace(unit=value.strip())
        if s.mode == "b":
            return s
        bar = _bar_ticks(s.meter, s.unit)
        s = s._replace(bar=bar, room=bar, field=min(s.field + 1, 2))
        return s._replace(mode="b", prev="start") if name == "K" else s

    def _skip(self, s: State, ch: str) -> State | None:
        """A chord symbol or a field, read from a prime."""
        if s.tok == "quote":
            if ch == "\n":
                return s._replace(mode="x")
            return s._replace(tok="") if ch == '"' else s
        inline = s.buf.startswith("[")
        if ch == ("]" if inline else "\n"):
            nxt = self._field(s._replace(tok="", buf=""), s.buf.lstrip("["))
            return nxt if nxt.mode == "x" or inline else nxt._replace(prev="line")
        if ch == "\n":
            return s._replace(mode="x")
        return s._replace(buf=s.buf + ch)

    # ------------------------------------------------------------------ body, top level

    def _top(self, s: State, ch: str, feed: bool) -> State | None:
        prev = s.prev
        if s.steer and prev == "bar" and self._eos(s) is not None:
            return None  # past the length cap, a bar line that may end the tune does
        if (s.steer and not s.bar and prev in ("note", "chord", "sclose")
                and ch not in (")" if s.slur else "|:") and not (s.tleft or s.brk or s.tie)):
            return None  # ... and in free meter, slurs close and the next bar line comes now
        if s.ending == 4:
            return None
        if s.ending == 3:  # a `:|` that closed a first ending takes its `2`
            return self._ending(s, ch) if ch == "2" else s._replace(tok="[") if ch == "[" else None
        if ch in _LETTERS:
            return self._note(s, ch)
        if ch in "^_=":
            ok = not s.tie and self._can_note(s)
            return s._replace(tok="acc", buf=ch) if ok else None
        if ch == "z":
            if prev in ("deco", "grace") or s.tie or not self._can_note(s):
                return None
            return s._replace(tok="rest", buf="", oct=0)
        if ch == "~":
            ok = prev not in ("deco", "grace") and not s.tie and self._can_note(s)
            return s._replace(prev="deco") if ok else None
        if ch == "{":
            if prev in ("deco", "grace", "brk", "tup") or s.tleft or s.steer or s.tie:
                return None
            return s._replace(ctx="{", cn=0, prev="none") if self._can_note(s) else None
        if ch == "(":
            if prev == "deco" or s.tie:
                return None
            ok = self._slur_ok(s) or any(self._tuplet(s, p) for p in TUPLETS)
            return s._replace(tok="(") if ok else None
        if ch == "[":
            nxt = s._replace(tok="[")
            return nxt if feed or any(self._bracket(nxt, c, False) for c in "|12A") else None
        if ch in "|:":
            return self._bar_start(s, ch)
        if ch in "12":
            return self._ending(s, ch)
        if ch == " " or ch == "\n":
            ok = prev in ("note", "chord", "bar", "end", "tie", "sclose")
            if not ok or s.tleft or s.brk or (s.steer and s.slur):
                return None
            return s._replace(prev="space" if ch == " " else "line")
        if ch in "><":
            return self._broken(s, ch) if prev == "note" and s.last else None
        if ch == ")":
            ok = s.slur and prev in ("note", "chord", "sclose")
            return s._replace(prev="sclose", slur=s.slur - 1) if ok else None
        if feed and ch == '"':
            return s._replace(tok="quote")
        if feed and ch in "KLM" and prev in ("line", "start"):
            return s._replace(tok="field", buf=ch)
        return None

    def _inner(self, s: State, ch: str) -> State | None:
        """Inside a chord `[...]` or a grace group `{...}`: up to four notes."""
        if ch in _LETTERS:
            return self._note(s, ch) if s.cn < 4 else None
        if ch in "^_=":
            return s._replace(tok="acc", buf=ch) if s.cn < 4 else None
        if not s.cn:
            return None
        if s.ctx == "[" and ch == "]":
            return s._replace(ctx="", room=_less(s, s.cval), empty=False, prev="chord", last=0,
                              cforce=None)
        if s.ctx == "{" and ch == "}":
            return s._replace(ctx="", prev="grace")
        return None

    # ------------------------------------------------------------------ notes and lengths

    def _note(self, s: State, ch: str) -> State | None:
        if (s.tie and ch != s.tie[0]) or not self._can_note(s):
            return None
        return s._replace(tok="note", buf="", oct=0, upper=ch.isupper(), pitch=ch)

    def _length(self, s: State, ch: str) -> State | None:
        """`ch` continuing the note's octave marks or length; None when it does not."""
        if ch in ",'":
            ok = s.tok == "note" and not s.buf and s.oct < 3 and (ch == ",") == s.upper
            ok = ok and (not s.tie or s.tie.startswith(s.pitch + ch))
            return s._replace(oct=s.oct + 1, pitch=s.pitch + ch) if ok else None
        if (ch.isdigit() or ch == "/") and s.tie in ("", s.pitch):
            prefix = s.buf + ch
            if any(self._fits(s, full) for full in _COMPLETIONS.get(prefix, ())):
                return s._replace(buf=prefix)
        return None

    def _ticks(self, s: State, length: str) -> int:
        t = GRID * LENGTHS[length]
        if s.tleft and s.ctx != "{":
            t = t * s.tq // s.tp
        if s.brk:
            t = t * s.brk // 2
        return t

    def _fits(self, s: State, length: str) -> bool:
        """Whether a note of this written length may stand here."""
        force = s.cforce if s.ctx == "[" else s.tforce if s.tleft else None
        if force is not None:
            return length == force
        if s.brk and GRID * LENGTHS[length] != s.bval:
            return False  # abc2midi: broken rhythm only between notes of equal length
        if s.ctx == "{" or not s.bar:
            return True
        t = self._ticks(s, length)
        if s.tleft:  # the first note sets the whole group: p notes of this length
            t *= s.tp
        if t > s.room or (s.room - t) % GRID:
            return False
        if s.steer and not s.brk and not s.tleft:
            return 2 * t >= self._longest(s.room)
        return True

    @staticmethod
    def _longest(room: int) -> int:
        return max(GRID * v for v in LENGTHS.values()
                   if GRID * v <= room and (room - GRID * v) % GRID == 0)

    def _can_note(self, s: State) -> bool:
        key = (s.room, s.bar > 0, s.ctx, s.cforce, s.tleft, s.tq, s.tp, s.tforce, s.brk,
               s.bval, s.steer)
        found = self._fit.get(key)
        if found is None:
            found = self._fit[key] = any(self._fits(s, length) for length in LENGTHS)
        return found

    def _commit_note(self, s: State) -> State | None:
        length = s.buf
        if length not in LENGTHS or not self._fits(s, length) or s.tie not in ("", s.pitch):
            return None
        base = s._replace(tok="", buf="", prev="note")
        if s.ctx == "{":
            return base._replace(cn=s.cn + 1)
        t = self._ticks(s, length)
        if s.ctx == "[":
            first = s.cforce is None
            return base._replace(cn=s.cn + 1, cforce=length if first else s.cforce,
                                 cval=t if first else s.cval)
        tuplet = {}
        if s.tleft:
            more = s.tleft > 1
            tuplet = {"tleft": s.tleft - 1, "tforce": length if more else None,
                      "tq": s.tq if more else 0, "tp": s.tp if more else 0}
        last = t if not s.tleft and not s.brk else 0
        return base._replace(room=_less(s, t), empty=False, brk=0, bval=0, last=last, tie="",
                             **tuplet)

    def _broken(self, s: State, ch: str) -> State | None:
        if s.tleft or s.steer:
            return None
        half = s.last // 2
        room = _less(s, half if ch == ">" else -half)
        nxt = s._replace(room=room, brk=1 if ch == ">" else 3, bval=s.last, last=0, prev="brk")
        return nxt if self._can_note(nxt) else None

    def _tuplet(self, s: State, p: int) -> State | None:
        if p not in TUPLETS or s.tleft or s.brk or s.steer or s.prev in ("grace", "deco"):
            return None
        nxt = s._replace(tok="", tleft=p, tq=TUPLETS[p], tp=p, tforce=None, prev="tup")
        return nxt if self._can_note(nxt) else None

    def _slur_ok(self, s: State) -> bool:
        return s.slur < 2 and not s.steer and self._can_note(s)

    # ------------------------------------------------------------------ brackets and bars

    def _bracket(self, s: State, ch: str, feed: bool) -> State | None:
        """After `[`: a chord, `[|`, an ending `[1` `[2`, or (reading a prime) a field."""
        if ch in "12":
            return self._ending(s._replace(tok=""), ch)
        if s.ending == 3:
            return None
        if ch == "|":
            return self._bar_start(s, "[|")
        if ch in _LETTERS or ch in "^_=":
            if s.tleft or s.brk or s.tie or s.prev in ("deco", "grace") or not self._can_note(s):
                return None
            return self._inner(s._replace(tok="", ctx="[", cn=0, cforce=None, cval=0), ch)
        if feed and ch in "KLM":
            return s._replace(tok="field", buf="[" + ch)
        return None

    def _bar_start(self, s: State, text: str) -> State | None:
        if s.tleft or s.brk or s.prev in ("deco", "grace", "brk", "sopen", "tup"):
            return None
        nxt = s._replace(tok="bar", buf=text)
        return nxt if self._bar_viable(nxt) else None

    def _bar_viable(self, s: State) -> bool:
        return any(self._bar_ok(s, b) for b in BARS if b.startswith(s.buf))

    def _bar_ok(self, s: State, kind: str) -> bool:
        """Whether the bar line `kind` may stand here."""
        if s.ending in (3, 4) or (s.ending == 1 and kind not in ("|", ":|")):
            return False
        if s.ending == 2 and kind in (":|", "::", ":||", "|:"):
            return False
        if kind[0] == ":" and s.repeat >= 2 and (kind != ":|" or s.ending or s.repeat == 3):
            return False  # a part without `|:` repeats from the last plain `:|` (abc2midi
            #               turns it into `::`, which after a first ending goes wrong)
        if kind == "|:" and s.repeat == 1:
            return False
        if kind == "|]" and (s.repeat == 1 or s.empty):
            return False  # the tune's last bar line: after it only the end
        if (kind == "|]" and s.slur) or (s.tie and kind not in ("|", "||")):
            return False  # a tie crosses a plain bar line, not a repeat (abc2midi)
        if s.empty:  # no empty bars, but a line or the tune may begin with a bar line,
            if s.carry:  # and a part may open (`|:`, `||`) before the pickup into it
                return kind in ("|:", "||") and s.prev in ("line", "space")
            return s.prev in ("start", "line")
        if s.carry and kind != "|":
            return False  # the pickup into a part ends at a plain bar line (abc2midi joins
            #               it to the short bar before only then)
        short = s.bar and s.room and not s.pickup
        if short and (kind not in SECTION or s.carry):
            return False  # a short bar only before a section
        if short and s.ending and kind not in (":|", "|]"):
            return False  # in an ending: a first one's `:|`, or the tune's last bar
        if short and kind != "|]" and s.room != s.lead:
            return False  # the part's pickup completes it (abc2midi replays repeats from there)
        if s.steer:  # close what is open, then end
            if s.slur:
                return s.prev not in ("note", "chord")
            if s.carry or s.tie:
                return kind == "|"
            if s.ending == 1 or s.repeat == 1:
                return kind == ":|"
            return kind in FINAL
        return True

    def _commit_bar(self, s: State) -> State | None:
        kind = s.buf
        if kind not in BARS or not self._bar_ok(s, kind):
            return None
        ending = s.ending
        if ending == 1 and kind == ":|":
            ending = 3
        elif kind == "|]":
            ending = 4  # the tune ends here
        elif ending == 2 and kind in SECTION:
            ending = 0
        repeat = (1 if kind.endswith(":") else 3 if kind.startswith(":") and s.ending == 1
                  else 2 if kind.startswith(":") else s.repeat)
        # A short bar before a section bar line leaves its rest to the next bar (the
        # pickup into the next part): abc2midi counts the two as one bar.
        # (Not past a first ending: abc2midi starts the second one afresh.)
        short = s.bar and not s.empty and not s.pickup and s.room > 0 and s.ending != 1
        lead = s.lead
        if s.pickup and not s.empty:
            lead = s.bar - s.room if s.room else -1
        elif (short and kind[0] == ":") or (s.carry and s.empty):
            lead = s.room  # what the next part's pickup holds (after its `|:`, if any)
        elif kind[0] == ":" or (kind[-1] == ":" and s.content):
            lead = -1
        return s._replace(tok="", buf="", room=s.room if short or s.empty else s.bar, empty=True,
                          lead=lead, pickup=s.pickup and s.empty,
                          carry=bool(short) or (s.carry and s.empty),
                          content=s.content or not s.empty, prev="bar", kind=kind,
                          ending=ending, repeat=repeat, last=0)

    def _ending(self, s: State, ch: str) -> State | None:
        if s.prev != "bar":
            return None
        if s.tie:
            return None
        if ch == "1" and s.ending == 0 and s.kind == "|" and s.repeat < 2 and not s.steer:
            return s._replace(ending=1, prev="end")
        if ch == "2" and s.ending == 3:
            return s._replace(ending=2, prev="end")
        return None

    def _eos(self, s: State) -> State | None:
        ok = (s.prev == "bar" and s.kind in FINAL and s.content and not s.tie
              and not s.slur and s.ending in (0, 2, 4) and s.repeat != 1 and not s.ctx)
        return s._replace(mode="e") if ok else None


@lru_cache(maxsize=4)
def rules_for(vocab: tuple[str, ...]) -> Rules:
    """One `Rules` (and so one warm mask cache) per vocabulary for the whole process."""
    return Rules(vocab)


def _less(s: State, ticks: int) -> int:
    """What is left of the bar after `ticks` more (free meter: nothing is counted)."""
    return s.room - ticks if s.bar else 0


def canonical(s: State) -> State:
    """`s` with what can no longer matter cleared, so equal situations share a mask."""
    stale = {}
    if s.last and s.prev != "note":
        stale["last"] = 0
    if s.kind and s.prev != "bar":
        stale["kind"] = ""
    if (s.upper or s.oct or s.pitch) and s.tok != "note":
        stale["upper"], stale["oct"], stale["pitch"] = False, 0, ""
    if (s.cn or s.cval) and not s.ctx:
        stale["cn"], stale["cval"] = 0, 0
    if s.meter and s.mode == "b":
        stale["meter"], stale["unit"] = "", ""
    return s._replace(**stale) if stale else s


def _bar_ticks(meter: str, unit: str) -> int:
    """Ticks in a full bar, or 0 (free meter) when the lengths cannot fill it exactly."""
    m = parse_meter(meter)
    if m is None:
        return 0
    ticks = m.bar_length / parse_unit(unit) * UNIT
    return int(ticks) if ticks.denominator == 1 and ticks % GRID == 0 else 0


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
