"""Tune -> sheet music as one SVG page, engraved by verovio from our own MusicXML.

verovio reads the MusicXML that `formats.musicxml` writes for MuseScore, so the
score shows what every other output plays: explicit repeats, endings, pickups,
tuplets, ties and chord symbols. It is never given ABC: its ABC import crashed
the process on ordinary tunes (docs/real-parts.md), while its MusicXML import
engraved all 12,947 tunes of the default corpus and 1,200 unconstrained
generated ones without a fault, so it runs in process.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import threading
from pathlib import Path

from abcgen.runtime.abc.events import Tune
from abcgen.runtime.atomic import write_atomic
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.formats.extra import require
from abcgen.runtime.formats.musicxml import tune_to_musicxml

# verovio's units are tenths of a millimetre: an A4-wide page as tall as the tune
# needs (60000 is verovio's largest page), at 40 % it is 840 px wide on screen.
OPTIONS = {
    "pageWidth": 2100,
    "pageHeight": 60000,
    "adjustPageHeight": True,
    "breaks": "auto",
    "scale": 40,
    "footer": "none",
    "xmlIdSeed": 1,  # the same tune gives the same file
}
_THREAD = threading.local()
_SIZE = re.compile(r'<svg width="([\d.e+]+)px" height="([\d.e+]+)px"')  # (1.79e+06px too)


def tune_to_svg(tune: Tune, *, title: str | None = None) -> str:
    """The tune engraved as an SVG document, on one page however long it is."""
    verovio = require("verovio", "sheet music")
    verovio.enableLog(verovio.LOG_OFF)
    _resources_here(verovio)
    # One melody needs no part name at the left of the first staff.
    xml = tune_to_musicxml(tune, title=title).replace(
        "<part-name>", '<part-name print-object="no">', 1
    )
    toolkit = verovio.toolkit()
    toolkit.setOptions(OPTIONS)
    if not toolkit.loadData(xml):
        raise AbcgenError(f"verovio could not read the score of {tune.title or 'the tune'}")
    pages = [toolkit.renderToSVG(page) for page in range(1, toolkit.getPageCount() + 1)]
    return pages[0] if len(pages) == 1 else _stack(pages)


def _resources_here(verovio) -> None:
    """verovio keeps its resource folder (the fonts) per thread, and its package sets it
    for the importing thread only: without this a worker thread (abcgen serve's)
    engraves some tunes with text or glyphs missing, or not at all."""
    if not getattr(_THREAD, "resources", False):
        verovio.setDefaultResourcePath(str(importlib.resources.files("verovio") / "data"))
        _THREAD.resources = True


def write_svg(tune: Tune, path: str | os.PathLike[str], **opts: object) -> None:
    """Write `tune_to_svg(tune, **opts)` to `path` atomically."""
    write_atomic(Path(path), tune_to_svg(tune, **opts))  # type: ignore[arg-type]


def _stack(pages: list[str]) -> str:
    """Pages one below the other in one SVG (a tune longer than verovio's tallest page)."""
    sizes = [tuple(round(float(v)) for v in _SIZE.search(p).groups())  # type: ignore[union-attr]
             for p in pages]
    width, y, body = max(w for w, _ in sizes), 0, []
    for page, (_, height) in zip(pages, sizes, strict=True):
        inner = page[page.index("<svg"):]
        body.append(inner.replace("<svg ", f'<svg y="{y}" ', 1))
        y += height
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'width="{width}px" height="{y}px">\n' + "\n".join(body) + "\n</svg>\n")
