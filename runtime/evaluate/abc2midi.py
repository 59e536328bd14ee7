"""abc2midi (apt `abcmidi`) as the reference: its messages, bar-length
warnings and the notes of the MIDI file it writes.

abc2midi plays a tune rather than transcribing it, so before comparing notes
its playback habits are turned off or undone (see ../shared/notes/real-parts.md):

- options `-NGRA` (no grace notes), `-NFER` (fermatas not lengthened), `-NGUI`
  (chord symbols not played); the directive `%%MIDI chordattack 0` (chord
  notes together);
- decorations it plays as extra or shorter notes (`~ T R H .`, `!..!`, `+..+`)
  are blanked out; R: (hornpipe swing), I: and the tune's own `%%` directives
  (`%%MIDI transpose`...) are commented out, all but `%%propagate-accidentals`
  and `%%MIDI ratio` (also as `I:MIDI ratio`), which the parser reads too;
- every note starts one tick late: onsets are moved back by that tick.

P: (part order) is kept: abc2midi plays the parts in the header's order, as
`repeats.expand` does.

`-NGRA` also forgets a grace note's accidental, which abc2midi otherwise
carries to the rest of the bar, as the parser does: a known difference.

"Written order" (no repeats) is got by blanking repeat signs and ending
numbers and commenting out P:, so abc2midi plays every bar once, first to
last, as written; the edits keep every line in place and change no note,
length or bar line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import mido

from abcgen.runtime.abc.events import Note
from abcgen.runtime.abc.repeats import tied
from abcgen.runtime.errors import AbcgenError

_PREFIX = ["X:1", "%%MIDI chordattack 0"]
_OPTIONS = ["-NGRA", "-NFER", "-NGUI"]
_MESSAGE = re.compile(r"^(Error|Warning) in line-char (\d+)-(\d+) : (.*)$")
_BAR = re.compile(
    r"Track \d+ Bar (\d+) has (\S+) time units while the time signature has (\S+)( in repeat)?"
)
# Pieces of a music line; what each becomes is decided in _edit.
_MUSIC = re.compile(
    r"""(?P<keep>"[^"]*"?|%.*|\[[A-OQ-Za-z]:[^\]]*\]?)
    |(?P<part>\[P:[^\]]*\]?)
    |(?P<deco>![^!]*!|\+[^+]*\+|[~TRH.])
    |(?P<bar>:*\[?\|+\]?:*|::+)(?P<number>\[?\d+(?:[,-]\d+)*)?
    |(?P<ending>\[\d+(?:[,-]\d+)*)""",
    re.X,
)
_KEPT = re.compile(r"%%propagate-accidentals|(?:%%|I:)\s*MIDI\s+ratio\b")  # the parser reads them
TICKS_PER_WHOLE = 1920  # abc2midi writes 480 ticks per quarter note


@dataclass(frozen=True, slots=True)
class RefNote:
    """A sounding note: what the comparison looks at."""

    onset: Fraction  # whole notes
    duration: Fraction
    pitch: int  # MIDI


@dataclass(frozen=True, slots=True)
class Message:
    severity: str  # 'error' or 'warning'
    line: int  # in the text given, 1-based
    col: int  # 0-based, as abc2midi counts
    text: str


@dataclass
class Reference:
    notes: list[RefNote] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    length: Fraction | None = None  # the MIDI file's longest track, in whole notes

    @property
    def bar_warnings(self) -> list[Message]:
        """Bar-length warnings of the first pass (not repeated ' in repeat')."""
        return [m for m in self.messages if (b := _BAR.search(m.text)) and not b[4]]


def run_abc2midi(
    text: str, *, written_order: bool = False, neutral: bool = True, timeout: float = 30
) -> Reference:
    """Run the real abc2midi on one tune (the first, if several) and read its output.
    `neutral=False` plays the tune as written, abc2midi's habits and all (options and
    `neutralise` unused): to tell whether two texts of a tune play the same."""
    exe = shutil.which("abc2midi")
    if exe is None:
        raise AbcgenError("abc2midi not found: install it (Debian/Ubuntu: apt install abcmidi)")
    prefix = _PREFIX if neutral else [] if text.startswith("X:") else _PREFIX[:1]
    body = neutralise(text, written_order=written_order) if neutral else text
    source = "\n".join([*prefix, body])
    with tempfile.TemporaryDirectory(prefix="abcgen-abc2midi-") as tmp:
        abc, mid = Path(tmp) / "tune.abc", Path(tmp) / "tune.mid"
        abc.write_text(source, encoding="utf-8")
        try:
            run = subprocess.run(
                [exe, str(abc), "-o", str(mid), *(_OPTIONS if neutral else [])],
                capture_output=True, text=True, errors="replace", timeout=timeout, cwd=tmp,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise AbcgenError(f"abc2midi took longer than {timeout:g} s") from None
        reference = Reference(messages=_messages(run.stdout, len(prefix)))
        if mid.exists():
            reference.notes, reference.length = _read_notes(mid)
    return reference


def neutralise(text: str, *, written_order: bool = False) -> str:
    """The tune with abc2midi's playback habits blanked out (see the module doc)."""
    lines = text.split("\n")
    in_body = False
    for i, line in enumerate(lines):
        if re.match(r"[A-Za-z+]:", line):
            if (line[0] in "XRI" and not _KEPT.match(line)) or (line[0] == "P" and written_order):
                lines[i] = "%" + line
            in_body = in_body or line[0] == "K"
        elif line.startswith("%%") and not _KEPT.match(line):
            lines[i] = "% " + line[2:]  # the tune's own playback directives
        elif in_body and not line.startswith("%"):
            lines[i] = _MUSIC.sub(lambda m: _edit(m, written_order), line)
    return "\n".join(lines)


def _edit(m: re.Match[str], written_order: bool) -> str:
    text = m.group()
    if m["keep"] is not None:
        return text
    if m["deco"] is not None or (m["part"] is not None and written_order):
        return " " * len(text)
    if not written_order or m["part"] is not None:
        return text
    if m["ending"] is not None:
        return " " * len(text)
    bar = m["bar"].replace(":", "") or "|"
    return bar.ljust(len(text))


def _messages(stdout: str, shift: int) -> list[Message]:
    found = []
    for line in stdout.splitlines():
        m = _MESSAGE.match(line.strip())
        if m:
            found.append(Message(m[1].lower(), int(m[2]) - shift, int(m[3]), m[4]))
    return found


def _read_notes(path: Path) -> tuple[list[RefNote], Fraction]:
    """The notes, and the length of the longest track (abc2midi adds a short tail)."""
    midi = mido.MidiFile(str(path))
    per_whole = 4 * midi.ticks_per_beat
    notes: list[RefNote] = []
    length = 0
    for track in midi.tracks:
        length = max(length, sum(msg.time for msg in track))
        now, sounding = 0, {}
        for msg in track:
            now += msg.time
            if msg.type not in ("note_on", "note_off") or msg.channel == 9:
                continue
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault(key, []).append(now)
            elif sounding.get(key):
                start = sounding[key].pop(0)
                onset = max(start - 1, 0)  # abc2midi starts every note one tick late
                notes.append(RefNote(Fraction(onset, per_whole), Fraction(now - onset, per_whole),
                                     msg.note))  # fmt: skip
    return sorted(notes, key=lambda n: (n.onset, n.pitch)), Fraction(length, per_whole)


def comparable(notes: Iterable[Note]) -> list[RefNote]:
    """Our notes as abc2midi sounds them: rests and grace notes dropped, ties joined
    in written order as abc2midi joins them (`repeats.tied`; `expand` has already)."""
    notes = list(notes)
    lengths, silent = tied(notes)
    merged = [
        RefNote(n.onset, lengths.get(i, n.duration), n.pitch.midi)
        for i, n in enumerate(notes)
        if n.pitch is not None and not n.grace and i not in silent
    ]
    return sorted(merged, key=lambda n: (n.onset, n.pitch))


def first_difference(
    ours: list[RefNote], reference: list[RefNote],
    tolerance: Fraction = Fraction(2, TICKS_PER_WHOLE),
) -> str | None:
    """None when both note lists agree (times within `tolerance`, for abc2midi's
    rounding to ticks), else the first disagreement, starting with its kind:
    'count', 'pitch', 'onset' or 'duration'."""
    for a, b in zip(ours, reference, strict=False):
        if abs(a.onset - b.onset) > tolerance:
            return f"onset: ours {a.pitch} at {a.onset}, abc2midi {b.pitch} at {b.onset}"
        if a.pitch != b.pitch:
            return f"pitch at {a.onset}: ours {a.pitch}, abc2midi {b.pitch}"
        if abs(a.duration - b.duration) > tolerance:
            return f"duration of {a.pitch} at {a.onset}: ours {a.duration}, abc2midi {b.duration}"
    if len(ours) != len(reference):
        return f"count: ours {len(ours)} notes, abc2midi {len(reference)}"
    return None
