"""Canonical tune text: the one form the model is trained on and primed with.

Training and generation must agree character for character, so the corpus
builder and the generator's prime both go through `normalise`. The output is
`M:`, `L:`, `K:` lines then the body, pure ASCII ABC with only musical tokens
left: no titles, comments, lyrics, annotations or decorations other than `~`.
Choices the ABC 2.1 standard leaves open, decided here (header values in
header.py):

- The body ends at the first blank line after the music (ABC's tune end).
- A plain final `|` becomes `|]`; `||`, `|]`, `:|` and other repeat ends stay;
  any other ending gets `|]` appended.
- A single voice declared with V: is kept (V: removed); two voices or `&` drop.
- Duplicates are decided by the split key (text without whitespace).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field

from abcgen.runtime.abc.bar_repair import repair_bars
from abcgen.runtime.abc.header import (
    Drop,
    default_unit_text,
    key_text,
    meter_text,
    unit_text,
)

BOS = "\x02"
EOS = "\x03"
NORMALISER_VERSION = "1"

MAX_LINE = 2000  # characters; longer lines are not music a person wrote



@dataclass
class Normalised:
    text: str | None
    steps: Counter[str] = field(default_factory=Counter)  # which steps fired, how often
    drop: str | None = None  # why the tune was dropped; None when kept


# ---------------------------------------------------------------- tunebook


_X_LINE = re.compile(r"^X:", re.M)
LINE_END = re.compile(r"\r\n?")  # with `\n`, the only line ends (not U+0085, U+2028...)


def split_tunebook(text: str) -> list[str]:
    """Raw tunes of a file, each from its X: line to the next X: line."""
    starts = [m.start() for m in _X_LINE.finditer(text)]
    if not starts:
        return [text] if re.search(r"^K:", text, re.M) else []
    ends = [*starts[1:], len(text)]
    return [text[a:b] for a, b in zip(starts, ends, strict=True)]


def split_of(text: str) -> str:
    """Fixed split of DESIGN.md, blind to whitespace so layout cannot leak a tune."""
    digest = hashlib.sha256("".join(text.split()).encode("utf-8")).hexdigest()
    bucket = int(digest[:8], 16) % 100
    return "train" if bucket < 90 else "valid" if bucket < 95 else "test"


# ---------------------------------------------------------------- body

# A field line, unless it is music such as `A:|` (a note, then a repeat).
_FIELD_LINE = re.compile(r"(?![A-GXZ]:[|:\[])([A-Zmrsw+]):(.*)")
_COMMENT = re.compile(r"(?<!\\)%.*")
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]")
_CHORD_SYMBOL = re.compile(
    r"[A-G][#b]?(?:maj|min|m|dim|aug|sus|add|M|o|[0-9+\-])*(?:/[A-G][#b]?)?(?:\([^)]*\))?"
)

# Pass 1: what is not music (strings, fields, decorations) and voice overlay.
_STRIP = re.compile(
    r'(?P<quote>"[^"]*"?)'
    r"|(?P<field>\[[A-Za-z]:[^\]]*\]?)"
    r"|(?P<deco>![^!\s]*!|\+[^+\s]*\+|[.H-Wh-w])"
    r"|(?P<overlay>&)"
)

# Pass 2: the music tokens; anything between them is junk and goes.
_LEN = r"\d*(?:/+\d*)?"
_NOTE = r"(?:\^\^|\^|__|_|=)?[A-Ga-g][,']*" + _LEN
_TOKEN = re.compile(
    r'(?P<sym>"[^"]*")'
    r"|(?P<field>\[[KLM]:[^\]]*\])"
    r"|(?P<bar>:*\[?\|[|\]]*:*(?:\d+(?:[,-]\d+)*)?|::+)"
    r"|(?P<ending>\[\d+(?:[,-]\d+)*)"
    rf"|(?P<chord>\[(?:\s*~?{_NOTE}-?)+\s*\]{_LEN})"
    rf"|(?P<grace>\{{/?(?:\s*{_NOTE})+\s*\}})"
    r"|(?P<tuplet>\(\d+(?::\d*:\d+|:\d+)?)"
    r"|(?P<slur>[()])"
    rf"|(?P<note>{_NOTE})"
    rf"|(?P<rest>[zx]{_LEN})"
    r"|(?P<mrest>[ZX]\d*)"
    r"|(?P<broken><+|>+)"
    r"|(?P<tie>-)"
    r"|(?P<roll>~)"
    r"|(?P<space>[ \t]+)"
)

Token = tuple[str, str]  # (kind, text); a K:/M:/L: line is one ('fieldline', text) token


def _inline_field(name: str, value: str, steps: Counter[str], voices: set[str]) -> str | None:
    """Canonical text of a K:/M:/L: field inside the body; None to drop it."""
    if name == "K":
        key = key_text(value, steps)
        if key is None:
            if value.strip().lower() == "none":
                raise Drop("bad-key")
            steps["key-clef-dropped"] += 1
            return None
        return f"K:{key}"
    if name == "M":
        return f"M:{meter_text(value, steps)}"
    if name == "L":
        return f"L:{unit_text(value)}"
    if name == "V":
        voices.add(value.split()[0] if value.split() else "")
    steps["field-dropped"] += 1
    return None


def _strip_line(line: str, keep_chords: bool, steps: Counter[str], voices: set[str]) -> str:
    def sub(m: re.Match[str]) -> str:
        kind = m.lastgroup
        text = m[0]
        if kind == "quote":
            inner = text[1:-1] if text.endswith('"') and len(text) > 1 else text[1:]
            if keep_chords and _CHORD_SYMBOL.fullmatch(inner):
                return f'"{inner}"'
            steps["quoted-dropped"] += 1
            return ""
        if kind == "field":
            kept = _inline_field(text[1], text[3:].rstrip("]"), steps, voices)
            return f"[{kept}]" if kept else ""
        if kind == "overlay":
            raise Drop("multi-voice")
        steps["decoration"] += 1
        return ""

    return _STRIP.sub(sub, line)


def _tokens(music: str, steps: Counter[str]) -> list[Token]:
    out: list[Token] = []
    pos = 0
    for m in _TOKEN.finditer(music):
        if m.start() > pos:
            steps["junk"] += m.start() - pos
        pos = m.end()
        kind, text = m.lastgroup, m[0]
        if kind == "space":
            if text != " " or not out or out[-1][0] == "space":
                steps["whitespace"] += 1
            if out and out[-1][0] != "space":
                out.append(("space", " "))
            continue
        if kind in ("chord", "grace"):
            text = "".join(text.split())
        out.append((kind, text))
    if pos < len(music):
        steps["junk"] += len(music) - pos
    if out and out[0][0] == "space":
        out.pop(0)
    if out and out[-1][0] == "space":
        out.pop()
        steps["whitespace"] += 1
    return out


def _spaced(lines: list[list[Token]]) -> bool:
    """Whether the tune mostly writes a space before its bar lines (its style)."""
    before = [
        line[j - 1][0] == "space"
        for line in lines
        for j in range(1, len(line))
        if line[j][0] == "bar"
    ]
    return sum(before) * 2 > len(before)


def _end_with_final_bar(line: list[Token], spaced: bool, steps: Counter[str]) -> None:
    kind, text = line[-1]
    if kind == "bar":
        if text.startswith(":") or text.endswith("]") or text == "||" or "::" in text:
            return
        line[-1] = ("bar", "|]")
        steps["final-bar-replaced"] += 1
        return
    line.append(("bar", " |]" if spaced else "|]"))
    steps["final-bar-added"] += 1


# ---------------------------------------------------------------- normalise


def normalise(raw: str, *, keep_chords: bool = False, fragment: bool = False) -> Normalised:
    """Canonical text of one raw tune, or the reason it is dropped.

    fragment=True is for a prime: no final bar line is added, an empty body is
    fine, and a trailing space or newline (where the model continues) is kept.
    """
    steps: Counter[str] = Counter()
    try:
        text = _normalise(raw, keep_chords, fragment, steps)
    except Drop as drop:
        return Normalised(None, steps, str(drop))
    return Normalised(text, steps)


def _normalise(raw: str, keep_chords: bool, fragment: bool, steps: Counter[str]) -> str:
    raw_lines = LINE_END.sub("\n", raw).split("\n")  # not str.splitlines: see LINE_END
    if any(len(line) > MAX_LINE for line in raw_lines):
        raise Drop("too-long-line")
    header: dict[str, str] = {}
    voices: set[str] = set()
    i = 0
    for i, line in enumerate(raw_lines):  # noqa: B007 - the body starts after K:
        line = _uncomment(line, steps)
        m = _FIELD_LINE.match(line)
        if m and m[1] in "KML":
            header[m[1]] = m[2]
        elif m and m[1] == "V":
            voices.add(m[2].split()[0] if m[2].split() else "")
        elif m:
            steps["field-dropped"] += 1
        elif line.strip():
            steps["header-junk"] += 1
        if m and m[1] == "K":
            break
    else:
        raise Drop("no-key")
    meter = meter_text(header["M"], steps) if "M" in header else "none"
    if "M" not in header:
        steps["meter-missing"] += 1
    if "L" in header:
        unit = unit_text(header["L"])
    else:
        unit = default_unit_text(meter)
        steps["unit-default"] += 1
    key = key_text(header["K"], steps)
    if key is None:
        raise Drop("no-key")

    body = _body_lines(raw_lines[i + 1 :], keep_chords, steps, voices)
    if len(voices) > 1:
        raise Drop("multi-voice")
    if voices:
        steps["voice-field-dropped"] += 1
    while body and body[-1][0][0] == "fieldline" and not fragment:
        body.pop()
        steps["trailing-field"] += 1
    if not fragment and not any(kind in ("note", "chord") for line in body for kind, _ in line):
        raise Drop("empty-body")
    if body:
        spaced = _spaced(body)
        repair_bars(body, meter, unit, " |" if spaced else "|", steps)
        if not fragment:
            _end_with_final_bar(body[-1], spaced, steps)
    out = [f"M:{meter}", f"L:{unit}", f"K:{key}"] + ["".join(t for _, t in line) for line in body]
    if any(len(line) > MAX_LINE for line in out):
        raise Drop("too-long-line")
    text = "\n".join(out)
    if fragment and (not body or raw.endswith(("\n", "\r"))):
        text += "\n"
    elif fragment and raw.endswith((" ", "\t")) and body:
        text += " "
    return text


def _uncomment(line: str, steps: Counter[str]) -> str:
    if "%" not in line:
        return line
    steps["directive" if line.startswith("%%") else "comment"] += 1
    return _COMMENT.sub("", line)


def _body_lines(
    lines: list[str], keep_chords: bool, steps: Counter[str], voices: set[str]
) -> list[list[Token]]:
    """Tokens per body line, continuations joined, up to the tune's blank line."""
    body: list[list[Token]] = []
    pending = ""  # a music line ending in `\`, waiting for its continuation
    started = False
    for n, line in enumerate(lines):
        if not line.strip():
            if started:
                if any(_uncomment(rest, Counter()).strip() for rest in lines[n:]):
                    steps["text-after-tune"] += 1
                break
            continue
        line = _uncomment(line, steps).rstrip()
        if not line:
            continue
        started = True
        m = _FIELD_LINE.match(line)
        if m:
            if m[1] in "KML":
                kept = _inline_field(m[1], m[2], steps, voices)
                if kept:
                    _add_line(body, pending, steps)  # a field line ends a continuation
                    pending = ""
                    body.append([("fieldline", kept)])
            elif m[1] == "V":
                _inline_field("V", m[2], steps, voices)
            else:
                steps["lyrics" if m[1] in "wW" else "field-dropped"] += 1
            continue
        if _BAD_CHARS.search(line):
            raise Drop("undecodable")
        music = pending + _strip_line(line, keep_chords, steps, voices).rstrip()
        if music.endswith("\\"):
            steps["continuation"] += 1
            pending = music[:-1]
            continue
        pending = ""
        _add_line(body, music, steps)
    _add_line(body, pending, steps)
    return body


def _add_line(body: list[list[Token]], music: str, steps: Counter[str]) -> None:
    found: Counter[str] = Counter()
    tokens = _tokens(music, found)
    steps.update(found)
    for _ in range(3 if found["junk"] else 0):  # junk taken out can join its neighbours
        again = _tokens("".join(text for _, text in tokens), Counter())
        if again == tokens:
            break
        tokens = again
    if tokens:
        body.append(tokens)
