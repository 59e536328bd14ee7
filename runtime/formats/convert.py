"""ABC file -> one .mid, .musicxml, .abc, .svg or .wav file per tune: what `abcgen
convert` does.

A tunebook holds many tunes and some of them are faulty; a faulty tune is still
converted (its diagnostics come back for the caller to show) so that one bad
bar does not cost the user the whole book.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from abcgen.runtime.abc.corpus import read_abc_text
from abcgen.runtime.abc.events import Diagnostic, Note, Tune
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.abc.tune import split_tunebook
from abcgen.runtime.abc.writer import write_abc
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.formats.extra import require
from abcgen.runtime.formats.midi import write_midi
from abcgen.runtime.formats.musicxml import write_musicxml
from abcgen.runtime.formats.soundfonts import find_soundfont

FORMATS = {".mid": "midi", ".midi": "midi", ".musicxml": "musicxml", ".xml": "musicxml",
           ".abc": "abc", ".svg": "svg", ".wav": "audio", ".flac": "audio",
           ".ogg": "audio"}  # fmt: skip


@dataclass
class Converted:
    index: int  # position of the tune in the file, from 1
    path: Path | None  # None: skipped, it has no notes
    title: str
    diagnostics: list[Diagnostic]  # line numbers count from the top of the file


def read_tunes(source: Path) -> list[tuple[int, str]]:
    """The tunes of an ABC file, each with the file line it starts on."""
    try:
        text, _ = read_abc_text(source)
    except OSError as err:
        raise AbcgenError(f"cannot read {source}: {err.strerror or err}") from None
    tunes = split_tunebook(text)
    line = text.count("\n", 0, text.find(tunes[0])) + 1 if tunes else 1
    out = []
    for tune in tunes:
        out.append((line, tune))
        line += tune.count("\n")
    return out


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


def convert_file(
    source: Path,
    target: Path,
    *,
    tune: int | None = None,
    bpm: float | None = None,
    program: int = 0,
    chords: bool = False,
    soundfont: Path | None = None,
) -> list[Converted]:
    """Write each tune of `source` (or only the `tune`-th, from 1) in the format that
    `target`'s suffix names: `target` itself for one tune, else OUT-1.ext, OUT-2.ext..."""
    target = Path(target)
    kind = output_kind(target)
    if kind == "audio":
        soundfont = find_soundfont(soundfont)
    tunes = read_tunes(source)
    if not tunes:
        raise AbcgenError(f"no tune in {source} (a tune starts with an X: or K: line)")
    if tune is not None:
        if not 1 <= tune <= len(tunes):
            raise AbcgenError(f"--tune {tune}: {source} has {len(tunes)} tune(s)")
        chosen = [(tune, *tunes[tune - 1])]
    else:
        chosen = [(i, *t) for i, t in enumerate(tunes, 1)]

    results = []
    for index, first_line, text in chosen:
        parsed = parse(text)
        diagnostics = [replace(d, line=d.line + first_line - 1) for d in parsed.diagnostics]
        if not any(isinstance(e, Note) for e in parsed.events):
            results.append(Converted(index, None, parsed.title, diagnostics))
            continue
        path = target if len(chosen) == 1 else target.with_stem(f"{target.stem}-{index}")
        if kind == "abc":
            write_abc(text, path, index=index)
        else:
            write_tune(kind, parsed, path, bpm=bpm, program=program, chords=chords,
                       soundfont=soundfont)
        results.append(Converted(index, path, parsed.title, diagnostics))
    if all(r.path is None for r in results):
        raise AbcgenError(f"no tune with notes in {source}")
    return results
