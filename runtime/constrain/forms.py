"""Forms in generation, in one place: what `--form` asks for, what `auto` draws from,
and the rules the automaton keeps so that every tune it lets through has the form.

`auto` draws, for each tune once its meter is known, one of the forms the
training split uses for that meter, as often as the split uses it; the tunes
whose form no single form describes (parts of mixed lengths, M:none, rare
meters) are the share left `free` (the bar rules only). The table is the
training split read by `abc.form.read_form` (`python bench/corpus_forms.py`
prints it again; docs/DESIGN.md shows it). What a form is (`FormSpec`) and
reading one back from a finished tune are abc/form.py's; counting forms over
many tunes is evaluate/form_stats.py's.

The rules, with `State.form` set (a `FormSpec.key` such as `AABB:8`), on top of
the bar rules (bar_rules.py), as plain functions of the state:
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
kept, so a tonic can always still come.
"""

from __future__ import annotations

from dataclasses import dataclass

from abcgen.runtime.abc.form import FIFTH, TONIC, FormSpec, parse_form, spec_of
from abcgen.runtime.abc.keys import SEMITONE, SIGNS, STEPS, parse_key, pitch_class
from abcgen.runtime.constrain.state import UNIT, State
from abcgen.runtime.errors import AbcgenError

FREE, AUTO = "free", "auto"
DEFAULT_PART_BARS = 8

