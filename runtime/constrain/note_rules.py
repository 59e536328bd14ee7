"""The automaton's rules for notes: pitches, lengths, chords, tuplets, broken rhythm.

A note letter is accepted only when some length still fits the bar, a length
only when what is left of the bar stays fillable with the lengths generation
writes, `>` only when a second note fits after it: every state reached
accepts at least one character. Plain functions of the state, as the other
rules; where a form is asked for, its say on a note comes from forms.py.
"""

from __future__ import annotations

from collections.abc import Callable

from abcgen.runtime.constrain import forms
from abcgen.runtime.constrain.state import (
    BROKEN_HALVES,
    CACHE_LIMIT,
    COMPLETIONS,
    LENGTHS,
    TUPLETS,
    State,
    closing_room,
    held,
    lands,
    less,
)

_FIT: dict[tuple, bool] = {}  # can_note's answers, by what they depend on


def note(s: State, ch: str) -> State | None:
    """A note letter."""
    if (s.tie and ch != s.tie[0]) or not can_note(s, ch):
        return None
    return s._replace(tok="note", buf="", pitch=ch)


def continue_note(s: State, ch: str) -> State | None:
    """`ch` continuing the note's octave marks or length; None when it does not."""
    if ch in ",'":
        marks = len(s.pitch) - 1
        ok = s.tok == "note" and not s.buf and marks < 3 and (ch == ",") == s.pitch[0].isupper()
        ok = ok and (not s.tie or s.tie.startswith(s.pitch + ch))
        return s._replace(pitch=s.pitch + ch) if ok else None
    if (ch.isdigit() or ch == "/") and s.tie in ("", s.pitch):
        prefix = s.buf + ch
        if any(_fits(s, full) for full in COMPLETIONS.get(prefix, ())):
            return s._replace(buf=prefix)
    return None


def can_note(s: State, letter: str = "") -> bool:
    """Whether some length fits a note of this letter ('z' a rest, '' any) here."""
    if not letter and forms.formed(s) and forms.cadence_bar(s):  # the letter decides:
        return any(can_note(s, x) for x in forms.letters_apart(s))  # try one of each kind
    form = forms.note_key(s, letter) if forms.formed(s) else None
    if form is False:
        return False
    closing = closing_room(s) if form is not None and forms.closes_pass(s) else -1
    steered = s.steer and (_steered_end(s), s.lands, letter == "z", s.carry, s.pickup,
                           s.form == "" and (s.bar, s.beat, s.lead))  # (a rest may end a landing)
    # everything _fits reads of the state, else a cached answer is another state's
    key = (s.room, s.bar > 0, s.fine, s.ctx, s.cforce, s.tleft, s.tp, s.tforce, s.brk, s.bval,
           s.steer, steered, s.tie != "" or s.prev in _WANTS_NOTE, closing, form)
    found = _FIT.get(key)
    if found is None:
        probe = s
        if form or steered:  # the letter decides in a part's last bar, a rest when steered
            probe = s._replace(tok="rest" if letter == "z" else "note" if letter else "",
                               pitch="" if letter == "z" else letter)
        if len(_FIT) >= CACHE_LIMIT:
            _FIT.clear()
        found = _FIT[key] = any(_fits(probe, length) for length in LENGTHS)
    return found


def commit_note(s: State) -> State | None:
    """The note or rest being written is complete: the state after it, or None when
    its length does not stand here."""
    length = s.buf
    if length not in LENGTHS or not _fits(s, length) or s.tie not in ("", s.pitch):
        return None
    base = s._replace(tok="", buf="", prev="note")
    if s.ctx == "{":
        return base._replace(cn=s.cn + 1)
    t = _ticks(s, length)
    if s.tok == "note" and (s.ctx != "[" or s.cforce is None):
        if s.form:
            base = base._replace(deg=forms.cadence_degree(s) if forms.cadence_bar(s) else 0)
        else:  # without a form: may this note end the tune (the bar rules ask at its end)
            base = base._replace(lands=lands(s))
    if s.ctx == "[":
        first = s.cforce is None
        return base._replace(cn=s.cn + 1, cforce=length if first else s.cforce,
                             cval=t if first else s.cval)
    group = {}
    if s.tleft:
        more = s.tleft > 1
        group = {"tleft": s.tleft - 1, "tforce": length if more else None,
                 "tp": s.tp if more else 0}
    last = t if not s.tleft and not s.brk else 0
    return base._replace(room=less(s, t), empty=False, brk=0, bval=0, last=last, tie="",
                         **group)


def broken(s: State, ch: str) -> State | None:
    """`>` or `<` after a note."""
    if s.tleft or s.steer:
        return None
    half = s.last // 2
    if half % s.fine:
        return None  # the pair would hold a note no score engraves
    room = less(s, half if ch == ">" else -half)
    nxt = s._replace(room=room, brk=BROKEN_HALVES[ch], bval=s.last, last=0, prev="brk")
    return nxt if can_note(nxt) else None


