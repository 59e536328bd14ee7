"""The automaton's rules for bar lines, repeats, endings and the end of a tune.

A plain bar line only when the bar is exactly full, except the first bar (a
pickup). A part may end short (`||`, `:|`, `::`) only as musicians write it:
its pickup completes the bar (abc2midi replays a repeat from there). The next
bar then holds exactly the rest, the pickup into the next part, which may
open first (`:|` newline `|:` or `||`) and ends at a plain `|`; abc2midi counts
the two as one bar. The tune's last bar (`|]`) may be short. `::` or a first
ending only after their own `|:` (a part that ends `:|` without one repeats
from the last `:|`, as folk tunebooks write it); no `|:` open at the end; EOS
only right after `|]`, `||` or `:|` with nothing open. Plain functions of the
state; where a form is asked for, its say on bar lines comes from forms.py.
"""

from __future__ import annotations

from abcgen.runtime.constrain import forms
from abcgen.runtime.constrain.state import BARS, FINAL, SECTION, State


def bar_start(s: State, text: str) -> State | None:
    if s.tleft or s.brk or s.prev in ("deco", "grace", "brk", "sopen", "tup"):
        return None
    nxt = s._replace(tok="bar", buf=text)
    return nxt if bar_viable(nxt) else None


def bar_viable(s: State) -> bool:
    return any(bar_ok(s, b) for b in BARS if b.startswith(s.buf))


def bar_ok(s: State, kind: str) -> bool:
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
    formed = forms.formed(s)
    if formed and not forms.bar_ok(s, kind):
        return False
    if s.empty:  # no empty bars, but a line or the tune may begin with a bar line,
        if s.carry:  # and a part may open (`|:`, `||`) before the pickup into it
            return kind in ("|:", "||") and s.prev in ("line", "space")
        return s.prev in ("start", "line") or (formed and kind == "|:" and s.prev == "space")
    if s.carry and kind != "|":
        return False  # the pickup into a part ends at a plain bar line (abc2midi joins
        #               it to the short bar before only then)
    short = s.bar and s.room and not s.pickup
    if short and (kind not in SECTION or s.carry):
        return False  # a short bar only before a section
    if short and s.ending and kind not in (":|", "|]") and not (formed and kind == "||"):
        return False  # in an ending: a first one's `:|`, or the tune's last bar (with a
        #               form, a second ending's `||` and the pickup into the next part)
    if short and kind != "|]" and s.room != s.lead:
        return False  # the part's pickup completes it (abc2midi replays repeats from there)
    if s.steer:  # close what is open, then end (with a form: where the form ends)
        if s.slur:
            return s.prev not in ("note", "chord")
        if formed:
            return True
        if s.carry or s.tie:
            return kind == "|"
        if s.ending == 1 or s.repeat == 1:
            return kind == ":|"
        return kind in FINAL
    return True


def commit_bar(s: State) -> State | None:
    kind = s.buf
    if kind not in BARS or not bar_ok(s, kind):
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
    after = s._replace(tok="", buf="", room=s.room if short or s.empty else s.bar,
                       empty=True, lead=lead, carry=bool(short) or (s.carry and s.empty),
                       content=s.content or not s.empty, prev="bar", kind=kind,
                       ending=ending, repeat=repeat, last=0)
    return forms.commit_bar(s, after) if forms.formed(s) else after


def ending(s: State, ch: str) -> State | None:
    if s.prev != "bar":
        return None
    if s.tie:
        return None
    if ch == "1" and s.ending == 0 and s.kind == "|" and s.repeat < 2 and not s.steer:
        if forms.formed(s) and not forms.ending_ok(s):
            return None
        return s._replace(ending=1, prev="end")
    if ch == "2" and s.ending == 3:
        return s._replace(ending=2, prev="end")
    return None


def eos(s: State) -> State | None:
    ok = (s.prev == "bar" and s.kind in FINAL and s.content and not s.tie
          and not s.slur and s.ending in (0, 2, 4) and s.repeat != 1 and not s.ctx)
    if ok and forms.formed(s):
        ok = forms.complete(s)
    return s._replace(mode="e") if ok else None
