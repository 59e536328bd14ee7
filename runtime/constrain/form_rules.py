"""The automaton's rules for a form asked for: bars counted into parts, parts into a tune.

With `State.form` set (a `FormSpec.key` such as `AABB:8`), on top of the bar
rules (bar_rules.py):
- every part has the form's number of bars: the pickup bar and the bar that
  completes a short bar (the carry, the pickup into the next pass) are not
  counted; inside a part only plain bar lines stand, and every bar is full;
- a repeated part ends `:|` (or `::` into a repeated part), or has one-bar
  first and second endings `|1 ... :|2 ... ||`; a repeated part after a part
  played once, or after endings, opens with `|:` (abc2midi would otherwise
  repeat from an earlier `:|`); a part played once ends `||` (or `|:` into a
  repeated part); the last part ends the tune (`:|`, `||` or `|]`, then EOS);
- a part's last bar may be short only where the pickup completes it, the
  tune's last bar too;
- the last note of every part's final pass (its last bar, or its second
  ending) is the tonic of K:, the first part's of several also the fifth. A
  note counts by its letter: in that bar no accidental is written on the
  tonic's or the fifth's letter and no tie reaches it, so the key signature
  spells the pitch. A chord counts by its first note; rests after the note
  are fine.

As everywhere in the automaton, every transition keeps a way to finish: a note
or rest that would fill a part's last bar is refused unless the cadence is
kept, so a tonic can always still come. A mixin of `Rules`.
"""

from __future__ import annotations

from abcgen.runtime.abc.form import FIFTH, TONIC, FormSpec, spec_of
from abcgen.runtime.abc.keys import SEMITONE, SIGNS, STEPS, parse_key, pitch_class
from abcgen.runtime.constrain.state import UNIT, State

PENDING = "?"  # State.form while `--form auto` waits for the meter
ASIDE = State._fields.index("tonic")  # State's fields from here on: see `_shared`
_MIDDLE = ("", -1, -1, 0, 0)  # tonic, part, fbar, lead, repeat in the middle of a part
assert State._fields[ASIDE:] == ("tonic", "part", "fbar", "lead", "repeat")


def tonic_letters(key: str) -> str:
    """The letters of the key's tonic and of its fifth ('' when the key signature alters
    the tonic itself; the fifth left out when it is not a perfect fifth above it)."""
    parsed, _ = parse_key(key)
    letter = parsed.tonic[0]
    if parsed.alter_of(letter) != SIGNS[parsed.tonic[1:]]:
        return ""
    fifth = STEPS[(STEPS.index(letter) + 4) % 7]
    interval = SEMITONE[fifth] + parsed.alter_of(fifth) - pitch_class(parsed.tonic)
    return letter + (fifth if interval % 12 == FIFTH else "")


