"""Cuts ABC text into tokens as it arrives, one character at a time if need be.

A token is handed out only once it is certain: its match stops short of the
end of the text received so far (or the text is closed), so `A` waits for the
next character in case it becomes `A2`, and `[` waits for two more in case it
is `[K:`. Tokens with an end mark (strings, `!..!`, comments, field lines)
wait for that mark; while they wait, new text is only searched for the mark,
so feeding a long unfinished string one character at a time stays linear.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

_LEN = r"\d{0,4}(?:/{1,4}\d{0,4})?"
_NUMBERS = r"\d{1,3}(?:[,-]\d{1,3}){0,8}"
BODY = re.compile(
    rf"""
     (?P<nl>\n)
    |(?P<ws>[ \t\r]+)
    |(?P<comment>%[^\n]*)
    |(?P<string>"[^"\n]*"?)
    |(?P<inline>\[[A-Za-z]:[^\]\n]*\]?)
    |(?P<ending>\[{_NUMBERS})
    |(?P<bar>(?P<barline>(?:\[\||\||:{{1,8}}(?=[:|]))[|:\]]{{0,8}})(?P<barending>{_NUMBERS})?)
    |(?P<note>(?P<acc>\^\^|\^|__|_|=)?(?P<step>[A-Ga-g])(?P<octave>[,']{{0,8}})(?P<len>{_LEN}))
    |(?P<rest>[zx](?P<rlen>{_LEN}))
    |(?P<mrest>[ZX](?P<bars>\d{{0,4}}))
    |(?P<chord_close>\](?P<clen>{_LEN}))
    |(?P<chord_open>\[)
    |(?P<grace_open>\{{/?)
    |(?P<grace_close>\}})
    |(?P<overlay>\(&|&\)?)
    |(?P<tuplet>\((?P<p>\d{{1,2}})(?::(?P<q>\d{{0,2}})(?::(?P<r>\d{{0,2}}))?)?)
    |(?P<slur_open>\()
    |(?P<slur_close>\))
    |(?P<tie>-)
    |(?P<broken>[<>]{{1,3}})
    |(?P<deco>![^!\n]*!?|\+[^+\n]*\+?|[.~H-Wh-w])
    |(?P<ignored>y\d*|[`$*\\])
    |(?P<other>.)
    """,
    re.X,
)
# At the start of a body line: a blank line ends the tune; `K:...` is a field line.
# A letter followed by ':' then '|' or ':' (`A:|`, `Z::`) is music, as abc2midi reads
# it; so are lower-case note letters followed by ':'.
LINE_START = re.compile(r"(?P<blank>[ \t\r]*(?:\n|$))|(?P<field>(?![A-Z]:[|:])[A-Zw+]:[^\n]*)")
# What a header line starts with; anything else is music.
HEADER_LINE = re.compile(r"[A-Za-z+]:|%|[ \t\r]*(?:\n|$)")
# Tokens that end with a mark of their own: what new text must contain to finish them.
_MARKS = {"comment": "\n", "field": "\n", "line": "\n", "string": '"\n', "inline": "]\n"}
_NEED = {kind: re.compile("[" + re.escape(chars) + "]") for kind, chars in _MARKS.items()}
_NEED["deco!"] = re.compile("[!\n]")
_NEED["deco+"] = re.compile("[+\n]")
_NEED["blank"] = re.compile(r"[^ \t\r]")


class Token(NamedTuple):
    """`kind` is a group name of BODY or LINE_START, or 'line' (a whole header
    line), 'music' (music before any K:, no text), 'stray' (a lone ! or +)."""

    kind: str
    text: str
    match: re.Match[str] | None
    line: int  # 1-based
    col: int  # 1-based


class Lexer:
    """Holds the text not yet cut into tokens. `header` is set by the reader:
    header text is handed out a whole line at a time."""

    def __init__(self) -> None:
        self.header = True
        self._continued = False  # the last header line ended with `\`
        self._buf = ""  # text being cut into tokens
        self._pos = 0  # first character of _buf not yet handed out
        self._parts: list[str] = []  # text received since, not yet joined to _buf
        self._need: re.Pattern[str] | None = None  # what new text must hold to go on
        self._offset = 0  # offset of _buf[0] in the whole text
        self._line = 1
        self._line_start = 0  # offset in the whole text where the current line begins
        self.work = 0  # characters examined, to check linearity without a clock

    @property
    def line(self) -> int:
        """Line (1-based) of the next character to cut."""
        return self._line

    @property
    def pending(self) -> str:
        """Text received that is not a certain token yet."""
        return self._buf[self._pos :] + "".join(self._parts)

    def feed(self, text: str) -> bool:
        """Take more text; False if it cannot finish the token that is waiting."""
        self._parts.append(text)
        self.work += len(text)
        if self._need is not None and not self._need.search(text):
            return False
        self._need = None
        return True

    def tokens(self, final: bool) -> Iterator[Token]:
        """Certain tokens from the text so far (all of it when `final`)."""
        if self._parts:
            self._offset += self._pos
            self._buf = self._buf[self._pos :] + "".join(self._parts)
            self._pos, self._parts = 0, []
        buf, n = self._buf, len(self._buf)
        while self._pos < n:
            pos = self._pos
            kind, m, end = self._next(buf, pos, final)
            if kind is None:
                self.work += n - pos
                return
            self.work += end - pos
            col = self._offset + pos - self._line_start + 1
            token = Token(kind, buf[pos:end], m, self._line, col)
            self._pos = end
            if kind in ("nl", "blank", "line") and buf.endswith("\n", pos, end):
                self._line += 1
                self._line_start = self._offset + end
            yield token

    def _next(self, buf: str, pos: int, final: bool) -> tuple[str | None, re.Match | None, int]:
        n = len(buf)
        at_line_start = self._offset + pos == self._line_start
        if self.header:
            if n - pos < 2 and not final:
                return self._wait(None)
            if not self._continued and not HEADER_LINE.match(buf, pos):
                self.header = False  # music before any K: field
                return "music", None, pos
            end = buf.find("\n", pos)
            if end < 0:
                return ("line", None, n) if final else self._wait("line")
            self._continued = buf[pos:end].rstrip("\r").endswith("\\")  # `T:...\` goes on
            return "line", None, end + 1
        if at_line_start:
            if n - pos < 2 and not final:
                return self._wait(None)
            m = LINE_START.match(buf, pos)
            if m and m.lastgroup == "blank" and m.end() == n and not buf.endswith("\n", 0, n):
                if not final:
                    return self._wait("blank")
            elif m and m.lastgroup == "field" and m.end() == n and not final:
                return self._wait("field")
            if m and (m.lastgroup == "field" or m.end() > pos):
                return m.lastgroup, m, m.end()
        m = BODY.match(buf, pos)
        assert m is not None  # `other` matches any character but a newline, `nl` that one
        kind, end = m.lastgroup or "other", m.end()
        if kind == "chord_open" and n - pos < 3 and not final:
            return self._wait(None)  # `[K:` and `[1` need to be seen whole
        if kind in ("bar", "ending") and end == n - 1 and buf[end] in ",-" and not final:
            return self._wait(None)  # `|1,` may still become `|1,3`
        if end == n and not final and kind != "ws":
            text = m.group()
            closed = len(text) > 1 and text[-1] == text[0] if kind in ("string", "deco") else False
            closed = closed or (kind == "inline" and text.endswith("]"))
            if not closed:
                return self._wait(kind if kind != "deco" or len(text) == 1 else "deco" + text[0])
        if kind == "deco" and len(m.group()) > 1 and m.group()[-1] != m.group()[0]:
            return "stray", m, pos + 1  # a lone `!` or `+`: skip it, read what follows
        return kind, m, end

    def _wait(self, kind: str | None) -> tuple[None, None, int]:
        self._need = _NEED.get(kind) if kind else None
        return None, None, 0
