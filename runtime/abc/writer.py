"""ABC text -> clean ABC text: a standard header and evenly broken music lines.

Works on the text rather than on parsed events so that nothing the parser does
not model (slurs, spacing that sets beams, decorations) is lost. The model emits
one long line of music; people and other ABC programs want `X:` and `T:` first,
`K:` last, and a few bars per line, with each part starting on a new line.
"""

from __future__ import annotations

import os
import re

from abcgen.runtime.atomic import write_atomic
from abcgen.runtime.errors import AbcgenError

_FIELD = re.compile(r"[A-Za-z+]:")
_INLINE_FIELD = re.compile(r"\[[A-Za-z]:")
# a bar line with any volta number attached to it: | || |] [| |: :| :: :|2 |[1 ...
_BAR = re.compile(r"(?:\[\||:*\|[|\]:]*|::+)(?:\[?\d+(?:[,\-]\d+)*)?")
_SECTION_END = re.compile(r"\|\]|\|\||:\||::")
_SKIP = re.compile(
    r'"[^"]*"|![^!]*!|\[[A-Za-z]:[^\]]*\]|\{[^}]*\}'
)  # text, decorations, fields, graces
_NOTE = re.compile(r"[A-Ga-gzx]")


def format_abc(
    tune_text: str, *, index: int = 1, title: str | None = None, bars_per_line: int = 4
) -> str:
    """One tune as clean ABC: `X:index`, `T:` (the given title, the tune's own, or
    'Untitled'), the other header fields, `K:`, then `bars_per_line` bars a line."""
    if bars_per_line < 1:
        raise AbcgenError(f"bars_per_line must be at least 1, got {bars_per_line}")
    lines = [line.rstrip() for line in tune_text.strip().splitlines()]
    header, body = _split_header(lines)
    titles = [f"T:{title}"] if title else [h for h in header if h.startswith("T:")]
    keys = [h for h in header if h.startswith("K:")] or ["K:C"]
    others = [h for h in header if not h.startswith(("X:", "T:", "K:"))]
    out = [f"X:{index}", *(titles or ["T:Untitled"]), *others, keys[-1]]

    lyrics = any(line.startswith("w:") for line in body)  # aligned to their music line
    music = ""
    for line in body:
        if not line.strip():
            break  # a blank line ends the tune
        if line.startswith("%") and not line.startswith("%%"):
            continue
        if _FIELD.match(line) or line.startswith("%%") or lyrics:
            out += _music_lines(music, bars_per_line)
            music = ""
            out.append(line if line.startswith(("%%", "w:", "W:")) else _strip_comment(line))
            continue
        text = _strip_comment(line)
        if text.endswith("\\"):
            music += text[:-1]
        else:
            music += text + " "  # a line break separates beams, like a space
    out += _music_lines(music, bars_per_line)
    return "\n".join(out) + "\n"


def write_abc(tune_text: str, path: str | os.PathLike[str], **opts: object) -> None:
    """Write `format_abc(tune_text, **opts)` to `path` atomically."""
    write_atomic(path, format_abc(tune_text, **opts))  # type: ignore[arg-type]


def _split_header(lines: list[str]) -> tuple[list[str], list[str]]:
    """Header lines (fields and %% directives, up to K:) and the lines after them."""
    header: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("%"):
            if line.startswith("%%"):
                header.append(line)
            continue
        if not _FIELD.match(line):
            return header, lines[i:]
        header.append(_strip_comment(line))
        if line.startswith("K:"):
            return header, lines[i + 1 :]
    return header, []


def _strip_comment(line: str) -> str:
    """The line without a trailing `%` comment (a `%` inside quotes is text)."""
    quoted = False
    for i, c in enumerate(line):
        if c == '"':
            quoted = not quoted
        elif c == "%" and not quoted and (i == 0 or line[i - 1] != "\\"):
            return line[:i].rstrip()
    return line.rstrip()


def _bars(music: str) -> list[str]:
    """The music cut after each bar line; quoted text, decorations and inline
    fields are skipped so a `|` inside them is not taken for a bar line."""
    cuts = []
    i = 0
    while i < len(music):
        c = music[i]
        if c == '"' or (c == "!" and "!" in music[i + 1 :]):
            end = music.find(c, i + 1)
            i = len(music) if end < 0 else end + 1
        elif _INLINE_FIELD.match(music, i):
            end = music.find("]", i)
            i = len(music) if end < 0 else end + 1
        elif m := _BAR.match(music, i):
            cuts.append(m.end())
            i = m.end()
        else:
            i += 1
    bars: list[str] = []
    start = 0
    for cut in [*cuts, len(music)]:
        piece = music[start:cut]
        start = cut
        if not piece.strip():
            continue
        if bars and not _BAR.sub("", piece).strip():  # `:| |:` belongs to one bar
            bars[-1] += piece
        else:
            bars.append(piece)
    return bars


def _music_lines(music: str, bars_per_line: int) -> list[str]:
    """Lines of `bars_per_line` bars; a part ends its line, a line never ends
    between a bar line and its ending number, and a pickup into a part (a first
    bar with half the notes of the next or fewer) is not counted."""
    bars = _bars(music)
    lines: list[str] = []
    line = ""
    count = 0
    for i, bar in enumerate(bars):
        pickup = not line and i + 1 < len(bars) and 2 * _notes(bar) <= _notes(bars[i + 1])
        line += bar if line else bar.lstrip()
        count += 0 if pickup else 1
        bar_line = _BAR.findall(bar)[-1] if _BAR.search(bar) else ""
        numbered = bar_line[-1:].isdigit()  # `|1`, `:|2`: the ending's music follows
        if not numbered and (count >= bars_per_line or _SECTION_END.search(bar_line)):
            lines.append(line.strip())
            line, count = "", 0
    if line.strip():
        lines.append(line.strip())
    return lines


def _notes(bar: str) -> int:
    return len(_NOTE.findall(_SKIP.sub("", bar)))
