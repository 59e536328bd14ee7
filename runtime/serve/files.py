"""ABC text -> what the page shows and the files it offers, as `abcgen check` and
`abcgen convert` make them.

Files are written by convert's own writer (`convert_tune`) into a scratch
folder and read back, so a download is byte for byte the file `abcgen convert`
writes. verovio and FluidSynth each run one tune at a time: both keep state
for the whole process (verovio's resources, the stderr FluidSynth is kept
quiet on).
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from abcgen.runtime.abc.events import Tune
from abcgen.runtime.abc.form import read_form
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.formats.extra import require
from abcgen.runtime.formats.outputs import MAX_TUNE_CHARS, Job, convert_tune, read_tunes, too_long

# format name in a URL -> (suffix, media type)
FORMATS = {
    "abc": (".abc", "text/vnd.abc; charset=utf-8"),
    "mid": (".mid", "audio/midi"),
    "musicxml": (".musicxml", "application/vnd.recordare.musicxml+xml"),
    "svg": (".svg", "image/svg+xml"),
    "wav": (".wav", "audio/wav"),
}
_LOCKS = {"svg": threading.Lock(), "wav": threading.Lock()}


@dataclass(frozen=True)
class Facts:
    """What the archive's list shows and searches a tune by."""

    meter: str
    key: str
    form: str


def describe(text: str) -> tuple[Facts, dict]:
    """One tune's facts, and its check as `check` reports it (parsed once)."""
    tune = parse(text)
    found = read_form(tune)
    return (Facts(tune.fields.get("M", ""), tune.fields.get("K", ""),
                  found.text if found else ""), _report(1, 1, tune))


def tunes_of(data: bytes) -> list[tuple[int, str]]:
    """The tunes of an .abc file's bytes, each with the line it starts on, read as
    `abcgen check` reads a file (UTF-8, else Latin-1; a tunebook split at X:)."""
    with tempfile.TemporaryDirectory(prefix="abcgen-serve-") as folder:
        path = Path(folder) / "upload.abc"
        path.write_bytes(data)
        return read_tunes(path)


def check(data: bytes) -> list[dict]:
    """Each tune's title and diagnostics, lines counted from the top of the file."""
    report = []
    for index, (first, text) in enumerate(tunes_of(data), 1):
        if len(text) > MAX_TUNE_CHARS:
            report.append({"index": index, "line": first, "title": "", "valid": False,
                           "diagnostics": [{"line": first, "col": 1, "severity": "error",
                                            "message": f"not checked: {too_long(text)}"}]})
            continue
        report.append(_report(index, first, parse(text)))
    return report


def _report(index: int, first: int, tune: Tune) -> dict:
    shown = sorted(tune.diagnostics, key=lambda d: (d.line, d.col))
    return {"index": index, "line": first, "title": tune.title, "valid": tune.valid,
            "notes": len(tune.notes),
            "diagnostics": [{"line": first + d.line - 1, "col": d.col, "severity": d.severity,
                             "message": d.message} for d in shown]}


def render(text: str, fmt: str, *, index: int = 1, soundfont: Path | None = None) -> bytes:
    """One tune as the file `abcgen convert` writes for it (`index`: its place in the
    book, which its X: line keeps)."""
    suffix, _ = FORMATS[fmt]
    kind = {"mid": "midi", "wav": "audio"}.get(fmt, fmt)
    with tempfile.TemporaryDirectory(prefix="abcgen-serve-") as folder:
        job = Job(index, 1, text, Path(folder) / f"tune{suffix}")
        lock = _LOCKS.get(fmt)
        if lock is None:
            done = convert_tune(job, kind, soundfont=soundfont)
        else:
            with lock:
                if fmt == "svg":
                    _verovio_here()
                done = convert_tune(job, kind, soundfont=soundfont)
        if done.path is None:
            raise AbcgenError(f"nothing to {fmt}: {done.skipped}")
        return done.path.read_bytes()


def _verovio_here() -> None:
    """verovio keeps its resource folder (fonts) per thread, and its package sets it
    for the importing thread only: without this a worker thread engraves tunes with
    text or some glyphs not at all ("could not read the score")."""
    import importlib.resources

    verovio = require("verovio", "sheet music")
    verovio.setDefaultResourcePath(str(importlib.resources.files("verovio") / "data"))
