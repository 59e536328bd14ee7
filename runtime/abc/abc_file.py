"""ABC files in: bytes to text and text to tunes, the one reader that `convert`,
`check`, `abcgen-live --abc` and the corpus all use, so that they agree on every file.

ABC 2.1 asks for UTF-8, but real tunebooks come in what their editor wrote:
UTF-16 with a byte-order mark (Windows Notepad), Windows-1252 (curly quotes and
dashes in titles), old Mac files ending lines with CR alone. What the file's
bytes meant is kept: a byte-order mark decides, else UTF-8, else Windows-1252
(which is Latin-1 but for 0x80-0x9F, where Windows puts ’ … – and where Latin-1
has only control characters). Line ends become `\\n`, and lines split on `\\n`,
`\\r\\n` and `\\r` only: `str.splitlines` also splits on form feeds, U+0085,
U+2028 and more, which the text of a tune may hold.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from abcgen.runtime.abc.normalise import LINE_END, split_tunebook
from abcgen.runtime.errors import AbcgenError

MAX_FILE_BYTES = 64 << 20  # the largest published tunebooks are a few MB
_BOMS = [(codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16")]  # fmt: skip  (UTF-32 LE starts like UTF-16 LE)
# Windows-1252 where it differs from Latin-1; the 5 bytes it leaves undefined stay Latin-1.
_CP1252 = {b: bytes([b]).decode("cp1252", "ignore") or chr(b) for b in range(0x80, 0xA0)}


def decode(data: bytes) -> tuple[str, str]:
    """The text of an ABC file's bytes, with `\\n` line ends, and the encoding read."""
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    try:
        text = data.decode(encoding or "utf-8")
        encoding = "utf-8" if encoding in (None, "utf-8-sig") else encoding
    except UnicodeDecodeError:
        if encoding not in (None, "utf-8-sig"):
            raise AbcgenError(f"bytes that are not {encoding.upper()}, though the file "
                              "starts with its byte-order mark") from None
        text, encoding = data.decode("latin-1").translate(_CP1252), "windows-1252"
    return LINE_END.sub("\n", text), encoding


def read_abc_text(path: Path) -> tuple[str, str]:
    """An .abc file's text and its encoding (see `decode`). At most MAX_FILE_BYTES are
    read, so a device or a huge file fails with a message rather than all memory."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise AbcgenError(f"cannot read {path}: {err.strerror or err}") from None
    if len(data) > MAX_FILE_BYTES:
        raise AbcgenError(f"{path} is larger than {MAX_FILE_BYTES >> 20} MB, far more than a "
                          "tunebook; is it an ABC file? (split a real one into smaller files)")
    try:
        return decode(data)
    except AbcgenError as err:
        raise AbcgenError(f"cannot read {path}: {err}") from None


def read_tunes(path: Path) -> list[tuple[int, str]]:
    """The tunes of an ABC file, each with the file line it starts on."""
    text, _ = read_abc_text(path)
    tunes = split_tunebook(text)
    line = text.count("\n", 0, text.find(tunes[0])) + 1 if tunes else 1
    out = []
    for tune in tunes:
        out.append((line, tune))
        line += tune.count("\n")
    return out
