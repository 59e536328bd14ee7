"""ABC text -> clean ABC text: a standard header and evenly broken music lines.

Works on the text rather than on parsed events so that nothing the parser does
not model (slurs, spacing that sets beams, decorations) is lost. The model emits
one long line of music; people and other ABC programs want `X:` and `T:` first,
`K:` last, and a few bars per line, with each part starting on a new line.
Lines are joined and cut where the parser's own lexer finds tokens, so the
result plays as the input did, in abcgen and in abc2midi (tests/test_abc_roundtrip.py).
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from abcgen.runtime.abc.lexer import BODY
from abcgen.runtime.atomic import write_atomic
from abcgen.runtime.errors import AbcgenError

_FIELD = re.compile(r"[A-Za-z+]:")
_SECTION_END = re.compile(r"\|\]|\|\||:\||::")
_BLANK_LINES = re.compile(r"\A(?:[ \t\r]*\n)+")
_CLOSER = {"string": '"', "inline": "]"}  # tokens that end at their mark, else at the line end


def format_abc(
    tune_text: str, *, index: int = 1, title: str | None = None, bars_per_line: int = 4
) -> str:
    """One tune as clean ABC: `X:index`, `T:` (the given title, the tune's own, or
    'Untitled'), the other header fields, `K:`, then `bars_per_line` bars a line.
    The parser reads the result as it read `tune_text`: the same notes, bars and fields."""
    if bars_per_line < 1:
        raise AbcgenError(f"bars_per_line must be at least 1, got {bars_per_line}")
    # Lines end at `\n` alone, as the parser reads them (`abc_file` made CR ends `\n`).
    text = _BLANK_LINES.sub("", tune_text).rstrip(" \t\r\n")  # (` X:1` is music: kept)
    header, body = _split_header([line.rstrip("\r") for line in text.split("\n")])
    titles = [f"T:{title}"] if title else [h for h in header if h.startswith("T:")]
    keys = [h for h in header if h.startswith("K:")] or ["K:C"]
    others = [h for h in header if not h.startswith(("X:", "T:", "K:"))]
    out = [f"X:{index}", *(titles or ["T:Untitled"]), *others, keys[-1]]

    lyrics = any(line.startswith("w:") for line in body)  # aligned to their music line
    music = ""
    for line in body:
        if not line.strip(" \t"):
            break  # a blank line ends the tune
        if line.startswith("%") and not line.startswith("%%"):
            continue
        if _FIELD.match(line) or line.startswith("%%") or lyrics:
            out += _music_lines(music, bars_per_line)
            music = ""
            out.append(line if line.startswith(("%%", "w:", "W:")) or lyrics
                       else _strip_comment(line))
            continue
        music += _music_text(line) + " "  # a line break separates beams, like a space
    out += _music_lines(music, bars_per_line)
    return "\n".join(out) + "\n"


def write_abc(tune_text: str, path: str | os.PathLike[str], **opts: object) -> None:
    """Write `format_abc(tune_text, **opts)` to `path` atomically."""
    write_atomic(path, format_abc(tune_text, **opts))  # type: ignore[arg-type]


def _split_header(lines: list[str]) -> tuple[list[str], list[str]]:
    """Header entries (fields and %% directives, up to K:) and the lines after them.
    A line ending in `\\` goes on in the next, whatever that holds: both stay one
    entry, as written."""
    header: list[str] = []
    continued = False
    for i, line in enumerate(lines):
        if continued:
            header[-1] += "\n" + line
        elif line.startswith("%") and not line.startswith("%%") and not line.endswith("\\"):
            continue  # a comment
        elif not _FIELD.match(line) and not line.startswith("%"):
            if not _key_follows(lines[i:]):
                return header, lines[i:]
            header.append(line)  # `N bars...` (a field without its colon) before K: stays
            continue  # (the parser reads it as music: its `\` continues nothing)
        else:
            verbatim = line.startswith("%") or line.endswith("\\")
            header.append(line if verbatim else _strip_comment(line))
            if line.startswith("K:"):
                return header, lines[i + 1 :]
        continued = line.endswith("\\")
    return header, []


def _key_follows(lines: list[str]) -> bool:
    """Whether a K: line comes before the next blank line: then what stands before it
    is the header abc2midi reads (it skips a stray line there), not music."""
    for line in lines:
        if not line.strip(" \t"):
            return False
        if line.startswith("K:"):
            return True
    return False


def _strip_comment(line: str) -> str:
    """The line without a trailing `%` comment (a `%` inside quotes is text)."""
    quoted = False
    for i, c in enumerate(line):
        if c == '"':
            quoted = not quoted
        elif c == "%" and not quoted and (i == 0 or line[i - 1] != "\\"):
            return line[:i].rstrip()
    return line.rstrip()


def _music_text(line: str) -> str:
    """A music line as the parser reads it, ready to join to its neighbours: without
    its comment and its line-end `\\`, and without what only the line's end closes:
    a string or inline field left open (an error that would swallow the next line),
    a `!` or `+` with no partner on the line (ignored there; joined, it would pair
    with one on the next line). Between two tokens such a `!` becomes a back quote,
    which every reader ignores too, so that `G!2` does not become `G2`."""
    kept = []
    pos = 0
    while pos < len(line):
        m = BODY.match(line, pos)
        kind, text = m.lastgroup, m[0]
        if kind == "comment":
            break
        if kind == "deco" and len(text) > 1 and text[-1] != text[0]:
            text = text[0]  # lone, as the lexer reads it: the rest is read on
        pos += len(text)
        if kind in _CLOSER and (len(text) < 2 or text[-1] != _CLOSER[kind]):
            continue
        if kind == "deco" and text in ("!", "+"):
            text = "`" if kept and kept[-1][-1:] not in " \t" and line[pos:pos + 1].strip() else ""
        kept.append(text)
    text = "".join(kept).rstrip(" \t")
    return text[:-1] if text.endswith("\\") else text


class _Bar(NamedTuple):
    text: str  # the music up to and with its bar line
    bar_line: str  # the last bar line or ending in it ('' if none)
    notes: int


def _bars(music: str) -> list[_Bar]:
    """The music cut after each bar line, read by the parser's own lexer (so a `|`
    in a string, decoration or field is none); bar lines and endings with nothing
    between them (`:| |:`, `:| [2`) stay in one bar."""
    bars: list[_Bar] = []
    start = pos = notes = 0
    grace, alone = False, True  # in {...}; the piece holds bar lines only so far
    while pos < len(music):
        m = BODY.match(music, pos)
        kind = m.lastgroup
        pos = m.end()
        grace = kind == "grace_open" or (grace and kind != "grace_close")
        notes += kind in ("note", "rest") and not grace
        alone = alone and kind in ("ws", "bar", "ending")
        if kind in ("bar", "ending") and music[start:pos].strip():
            if alone and bars:
                last = bars.pop()
                text, notes = last.text + music[start:pos], last.notes
            else:
                text = music[start:pos]
            bars.append(_Bar(text, m[0], notes))
            start, notes, alone = pos, 0, True
    if music[start:].strip():
        bars.append(_Bar(music[start:], "", notes))
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
        pickup = not line and i + 1 < len(bars) and 2 * bar.notes <= bars[i + 1].notes
        line += bar.text if line else bar.text.lstrip()
        count += 0 if pickup else 1
        numbered = bar.bar_line[-1:].isdigit()  # `|1`, `:|2`, `[2`: the ending's music follows
        if not numbered and (count >= bars_per_line or _SECTION_END.search(bar.bar_line)):
            lines.append(_music_line(line))
            line, count = "", 0
    if line.strip():
        lines.append(_music_line(line))
    return lines


def _music_line(text: str) -> str:
    """A line of music that no reader takes for a field line (`A:|` starts with a note)."""
    text = text.strip()
    return " " + text if _FIELD.match(text) else text
