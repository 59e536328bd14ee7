"""The constraint automaton: which character may come next, judged on an unfinished tune.

A character model sometimes writes a bar that is too long, leaves a chord open
or never ends. `step(state, ch)` follows a tune character by character and
returns the next state, or None when `ch` would break the tune; the mask of a
state is the set of characters it accepts (`Rules`, per vocabulary). Equal
states share one mask,
computed once (one `step` per character of the alphabet) and then looked up;
generation mostly asks only whether its pick is accepted (`accepts`), one
remembered transition. Never a parser copy per candidate character: the
parser judges finished text, the automaton must judge every prefix, so it
keeps its own small state but reads meters, units, keys, lengths and tuplets
with the parser's readers (abc/keys.py, abc/meter.py).

Every transition that opens something checks that it can be closed (a note
letter only when some length still fits the bar, `>` only when a second note
fits after it, `[` only when a chord, bar line or ending can follow it), so
every state the rules reach accepts at least one character. Should that ever
fail, the mask allows everything for that step and `Constraint.fallbacks`
counts it (the tests require zero).

The rules are plain functions of the immutable `State` (state.py), one module a
job, each importing what it calls: this module dispatches a character to them;
note_rules.py and bar_rules.py ask forms.py, where a form is asked for. What is
enforced: the subset of canonical tune text (normalise.py) that generation
writes, judged as `parser.py` judges it:
- header `M:` `L:` `K:` lines with values the parser reads, bars of at most four
  whole notes (state.HEADER);
- syntax: no dangling accidental, chord, grace group, tuplet, broken-rhythm
  marker, tie, slur or first ending; no blank line (it would end the tune);
- notes (note_rules.py): no note longer than what is left of the bar (longer notes
  are written tied across it), and what is left always stays fillable with
  the lengths allowed; broken rhythm between notes of equal length; a tie to
  a note of the same pitch, over plain bar lines only;
- bar lines, repeats, endings and the end (bar_rules.py);
- the form asked for: bars counted into parts, cadences (forms.py);
- past `steer_at` generated characters no new slur, tie, tuplet, grace group,
  ending or broken rhythm starts, notes and rests take at least half of the
  longest length that fits, and the next bar line that may end the tune must, so a
  tune ends within a bar or two instead of being cut off.

What generation never writes (chord symbols, fields in the body, chords with a
length after `]`, `(p:q:r`, `x` and `Z` rests) a prime may still hold: `feed`
follows chord symbols and `[K:]` fields, and gives up on the rest (`lost`: no
mask for that tune).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from abcgen.runtime.abc.normalise import BOS, EOS
from abcgen.runtime.constrain import bar_rules as bars
from abcgen.runtime.constrain import forms
from abcgen.runtime.constrain import note_rules as notes
from abcgen.runtime.constrain.forms import ASIDE, PENDING, tonic_letters
from abcgen.runtime.constrain.state import (
    BAR_PREFIXES,
    CACHE_LIMIT,
    COMPLETIONS,
    HEADER_LINES,
    HEADER_PREFIXES,
    LETTERS,
    TUPLETS,
    State,
    bar_ticks,
    beat_ticks,
    canonical,
    closing_room,
    fine_ticks,
    readable,
)

_BETWEEN = frozenset("Aa^z~{([|:12 \n><-)]}" + EOS)  # may start something between tokens
_CONTINUE = {"note": frozenset(",'0123456789/-"), "rest": frozenset("0123456789/"),
             "bar": frozenset("|]:")}  # characters that may continue a token
_BODY = frozenset("ABCDEFGabcdefgz^_=,'0123456789/|:[](){}~-<> \n" + EOS)


class Rules:
    """Cached masks and transitions for one vocabulary (shared by every tune)."""

    def __init__(self, vocab: Sequence[str]) -> None:
        self.vocab = list(vocab)
        self._masks: dict[State, np.ndarray] = {}
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
        self._letters = [(self.vocab[i], [i]) for rep, ids in self._groups if rep in "Aa"
                         for i in ids] + [g for g in self._groups if g[0] not in "Aa"]
        self.everything = np.ones(len(self.vocab), dtype=bool)
        self.nothing = np.zeros(len(self.vocab), dtype=bool)
        self.everything.flags.writeable = self.nothing.flags.writeable = False

    def mask(self, state: State) -> np.ndarray:
        """Read-only bool [vocab]: the ids whose character `step` accepts in `state`."""
        found = self._masks.get(state)
        if found is None:
            if len(self._masks) >= CACHE_LIMIT:  # a long-running process: start afresh
                self._masks.clear()
            shared = forms.shared(state) if state.form else state
            found = self._masks.get(shared) if shared is not state else None
            if found is None:
                found = self._compute(shared)
                found = self._masks[shared] = found if found.any() else self.nothing
            self._masks[state] = found
        return found

    def accepts(self, state: State, token: int) -> bool:
        """`mask(state)[token]`, without building the mask of a state not seen before."""
        found = self._masks.get(state)
        if found is not None:
            return bool(found[token])
        return self.next(state, token) is not None

    def next(self, state: State, token: int) -> State | None:
        """`step(state, vocab[token])`, remembered: a draw asks it twice (may the pick
        come next? then the state after it), and tunes keep meeting the same states.
        In a form, states that differ only in what `forms.shared` sets aside share one
        step."""
        key = (state, token)
        found = self._next.get(key, key)
        if found is key:
            if len(self._next) >= CACHE_LIMIT:
                self._next.clear()
            shared = forms.shared(state) if state.form else state
            if shared is state:
                found = step(state, self.vocab[token])
            else:
                alike = (shared, token)
                found = self._next.get(alike, alike)
                if found is alike:
                    found = self._next[alike] = step(shared, self.vocab[token])
                if found is not None:  # no bar line was closed: put back what was set aside
                    found = tuple.__new__(State, found[:ASIDE] + state[ASIDE:])
            self._next[key] = found
        return found

    def _compute(self, s: State) -> np.ndarray:
        if s.mode != "b":
            found = np.fromiter((step(s, ch) is not None for ch in self.vocab), bool,
                                len(self.vocab))
        elif s.tok in ("note", "rest", "bar"):
            # What does not continue the token acts on the state after it: reuse its mask.
            done = notes.commit_note(s) if s.tok != "bar" else bars.commit_bar(s)
            found = (self.mask(canonical(done)).copy() if done is not None
                     else np.zeros(len(self.vocab), bool))
            for i in self._body:
                ch = self.vocab[i]
                if ch in _CONTINUE[s.tok] or (ch == ":" and found[i]):
                    ok = s.tok == "bar" or ch in ",':-" or s.buf + ch in COMPLETIONS
                    found[i] = ok and step(s, ch) is not None
        else:
            found = np.zeros(len(self.vocab), dtype=bool)
            groups = self._singles
            if s.tok in ("", "[") and not s.tie:  # in a part's last bar letters differ
                groups = self._letters if s.form and forms.cadence_bar(s) else self._groups
            for ch, ids in groups:
                found[ids] = step(s, ch) is not None
        found.flags.writeable = False
        return found


# ------------------------------------------------------------------ dispatch


def step(s: State, ch: str, feed: bool = False) -> State | None:
    """The state after `ch`, or None when `ch` is not allowed here.

    feed=True follows a prime: it also takes what generation never writes
    (fields in the body, chord symbols, any header line the parser reads).
    """
    if s.mode == "x":
        return s
    if s.mode == "e":
        return None
    if ch == BOS:
        return s if feed and s == State(form=s.form) else None
    if s.mode == "h":
        return _header(s, ch, feed)
    tok = s.tok
    if tok:
        if tok == "note" or tok == "rest":
            nxt = notes.continue_note(s, ch)
            if nxt is not None:
                return nxt
            if (ch == ":" and s.prev in ("line", "start") and tok == "note"
                    and len(s.pitch) + len(s.buf) == 1):
                return None  # `A:`, `b:` at a line's start read as a field (abc2midi)
            done = notes.commit_note(s)
            if ch == "-":  # a tie, to a note of the same pitch (abc2midi insists)
                ok = (done is not None and tok == "note" and not s.ctx and not s.tleft
                      and not s.steer and (not s.form or forms.tie_ok(s)))
                return done._replace(prev="tie", tie=s.pitch) if ok else None
            s = done
        elif tok == "bar":
            if s.buf + ch in BAR_PREFIXES:
                nxt = s._replace(buf=s.buf + ch)
                return nxt if bars.bar_viable(nxt, feed) else None
            s = bars.commit_bar(s, feed)
        elif tok == "acc":
            if ch == s.buf and ch in "^_":
                return s._replace(buf=ch * 2)
            ok = ch in LETTERS and (not s.form or forms.letter_ok(s, ch, accidental=True))
            return notes.note(s._replace(tok=""), ch) if ok else None
        elif tok == "[":
            return _bracket(s, ch, feed)
        elif tok == "(":
            if ch.isdigit():
                return notes.tuplet(s, int(ch))
            # after a grace group a slur opens on its note: no second group (abc2midi)
            prev = "grace" if s.prev == "grace" else "sopen"
            s = s._replace(tok="", slur=s.slur + 1, prev=prev) if notes.slur_ok(s) else None
        else:
            return _skip(s, ch)
        if s is None:
            return None
    if ch == EOS:
        return bars.eos(s)
    if s.ctx:
        return notes.inner(s, ch)
    return _top(s, ch, feed)


# ------------------------------------------------------------------ header and fields


def _header(s: State, ch: str, feed: bool) -> State | None:
    if ch != "\n":
        line = s.buf + ch
        if s.form and s.form != PENDING and line == "M:n":
            return None  # a form counts bars: not in free meter
        return s._replace(buf=line) if feed or line in HEADER_PREFIXES[s.field] else None
    if not feed and s.buf not in HEADER_LINES[s.field]:
        return None
    s = _field(s._replace(buf=""), s.buf)
    if s.mode != "x" and not s.bar and s.meter != "none":  # the lengths cannot fill a bar
        return None if not feed else s._replace(mode="x")
    return s


def _field(s: State, line: str) -> State:
    """A header line, field line or inline field (without brackets)."""
    name, _, value = line.partition(":")
    if name not in ("M", "L", "K"):
        return s  # another header line of a prime: nothing to follow
    if not readable(name, value):
        return s._replace(mode="x")
    if s.mode == "b" and name != "K":
        return s._replace(mode="x")  # M: or L: mid-tune (rare; only in a prime): stop following
    if name == "M":
        s = s._replace(meter=value.strip())
    elif name == "L":
        s = s._replace(unit=value.strip())
    if s.mode == "b":
        return s
    bar = bar_ticks(s.meter, s.unit)
    s = s._replace(bar=bar, beat=beat_ticks(s.meter, s.unit) if bar else 0, room=bar,
                   fine=fine_ticks(s.unit), field=min(s.field + 1, 2))
    if name != "K":
        return s
    if s.form:  # a cadence needs the tonic spelled by the key signature
        tonic = tonic_letters(value)
        if not tonic or (not s.bar and s.form != PENDING):
            return s._replace(mode="x")
        s = s._replace(tonic=tonic)
    return s._replace(mode="b", prev="start")


def _skip(s: State, ch: str) -> State | None:
    """A chord symbol or a field, read from a prime."""
    if s.tok == "quote":
        if ch == "\n":
            return s._replace(mode="x")
        return s._replace(tok="") if ch == '"' else s
    inline = s.buf.startswith("[")
    if ch == ("]" if inline else "\n"):
        nxt = _field(s._replace(tok="", buf=""), s.buf.lstrip("["))
        return nxt if nxt.mode == "x" or inline else nxt._replace(prev="line")
    if ch == "\n":
        return s._replace(mode="x")
    return s._replace(buf=s.buf + ch)


# ------------------------------------------------------------------ body, top level


def _top(s: State, ch: str, feed: bool) -> State | None:
    prev = s.prev
    if s.form and s.part and forms.complete(s):
        return None  # the form is complete: only the end may come
    if s.steer and prev == "bar" and bars.eos(s) is not None:
        return None  # past the length cap, a bar line that may end the tune does
    if (s.steer and not s.bar and prev in ("note", "chord", "sclose")
            and ch not in (")" if s.slur else "|:") and not (s.tleft or s.brk or s.tie)):
        return None  # ... and in free meter, slurs close and the next bar line comes now
    if s.ending == 4:
        return None
    if s.ending == 3:  # a `:|` that closed a first ending takes its `2`
        return bars.ending(s, ch) if ch == "2" else s._replace(tok="[") if ch == "[" else None
    if ch in LETTERS:
        return notes.note(s, ch)
    if ch in "^_=":  # (no accidental on the tonic in a part's last bar: `#`, another letter)
        ok = not s.tie and notes.can_note(s, "#")
        return s._replace(tok="acc", buf=ch) if ok else None
    if ch == "z":
        if prev in ("deco", "grace") or s.tie or not notes.can_note(s, "z"):
            return None
        return s._replace(tok="rest", buf="", pitch="")
    if ch == "~":
        ok = prev not in ("deco", "grace") and not s.tie and notes.can_note(s)
        return s._replace(prev="deco") if ok else None
    if ch == "{":
        if prev in ("deco", "grace", "brk", "tup") or s.tleft or s.steer or s.tie:
            return None
        return s._replace(ctx="{", cn=0, prev="none") if notes.can_note(s) else None
    if ch == "(":
        if prev == "deco" or s.tie:
            return None
        ok = notes.slur_ok(s) or any(notes.tuplet(s, p) for p in TUPLETS)
        return s._replace(tok="(") if ok else None
    if ch == "[":
        nxt = s._replace(tok="[")
        return nxt if feed or any(_bracket(nxt, c, False) for c in "|12A") else None
    if ch in "|:":
        return bars.bar_start(s, ch, feed)
    if ch in "12":
        return bars.ending(s, ch)
    if ch == " " or ch == "\n":
        ok = prev in ("note", "chord", "bar", "end", "tie", "sclose")
        if not ok or s.tleft or s.brk or (s.steer and s.slur):
            return None
        if s.slur and s.room == closing_room(s) and s.form and forms.tune_ends_here(s):
            return None  # the slur closes first: after a space `)` cannot come
        return s._replace(prev="space" if ch == " " else "line")
    if ch in "><":
        return notes.broken(s, ch) if prev == "note" and s.last else None
    if ch == ")":
        ok = s.slur and prev in ("note", "chord", "sclose")
        return s._replace(prev="sclose", slur=s.slur - 1) if ok else None
    if feed and ch == '"':
        return s._replace(tok="quote")
    if feed and ch in "KLM" and prev in ("line", "start"):
        return s._replace(tok="field", buf=ch)
    return None


def _bracket(s: State, ch: str, feed: bool) -> State | None:
    """After `[`: a chord, `[|`, an ending `[1` `[2`, or (reading a prime) a field."""
    if ch in "12":
        return bars.ending(s._replace(tok=""), ch)
    if s.ending == 3:
        return None
    if ch == "|":
        return bars.bar_start(s, "[|", feed)
    if ch in LETTERS or ch in "^_=":
        if s.tleft or s.brk or s.tie or s.prev in ("deco", "grace") or not notes.can_note(s):
            return None
        return notes.inner(s._replace(tok="", ctx="[", cn=0, cforce=None, cval=0), ch)
    if feed and ch in "KLM":
        return s._replace(tok="field", buf="[" + ch)
    return None