# meter -> (FormSpec.key, share of the meter's training tunes): the forms that at
# least 1 % (and 3) of a meter's tunes have, for meters with 100 training tunes or more.
AUTO_FORMS: dict[str, tuple[tuple[str, float], ...]] = {
    "2/4": (
        ("AABB:8", 0.164), ("A:8", 0.11), ("A:16", 0.105), ("A:12", 0.08), ("A:10", 0.059),
        ("A:14", 0.041), ("A:24", 0.03), ("A:20", 0.026), ("A:9", 0.026), ("A:15", 0.024),
        ("AB:8", 0.021), ("A:22", 0.02), ("A:11", 0.02), ("A:18", 0.02), ("A:13", 0.018),
        ("A:17", 0.015), ("A:19", 0.014), ("A:32", 0.013),
    ),
    "4/4": (
        ("A:8", 0.169), ("A:12", 0.131), ("A:16", 0.111), ("A:10", 0.07), ("AB:8", 0.063),
        ("AAB:4+8", 0.044), ("A:14", 0.038), ("AABB:8", 0.037), ("A:6", 0.028), ("A:20", 0.026),
        ("AABB:4", 0.024), ("A:9", 0.024), ("A:18", 0.023), ("A:24", 0.018), ("A:7", 0.018),
        ("A:11", 0.016), ("A:13", 0.016), ("A:4", 0.013), ("A:15", 0.012),
    ),
    "6/8": (
        ("AABB:8", 0.347), ("A:8", 0.125), ("A:12", 0.08), ("A:10", 0.059), ("AB:8", 0.057),
        ("A:16", 0.055), ("AABBCC:8", 0.029), ("A:9", 0.02), ("A:14", 0.018), ("A:18", 0.013),
        ("A:6", 0.013), ("A:20", 0.011), ("AAB:8", 0.01),
    ),
    "3/4": (
        ("A:8", 0.209), ("A:16", 0.183), ("A:12", 0.128), ("AB:8", 0.042), ("A:10", 0.038),
        ("A:24", 0.033), ("A:14", 0.032), ("A:20", 0.031), ("A:6", 0.025), ("A:18", 0.024),
        ("A:13", 0.021), ("AB:16", 0.017), ("A:4", 0.017), ("A:17", 0.012), ("A:9", 0.012),
        ("A:7", 0.012), ("A:15", 0.011), ("A:19", 0.011), ("A:32", 0.011), ("A:11", 0.011),
    ),
    "2/2": (
        ("AABB:8", 0.335), ("AB:8", 0.244), ("AAB:4+8", 0.141), ("AABB:4", 0.045),
        ("A:16", 0.018), ("AAB:8", 0.016), ("ABC:8", 0.015), ("A:8", 0.015),
        ("AABBCC:8", 0.011),
    ),
    "3/8": (
        ("A:16", 0.231), ("A:12", 0.131), ("A:8", 0.103), ("A:24", 0.077), ("A:15", 0.066),
        ("A:14", 0.043), ("A:18", 0.04), ("A:10", 0.031), ("A:20", 0.026), ("A:32", 0.023),
        ("A:25", 0.02), ("A:11", 0.02), ("A:28", 0.017), ("A:22", 0.017), ("A:17", 0.014),
        ("A:19", 0.014), ("A:21", 0.011), ("A:27", 0.011), ("A:30", 0.011),
    ),
    "4/2": (
        ("A:16", 0.105), ("A:10", 0.078), ("A:14", 0.074), ("A:12", 0.074), ("A:18", 0.066),
        ("A:20", 0.066), ("A:8", 0.059), ("A:13", 0.059), ("A:17", 0.055), ("A:22", 0.047),
        ("A:9", 0.043), ("A:19", 0.039), ("A:21", 0.035), ("A:11", 0.031), ("A:15", 0.023),
        ("A:26", 0.02), ("A:25", 0.016), ("A:4", 0.016), ("A:7", 0.012), ("A:23", 0.012),
        ("A:31", 0.012),
    ),
    "9/8": (
        ("AABB:4", 0.399), ("AAB:4+8", 0.184), ("AB:8", 0.101), ("AABB:4+8", 0.044),
        ("AB:4", 0.025), ("AABBCC:4", 0.025), ("AABC:4+8+8", 0.025), ("AABBC:4+4+8", 0.025),
        ("AABBCCDD:4", 0.025),
    ),
    "6/4": (
        ("A:8", 0.32), ("A:16", 0.098), ("A:12", 0.098), ("A:9", 0.09), ("A:10", 0.066),
        ("A:14", 0.057), ("A:6", 0.057), ("A:4", 0.041), ("A:15", 0.025), ("A:7", 0.025),
    ),
    "3/2": (
        ("A:8", 0.155), ("A:12", 0.155), ("A:4", 0.103), ("A:16", 0.095), ("A:20", 0.078),
        ("A:14", 0.052), ("A:17", 0.043), ("A:18", 0.034), ("A:24", 0.034), ("A:15", 0.026),
        ("A:22", 0.026), ("A:30", 0.026), ("A:10", 0.026),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class FormChoice:
    """What `--form` asks for: a fixed form, `auto` (per meter), or free (None, False)."""

    spec: FormSpec | None = None
    auto: bool = False

    @property
    def key(self) -> str:
        """`AABB:8`, `auto` or `free`."""
        return self.spec.key if self.spec else AUTO if self.auto else FREE

    def for_meter(self, meter: str, draw: float) -> FormChoice:
        """What a tune in `meter` is generated in: this form, or for `auto` the one its
        uniform `draw` picks (free for the share no form describes). For a caller that
        must fix the form before generating, as a live dance set does."""
        if not self.auto:
            return self
        key = auto_form(meter, draw)
        return FormChoice(spec_of(key)) if key else FormChoice()


def form_choice(text: str = AUTO, part_bars: int | None = None) -> FormChoice:
    """Read `--form` and `--part-bars`; AbcgenError naming what is wrong."""
    word = text.strip().lower()
    if word in (FREE, AUTO):
        if part_bars is not None:
            raise AbcgenError(f"--part-bars goes with a form such as AABB, not --form {word}")
        return FormChoice(auto=word == AUTO)
    try:
        return FormChoice(parse_form(text, DEFAULT_PART_BARS if part_bars is None else part_bars))
    except ValueError as err:
        raise AbcgenError(f"{err} (or --form auto, --form free)") from None


def auto_form(meter: str, draw: float) -> str:
    """The `FormSpec.key` that `auto` gives a tune in this meter for a uniform `draw`
    in [0, 1); '' (free) for the share of tunes no form describes."""
    for key, share in AUTO_FORMS.get(meter, ()):
        if draw < share:
            return key
        draw -= share
    return ""


def auto_forms(meter: str, draw: float) -> list[str]:
    """`auto_form` first, then the meter's other forms by share, then free: what to
    try in turn when a prime does not fit the form drawn."""
    first = auto_form(meter, draw)
    rest = [key for key, _ in AUTO_FORMS.get(meter, ())]
    return [first] + [key for key in rest if key != first] + ([""] if first else [])


PENDING = "?"  # State.form while `--form auto` waits for the meter
ASIDE = State._fields.index("tonic")  # State's fields from here on: see `shared`
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


# ------------------------------------------------------------------ where the tune is


def formed(s: State) -> bool:
    """A form is asked for and chosen (not free, not waiting for auto)."""
    return bool(s.form) and s.form != PENDING


def complete(s: State) -> bool:
    """All the form's parts are written: only the end may come."""
    return s.part >= len(spec_of(s.form).plays)


def shared(s: State) -> State:
    """The state whose masks and transitions `s` shares. Until the next bar line is
    closed, a part's bar count matters only in the last bar of a pass, and at the
    start of its first bar (where `|:` may come); the tonic only in a part's last
    bar; which part it is, its repeat and its pickup only at its end. Elsewhere
    tunes, parts and bars share them (`Rules.next` puts them back; a bar line
    being closed, `tok == 'bar'`, is followed as it is)."""
    if s.mode != "b" or s.tok == "bar" or s.form == PENDING:
        return s
    if s.fbar == _bars(s) - 1:
        return s
    if s.fbar == 0 and (s.empty or _must_open(s, spec_of(s.form))):
        return tuple.__new__(State, (*s[:ASIDE], "", *s[ASIDE + 1:]))
    # inside a part only plain bar lines stand: its repeats and pickup wait for its end
    return tuple.__new__(State, s[:ASIDE] + _MIDDLE)


def cadence_bar(s: State) -> bool:
    """Writing the last bar of a part's final pass, whose last note must be a cadence."""
    if not formed(s) or s.carry or not s.content or s.ending == 1:
        return False
    spec = spec_of(s.form)
    return s.part < len(spec.plays) and s.fbar == spec.lengths[s.part] - 1


def tune_ends_here(s: State) -> bool:
    """Writing the last bar of the last part."""
    return cadence_bar(s) and s.part == len(spec_of(s.form).plays) - 1


def closed(s: State) -> bool:
    """No more music: all parts are written (or a part must open with `|:` first)."""
    spec = spec_of(s.form)
    if s.part >= len(spec.plays):
        return True
    return _must_open(s, spec) and s.repeat != 1


def counts(s: State) -> bool:
    """The bar being closed counts (not empty, not the carry, not a short pickup)."""
    return not s.empty and not s.carry and (s.content or s.room == 0)


def cadences(s: State) -> tuple[int, ...]:
    """The `deg` values that end this part: 1 tonic, 2 fifth."""
    allowed = spec_of(s.form).cadence(s.part)
    return (1, 2) if FIFTH in allowed else (1,) if TONIC in allowed else ()


def _bars(s: State) -> int:
    """Bars of the part being written (0 once all are written)."""
    spec = spec_of(s.form)
    return spec.lengths[s.part] if s.part < len(spec.lengths) else 0


def _must_open(s: State, spec: FormSpec) -> bool:
    p = s.part
    return s.fbar == 0 and 0 < p < len(spec.plays) and spec.plays[p] == 2 and (
        spec.plays[p - 1] == 1 or s.repeat == 3)


def _degree(letter: str, s: State) -> int:
    up = letter.upper()
    return 1 if up == s.tonic[:1] else 2 if up == s.tonic[1:2] else 0


# ------------------------------------------------------------------ notes


def note_degree(s: State) -> int:
    """The cadence the note being written makes (a tied note none: its pitch may
    carry an accidental from the bar before)."""
    return 0 if s.tie else _degree(s.pitch[0], s)


def note_key(s: State, letter: str) -> object:
    """What a note (`letter`; 'z' a rest, '' not known yet) depends on in the form:
    False when no note may come, else a key for `note_rules.can_note`'s cache."""
    if closed(s):
        return False
    if not cadence_bar(s):
        return ""
    what = (s.deg if letter == "z" else 0 if s.tie else _degree(letter, s) if letter
            else -1)
    return (what, cadences(s), min(UNIT, s.bar // 2))


def spoils_cadence(s: State, ticks: int) -> bool:
    """A note or rest of `ticks` would leave the part's last bar without room for its
    cadence: a note or rest that is not the cadence leaves at least a unit length
    (L:; half a bar in bars shorter than two), so the cadence is a note, not a
    squeezed-in fraction of one."""
    if (s.room - ticks >= min(UNIT, s.bar // 2) or s.tok not in ("note", "rest")
            or not cadence_bar(s)):
        return False
    deg = note_degree(s) if s.tok == "note" else s.deg
    return deg not in cadences(s)


def letter_ok(s: State, letter: str, accidental: bool) -> bool:
    """No accidental on the tonic's or fifth's letter in a part's last bar."""
    return not (accidental and cadence_bar(s) and _degree(letter, s))


def tie_ok(s: State) -> bool:
    """No tie in the last bar of a part's pass: it ends at a section line, which a
    tie does not cross. (A note tied into a part's last bar may carry an accidental
    from the bar before: it never counts as the cadence, see `note_degree`.)"""
    if s.bar < 2 * UNIT:  # (a bar too short for a tied note and a cadence after it)
        return False
    return not (s.content and not s.carry and s.fbar == _bars(s) - 1)


# ------------------------------------------------------------------ bar lines


def bar_ok(s: State, kind: str) -> bool:
    """The form's say on the bar line `kind` (the bar rules have theirs too)."""
    spec = spec_of(s.form)
    parts = len(spec.plays)
    if s.part >= parts:
        return False
    repeated = spec.plays[s.part] == 2
    if s.empty:
        return kind == "|" or (kind == "|:" and repeated and s.fbar == 0 and s.repeat != 1)
    if not counts(s):
        return kind == "|" or (kind == "|:" and not s.content and repeated
                               and s.part == 0 and s.repeat != 1)
    if s.fbar + 1 < spec.lengths[s.part]:
        return kind == "|"
    if s.ending != 1 and s.deg not in cadences(s):
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


def commit_bar(s: State, after: State) -> State:
    """Count the bar `s` closes into its part, in the state `after` the bar line."""
    fbar = s.fbar + counts(s)
    if fbar < _bars(s):
        return after._replace(fbar=fbar, deg=0)
    if s.ending == 1:  # the second ending (one bar, as the first) takes its place
        return after._replace(fbar=s.fbar, deg=0, lead=s.lead)
    return after._replace(part=s.part + 1, fbar=0, deg=0)


def ending_ok(s: State) -> bool:
    """A first ending may open here: the last bar of a repeated part."""
    spec = spec_of(s.form)
    return (s.part < len(spec.plays) and spec.plays[s.part] == 2
            and s.fbar == spec.lengths[s.part] - 1)
