"""ABC file -> one .mid, .musicxml, .abc, .svg or audio file per tune: what `abcgen convert` does.

A tunebook holds many tunes and some of them are faulty; a faulty tune is still
converted (its diagnostics come back for the caller to show) so that one bad
bar does not cost the user the whole book; a tune too long to convert, or
beyond what the writers take (`abc.limits`), is skipped with the reason.
`plan` checks every destination before any work, and the caller converts job
by job, so it can show progress and report each file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from abcgen.runtime.abc.abc_file import read_tunes
from abcgen.runtime.abc.events import Diagnostic, Note, Tune
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.abc.writer import write_abc
from abcgen.runtime.atomic import check_writable
from abcgen.runtime.errors import AbcgenError, BeyondLimits
from abcgen.runtime.formats.extra import require
from abcgen.runtime.formats.midi import write_midi
from abcgen.runtime.formats.musicxml import write_musicxml
from abcgen.runtime.formats.soundfonts import find_soundfont

FORMATS = {".mid": "midi", ".midi": "midi", ".musicxml": "musicxml", ".xml": "musicxml",
           ".abc": "abc", ".svg": "svg", ".wav": "audio", ".flac": "audio",
           ".ogg": "audio"}  # fmt: skip
# A tune this long costs about 100 MB to convert (a MusicXML of 8 MB); the longest
# of the default corpus has 2,400 characters. A longer one is a missing X: line or junk.
MAX_TUNE_CHARS = 50_000
NO_NOTES = "it has no notes"


@dataclass
class Converted:
    index: int  # position of the tune in the file, from 1
    path: Path | None  # None: skipped
    title: str
    diagnostics: list[Diagnostic]  # line numbers count from the top of the file
    skipped: str | None = None  # why nothing was written


def output_kind(target: Path) -> str:
    """'abc', 'midi', 'musicxml', 'svg' or 'audio' from `target`'s suffix, once its folder
    is known to exist and the packages it needs are there: checked before any work, so
    a typo or a missing extra costs nothing."""
    kind = FORMATS.get(target.suffix.lower())
    if kind is None:
        raise AbcgenError(
            f"unknown output format {target.suffix or '(no suffix)'!r} for {target}: "
            f"use one of {', '.join(FORMATS)}"
        )
    if not target.parent.is_dir():
        raise AbcgenError(f"cannot write {target}: folder {target.parent} does not exist")
    if kind == "svg":
        require("verovio", "sheet music")
    elif kind == "audio":
        from abcgen.runtime.formats.audio import check_audio

        check_audio(target)
    return kind


def write_tune(
    kind: str,
    tune: Tune,
    path: Path,
    *,
    bpm: float | None = None,
    program: int = 0,
    chords: bool = False,
    soundfont: Path | None = None,
) -> None:
    """Write one parsed tune in the format `kind` names (any but 'abc', which is text)."""
    if kind == "midi":
        write_midi(tune, path, bpm=bpm, program=program, chords=chords)
    elif kind == "musicxml":
        write_musicxml(tune, path, program=program)
    elif kind == "svg":
        from abcgen.runtime.formats.svg import write_svg

        write_svg(tune, path)
    elif kind == "audio":
        from abcgen.runtime.formats.audio import write_audio

        write_audio(tune, path, soundfont=find_soundfont(soundfont), bpm=bpm, program=program,
                    chords=chords)
    else:
        raise ValueError(f"no writer for {kind!r}")


def numbered(target: Path, index: int) -> Path:
    """OUT-N.ext: where tune N of several goes."""
    return target.with_stem(f"{target.stem}-{index}")


@dataclass(frozen=True)
class Job:
    """One tune to convert: its place in the file, its text and where it goes."""

    index: int
    first_line: int
    text: str
    path: Path


def plan(source: Path, target: Path, *, tune: int | None = None) -> tuple[str, list[Job]]:
    """The output kind and one job per tune of `source` (or only the `tune`-th, from 1):
    `target` itself for one tune, else OUT-1.ext, OUT-2.ext... Every destination is
    checked first, so a read-only file or folder fails before any tune is written."""
    target = Path(target)
    kind = output_kind(target)
    tunes = read_tunes(source)
    if not tunes:
        raise AbcgenError(f"no tune in {source} (a tune starts with an X: or K: line)")
    if tune is not None:
        if not 1 <= tune <= len(tunes):
            raise AbcgenError(f"--tune {tune}: {source} has {len(tunes)} tune(s)")
        chosen = [(tune, *tunes[tune - 1])]
    else:
        chosen = [(i, *t) for i, t in enumerate(tunes, 1)]
    jobs = [Job(index, line, text, target if len(chosen) == 1 else numbered(target, index))
            for index, line, text in chosen]
    check_writable(*(job.path for job in jobs), inputs=[source])
    return kind, jobs


def convert_tune(job: Job, kind: str, *, bpm: float | None = None, program: int = 0,
                 chords: bool = False, soundfont: Path | None = None) -> Converted:
    """Write one tune; a tune without notes, or too long to convert, is skipped (its
    `skipped` says why) so that the rest of the book is still converted."""
    if len(job.text) > MAX_TUNE_CHARS:
        return Converted(job.index, None, "", [], skipped=too_long(job.text))
    parsed = parse(job.text)
    diagnostics = [replace(d, line=d.line + job.first_line - 1) for d in parsed.diagnostics]
    if not any(isinstance(e, Note) for e in parsed.events):
        return Converted(job.index, None, parsed.title, diagnostics, skipped=NO_NOTES)
    if kind == "abc":
        write_abc(job.text, job.path, index=job.index)
        return Converted(job.index, job.path, parsed.title, diagnostics)
    try:
        write_tune(kind, parsed, job.path, bpm=bpm, program=program, chords=chords,
                   soundfont=soundfont)
    except BeyondLimits as err:
        return Converted(job.index, None, parsed.title, diagnostics, skipped=str(err))
    return Converted(job.index, job.path, parsed.title, diagnostics)


def too_long(text: str) -> str:
    return (f"it is {len(text):,} characters long, and abcgen reads tunes of up to "
            f"{MAX_TUNE_CHARS:,} (is a tune's end missing its X: line?)")