def tuplet(s: State, p: int) -> State | None:
    """`(p`."""
    if p not in TUPLETS or s.tleft or s.brk or s.steer or s.prev in ("grace", "deco"):
        return None
    nxt = s._replace(tok="", tleft=p, tp=p, tforce=None, prev="tup")
    return nxt if can_note(nxt) else None


def slur_ok(s: State) -> bool:
    return s.slur < 2 and not s.steer and can_note(s)


def inner(s: State, ch: str) -> State | None:
    """Inside a chord `[...]` or a grace group `{...}`: up to four notes."""
    if ch in "ABCDEFGabcdefg":
        return note(s, ch) if s.cn < 4 else None
    if ch in "^_=":
        ok = s.cn < 4 and can_note(s, "#")
        return s._replace(tok="acc", buf=ch) if ok else None
    if not s.cn:
        return None
    if s.ctx == "[" and ch == "]":
        return s._replace(ctx="", room=less(s, s.cval), empty=False, prev="chord", last=0,
                          cforce=None)
    if s.ctx == "{" and ch == "}":
        return s._replace(ctx="", prev="grace")
    return None


def _ticks(s: State, length: str) -> int:
    t = LENGTHS[length]
    if s.tleft and s.ctx != "{":
        t = t * TUPLETS[s.tp] // s.tp
    if s.brk:
        t = t * s.brk // 2
    return t


def _fits(s: State, length: str) -> bool:
    """Whether a note of this written length may stand here."""
    force = s.cforce if s.ctx == "[" else s.tforce if s.tleft else None
    if force is not None:  # (a tuplet's last note is never the cadence: see below)
        return length == force and not (
            s.form and s.tleft == 1 and not s.ctx
            and forms.spoils_cadence(s, _ticks(s, length)))
    if s.brk and LENGTHS[length] != s.bval:
        return False  # abc2midi: broken rhythm only between notes of equal length
    if LENGTHS[length] % s.fine:
        return False  # a note value no score engraves (a 256th), grace notes too
    if s.ctx == "{" or not s.bar:
        return True
    t = _ticks(s, length)
    if s.tleft:  # the first note sets the whole group: p notes of this length
        t *= s.tp
    if t > s.room or (s.room - t) % s.fine:
        return False
    if s.form and (forms.spoils_cadence(s, t) if not s.tleft
                   else not forms.leaves_cadence_room(s, t)):
        return False
    if forms.formed(s) and forms.closes_pass(s) and s.room - t < closing_room(s):
        return False  # (a first ending's bar too ends where the pickup leaves it)
    if s.steer and not s.brk and not s.tleft:  # long notes, to where the tune may end
        end = _steered_end(s)
        ready = s.lands or s.form  # (the note before lands: the bar may end the tune)
        if end and s.room == end and ready and not (s.tie or s.prev in _WANTS_NOTE):
            return False  # the bar may end the tune here: its bar line comes next
        goal = s.room - end if s.room > end else s.room
        if not (s.form or s.carry or s.pickup or s.tie or s.prev in _WANTS_NOTE) and s.beat:
            landing = _toward_landing(s, end)
            if landing is not None:
                return landing(t) and t <= goal
        return t <= goal and 2 * t >= _longest(goal, s.fine)
    return True


def _toward_landing(s: State, end: int) -> Callable[[int], bool] | None:
    """Steering a tune without a form to its end, in a bar that may still land (the
    tune ends only on a note that does, state.lands): a note that lands is long (at
    least half the longest that fits before `end`); any other stops at or before the
    latest beat a note that lands may start on, and is long too (at least half the
    longest that fits before it); after a note that lands only long rests come. None where
    the bar can no longer land (it fills up, and the next one will)."""
    last = max(0, (s.bar - end - held(s)) // s.beat * s.beat)  # the latest that lands
    start = s.bar - s.room
    if s.room <= end:
        return None
    longest = _longest(s.room - end, s.fine)
    if start > last:  # after a note that lands, long rests to where the bar may end
        return (lambda t: s.tok == "rest" and 2 * t >= longest) if s.lands else None
    if lands(s) or (s.tok == "rest" and s.lands):
        return lambda t: 2 * t >= longest
    return lambda t: start + t <= last and 2 * t >= _longest(last - start, s.fine)


_WANTS_NOTE = frozenset(("deco", "grace", "brk", "tup", "sopen"))  # what only a note follows


def _steered_end(s: State) -> int:
    """Where steered notes head in the bar: where its pickup leaves it when the bar may
    close a part (without a form any bar but the carry, the pickup itself; with one,
    the last bar of a part's pass), else the bar's end."""
    closes = forms.closes_pass(s) if forms.formed(s) else not (s.form or s.carry)
    return closing_room(s) if closes else 0


def _longest(room: int, fine: int) -> int:
    return max((v for v in LENGTHS.values() if v <= room and not v % fine
                and not (room - v) % fine), default=fine)