class FormRules:
    def _spec(self, s: State) -> FormSpec:
        return spec_of(s.form)

    def _shared(self, s: State) -> State:
        """The state whose masks and transitions `s` shares. Until the next bar line is
        closed, a part's bar count matters only in the last bar of a pass, and at the
        start of its first bar (where `|:` may come); the tonic only in a part's last
        bar; which part it is, its repeat and its pickup only at its end. Elsewhere
        tunes, parts and bars share them (`Rules.next` puts them back; a bar line
        being closed, `tok == 'bar'`, is followed as it is)."""
        if s.mode != "b" or s.tok == "bar" or s.form == PENDING:
            return s
        if s.fbar == self._bars(s) - 1:
            return s
        if s.fbar == 0 and (s.empty or self._must_open(s, self._spec(s))):
            return tuple.__new__(State, (*s[:ASIDE], "", *s[ASIDE + 1:]))
        # inside a part only plain bar lines stand: its repeats and pickup wait for its end
        return tuple.__new__(State, s[:ASIDE] + _MIDDLE)

    def _bars(self, s: State) -> int:
        """Bars of the part being written (0 once all are written)."""
        spec = self._spec(s)
        return spec.lengths[s.part] if s.part < len(spec.lengths) else 0

    def _formed(self, s: State) -> bool:
        """A form is asked for and chosen (not free, not waiting for auto)."""
        return bool(s.form) and s.form != PENDING

    def _cadence_bar(self, s: State) -> bool:
        """Writing the last bar of a part's final pass, whose last note must be a cadence."""
        if not self._formed(s) or s.carry or not s.content or s.ending == 1:
            return False
        spec = self._spec(s)
        return s.part < len(spec.plays) and s.fbar == spec.lengths[s.part] - 1

    def _tune_ends_here(self, s: State) -> bool:
        """Writing the last bar of the last part."""
        return self._cadence_bar(s) and s.part == len(self._spec(s).plays) - 1

    def _cadences(self, s: State) -> tuple[int, ...]:
        """The `deg` values that end this part: 1 tonic, 2 fifth."""
        allowed = self._spec(s).cadence(s.part)
        return (1, 2) if FIFTH in allowed else (1,) if TONIC in allowed else ()

    def _degree(self, letter: str, s: State) -> int:
        up = letter.upper()
        return 1 if up == s.tonic[:1] else 2 if up == s.tonic[1:2] else 0

    def _note_degree(self, s: State) -> int:
        """The cadence the note being written makes (a tied note none: its pitch may
        carry an accidental from the bar before)."""
        return 0 if s.tie else self._degree(s.pitch[0], s)

    def _closed(self, s: State) -> bool:
        """No more music: all parts are written (or a part must open with `|:` first)."""
        spec = self._spec(s)
        if s.part >= len(spec.plays):
            return True
        return self._must_open(s, spec) and s.repeat != 1

    def _must_open(self, s: State, spec: FormSpec) -> bool:
        p = s.part
        return s.fbar == 0 and 0 < p < len(spec.plays) and spec.plays[p] == 2 and (
            spec.plays[p - 1] == 1 or s.repeat == 3)

    def _note_key(self, s: State, letter: str) -> object:
        """What a note (`letter`; 'z' a rest, '' not known yet) depends on in the form:
        False when no note may come, else a key for `_can_note`'s cache."""
        if self._closed(s):
            return False
        if not self._cadence_bar(s):
            return ""
        what = (s.deg if letter == "z" else 0 if s.tie else self._degree(letter, s) if letter
                else -1)
        return (what, self._cadences(s), min(UNIT, s.bar // 2))

    def _spoils_cadence(self, s: State, ticks: int) -> bool:
        """A note or rest of `ticks` would leave the part's last bar without room for its
        cadence: a note or rest that is not the cadence leaves at least a unit length
        (L:; half a bar in bars shorter than two), so the cadence is a note, not a
        squeezed-in fraction of one."""
        if (s.room - ticks >= min(UNIT, s.bar // 2) or s.tok not in ("note", "rest")
                or not self._cadence_bar(s)):
            return False
        deg = self._note_degree(s) if s.tok == "note" else s.deg
        return deg not in self._cadences(s)

    def _letter_ok(self, s: State, letter: str, accidental: bool) -> bool:
        """No accidental on the tonic's or fifth's letter in a part's last bar."""
        return not (accidental and self._cadence_bar(s) and self._degree(letter, s))

    def _tie_ok(self, s: State) -> bool:
        """No tie in the last bar of a part's pass: it ends at a section line, which a
        tie does not cross. (A note tied into a part's last bar may carry an accidental
        from the bar before: it never counts as the cadence, see `_note_degree`.)"""
        if s.bar < 2 * UNIT:  # (a bar too short for a tied note and a cadence after it)
            return False
        return not (s.content and not s.carry and s.fbar == self._bars(s) - 1)

    def _counts(self, s: State) -> bool:
        """The bar being closed counts (not empty, not the carry, not a short pickup)."""
        return not s.empty and not s.carry and (s.content or s.room == 0)

    # ------------------------------------------------------------------ bar lines

    def _form_bar_ok(self, s: State, kind: str) -> bool:
        """The form's say on the bar line `kind` (the bar rules have theirs too)."""
        spec = self._spec(s)
        parts = len(spec.plays)
        if s.part >= parts:
            return False
        repeated = spec.plays[s.part] == 2
        if s.empty:
            return kind == "|" or (kind == "|:" and repeated and s.fbar == 0 and s.repeat != 1)
        if not self._counts(s):
            return kind == "|" or (kind == "|:" and not s.content and repeated
                                   and s.part == 0 and s.repeat != 1)
        if s.fbar + 1 < spec.lengths[s.part]:
            return kind == "|"
        if s.ending != 1 and s.deg not in self._cadences(s):
            return False
        if s.room and s.room != s.lead:
            return False  # only the pickup completes a short last bar
        last = s.part == parts - 1
        if last and s.ending != 1 and (s.slur or s.tie):
            return False  # the tune ends here: nothing may be left open
        next_repeated = not last and spec.plays[s.part + 1] == 2
        if s.ending == 1:
            return kind == ":|"
        if s.ending == 2:
            return kind == "||" or (last and kind == "|]")
        if repeated:
            return kind == ":|" or (kind == "::" and next_repeated)
        if last:
            return kind in ("||", "|]")
        return kind == "||" or (kind == "|:" and next_repeated)

    def _form_commit(self, s: State, after: State) -> State:
        """Count the bar `s` closes into its part, in the state `after` the bar line."""
        fbar = s.fbar + self._counts(s)
        if fbar < self._bars(s):
            return after._replace(fbar=fbar, deg=0)
        if s.ending == 1:  # the second ending (one bar, as the first) takes its place
            return after._replace(fbar=s.fbar, deg=0, lead=s.lead)
        return after._replace(part=s.part + 1, fbar=0, deg=0)

    def _form_ending_ok(self, s: State) -> bool:
        spec = self._spec(s)
        return (s.part < len(spec.plays) and spec.plays[s.part] == 2
                and s.fbar == spec.lengths[s.part] - 1)

    # ------------------------------------------------------------------ why a prime fails

    def form_refusal(self, s: State, ch: str) -> str:
        """Why the form refuses `ch` in state `s`, in a musician's words."""
        spec = self._spec(s)
        parts = len(spec.plays)
        if s.mode == "h":
            return "a form counts bars, and M:none has no bars to count"
        if not s.tonic:
            return "the key signature of K: does not spell its own tonic"
        if s.part >= parts:
            return f"the tune goes on after its {parts} parts"
        name = f"part {chr(65 + s.part)}"
        target = "the tonic or the fifth" if 2 in self._cadences(s) else "the tonic"
        if s.tok in ("note", "rest") and ch in "|:[ \n":
            done = self._commit_note(s)
            if done is None and self._cadence_bar(s):
                return f"{name} does not end on {target}"
            s = done or s
        if s.tok == "bar" or (not s.tok and ch in "|:"):
            counted = self._counts(s)
            if counted and s.fbar + 1 < spec.lengths[s.part]:
                return f"{name} ends after {s.fbar + 1} bars; it needs {spec.lengths[s.part]}"
            if counted and s.ending != 1 and s.deg not in self._cadences(s):
                return f"{name} does not end on {target}"
            if counted and s.room and s.room != s.lead:
                return f"the last bar of {name} is short by more than the pickup"
            if s.empty and spec.plays[s.part] == 1:
                return f"{name} is played once: it has no `|:`"
            ends = ("`:|` (or endings `|1 ... :|2 ... ||`)" if spec.plays[s.part] == 2
                    else "`|]`" if s.part == parts - 1 else "`||`")
            return f"bar {s.fbar + counted} of {name} ends here; its last bar ends with {ends}"
        if self._closed(s):
            return (f"{name} is repeated after a part played once or after endings: "
                    "open it with `|:`")
        if self._cadence_bar(s):
            return f"the last bar of {name} ends on the tonic, with no accidental or tie on it"
        return f"bar {s.fbar + 1} of {name} cannot take this"
