"""Real MuseScore 3, headless, as the judge of the MusicXML we write.

Its exit code proves nothing (a garbage file exits 0 with a blank score), so
the verdict is its log and what it exported: the problems it printed while
importing each file, and the notes in its own MIDI and .mscx exports. One
process converts a batch (`mscore3 -j job.json`): each start costs seconds on
a busy machine. A file that crashes MuseScore ends the batch; the files after
it then have no outputs, which reads as a failure too.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import mido

from abcgen.runtime.abc.events import Note

MSCORE = shutil.which("mscore3") or shutil.which("mscore")
# Lines that are progress or known to be harmless: MuseScore 3 knows only major
# and minor, and says so for modal keys while still writing the right signature.
_HARMLESS = re.compile(r"QStandardPaths|^\s*to <|^\.\.\. success|Unsupported mode '\w+'|^\s*$")


@dataclass
class Imported:
    source: Path
    log: list[str] = field(default_factory=list)  # problem lines printed for this file
    outputs: list[Path] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.log and all(p.is_file() and p.stat().st_size > 0 for p in self.outputs)


def convert(jobs: dict[Path, list[Path]], timeout: float = 600) -> list[Imported]:
    """Convert each source into its outputs (format by suffix) in one MuseScore run."""
    assert MSCORE, "mscore3 is not installed (apt musescore3)"
    first = next(iter(jobs))
    job_file = first.parent / "musescore-job.json"
    job_file.write_text(
        json.dumps([{"in": str(s), "out": [str(o) for o in outs]} for s, outs in jobs.items()])
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(first.parent)}
    proc = subprocess.run(
        [MSCORE, "-j", str(job_file)], capture_output=True, text=True, timeout=timeout, env=env
    )
    results = {s: Imported(s, outputs=list(outs)) for s, outs in jobs.items()}
    current = None
    for line in (proc.stdout + proc.stderr).splitlines():
        m = re.match(r"convert <(.*)>\.\.\.$", line)
        if m:
            current = results.get(Path(m[1]))
        elif current is not None and not _HARMLESS.search(line):
            current.log.append(line)
    return list(results.values())


def midi_notes(path: Path, channel: int | None = None) -> list[tuple[Fraction, int]]:
    """(onset in whole notes, MIDI pitch) of the notes in a MIDI file (on one
    channel, or all), in time order."""
    midi = mido.MidiFile(path)
    notes = []
    for track in midi.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0 and channel in (None, msg.channel):
                notes.append((Fraction(tick, 4 * midi.ticks_per_beat), msg.note))
    return sorted(notes)


def mscx_note_count(path: Path) -> int:
    """Notes in MuseScore's own score file: what it made of the notation we wrote."""
    return path.read_text(encoding="utf-8").count("<Note>")


def unmatched(
    ours: list[tuple[Fraction, int]],
    theirs: list[tuple[Fraction, int]],
    windows: list[tuple[Fraction, Fraction]] = (),
) -> tuple[list[tuple[Fraction, int]], list[tuple[Fraction, int]]]:
    """Notes of each list that find no partner in the other: same pitch, onset
    within 2 ticks at 480 per quarter.

    `windows` (start, end in whole notes) are where programs legitimately differ:
    grace notes take time from the note they ornament, each program in its own
    way, and MuseScore plays trills and turns as extra notes where we play the
    written note. In a window our notes may match anywhere in it, and its extra
    notes are forgiven.
    """
    exact = Fraction(2, 1920)
    pool: dict[int, list[Fraction]] = {}
    for onset, pitch in theirs:
        pool.setdefault(pitch, []).append(onset)

    def window_of(onset: Fraction) -> tuple[Fraction, Fraction] | None:
        return next(((a, b) for a, b in windows if a <= onset < b), None)

    def take(onset: Fraction, pitch: int, lo: Fraction, hi: Fraction) -> bool:
        fits = [t for t in pool.get(pitch, []) if lo <= t <= hi]
        if not fits:
            return False
        pool[pitch].remove(min(fits, key=lambda t: abs(t - onset)))
        return True

    left = [n for n in ours if not take(*n, n[0] - exact, n[0] + exact)]
    left = [n for n in left if not ((w := window_of(n[0])) and take(*n, w[0], w[1]))]
    extra = [(t, p) for p, ts in pool.items() for t in ts if window_of(t) is None]
    return sorted(left), sorted(extra)


def play_windows(played: list[Note]) -> list[tuple[Fraction, Fraction]]:
    """Where `unmatched` should be lenient, from notes in played order: the note
    after grace notes, and notes with decorations (trills, rolls) MuseScore plays."""
    windows = []
    for before, note in itertools.pairwise([None, *played]):
        if not note.grace and (note.decorations or (before is not None and before.grace)):
            windows.append((note.onset, note.onset + note.duration))
    return windows
