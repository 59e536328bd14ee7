"""ABC files as editors write them: UTF-16 with a byte-order mark, Windows-1252,
Latin-1, CR or CRLF line ends. One reader (runtime/abc/abc_file.py) serves
`check`, `convert`, `abcgen-live --abc` and the corpus, so each file reads the same
everywhere: the installed commands are run on real files, and abc2midi on the same
bytes is the reference where it reads them."""

from __future__ import annotations

import shutil

import mido
import pytest
from cli import run

from abcgen.runtime.abc.abc_file import decode, read_tunes
from abcgen.runtime.abc.corpus import build_corpus
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.evaluate.abc2midi import run_abc2midi

TUNE = "X:1\nT:{title}\nM:2/4\nL:1/8\nK:D\nABcd|efga|\nf2d2|A4|]\n"
NOTES = 11

ENCODED = {
    "utf-8": TUNE.format(title="Neil Gow’s Wife …").encode("utf-8"),
    "utf-8 with BOM": b"\xef\xbb\xbf" + TUNE.format(title="Łódź").encode("utf-8"),
    "utf-16 LE with BOM": TUNE.format(title="茉莉花").encode("utf-16"),
    "utf-16 BE with BOM": b"\xfe\xff" + TUNE.format(title="茉莉花").encode("utf-16-be"),
    "utf-32 with BOM": TUNE.format(title="茉莉花").encode("utf-32"),
    "windows-1252": TUNE.format(title="Neil Gow’s Wife … – “x”").encode("cp1252"),
    "latin-1": TUNE.format(title="Café à la crème").encode("latin-1"),
    "CR line ends": TUNE.format(title="old Mac").replace("\n", "\r").encode("ascii"),
    "CRLF line ends": TUNE.format(title="DOS").replace("\n", "\r\n").encode("ascii"),
}
TITLES = {
    "utf-8": "Neil Gow’s Wife …", "utf-8 with BOM": "Łódź", "utf-16 LE with BOM": "茉莉花",
    "utf-16 BE with BOM": "茉莉花", "utf-32 with BOM": "茉莉花",
    "windows-1252": "Neil Gow’s Wife … – “x”", "latin-1": "Café à la crème",
    "CR line ends": "old Mac", "CRLF line ends": "DOS",
}  # fmt: skip


@pytest.mark.parametrize("name", ENCODED)
def test_every_encoding_reads_to_the_same_tune(name, tmp_path):
    path = tmp_path / "book.abc"
    path.write_bytes(ENCODED[name])
    [(line, text)] = read_tunes(path)
    tune = parse(text)
    assert line == 1 and tune.valid, tune.diagnostics
    assert tune.title == TITLES[name]
    assert len(tune.notes) == NOTES


@pytest.mark.parametrize("name", ENCODED)
def test_check_and_convert_take_every_encoding(name, tmp_path, capsys):
    path = tmp_path / "book.abc"
    path.write_bytes(ENCODED[name])
    code, _, err = run(["check", str(path)], capsys)
    assert code == 0 and "1 tune(s) checked, 0 invalid" in err, err
    code, _, err = run(["convert", str(path), "-o", str(tmp_path / "out.mid")], capsys)
    assert code == 0, err
    midi = mido.MidiFile(tmp_path / "out.mid", charset="utf-8")
    assert midi.tracks[0].name == TITLES[name]
    assert sum(m.type == "note_on" and m.velocity > 0 for m in midi.tracks[1]) == NOTES


@pytest.mark.skipif(shutil.which("abc2midi") is None, reason="needs abc2midi")
def test_abc2midi_plays_cr_only_files_and_so_do_we():
    text = ENCODED["CR line ends"].decode("ascii")
    assert len(run_abc2midi(text, neutral=False).notes) == NOTES
    assert len(parse(decode(text.encode())[0]).notes) == NOTES


def test_windows_1252_is_read_where_latin_1_has_control_characters():
    text, encoding = decode("’…–€".encode("cp1252") + b"\x81\x8d\xe9")
    assert (text, encoding) == ("’…–€\x81\x8d\xe9", "windows-1252")  # 0x81, 0x8D: undefined
    assert decode("’".encode())[1] == "utf-8"


def test_lines_split_at_line_ends_only():
    """U+0085 (a Windows-1252 … read as Latin-1), form feeds, U+2028 and the file
    separators are characters of a line, not line ends."""
    text, _ = decode("X:1\r\nT:a\x85b\x0cc\x1cd\u2028e\rM:2/4\nK:D\rAB|]\n".encode())
    assert text == "X:1\nT:a\x85b\x0cc\x1cd\u2028e\nM:2/4\nK:D\nAB|]\n"
    assert parse(text).title == "a\x85b\x0cc\x1cd\u2028e"


def test_a_file_that_breaks_its_own_byte_order_mark_is_refused(tmp_path, capsys):
    path = tmp_path / "broken.abc"
    path.write_bytes(b"\xff\xfe" + "X:1\nK:D\nAB|]\n".encode("utf-16-le") + b"\x00\xd8")
    code, _, err = run(["check", str(path)], capsys)
    assert code == 2 and err.startswith(f"error: cannot read {path}: bytes that are not UTF-16")


def test_the_corpus_reads_every_file_to_the_same_tune(tmp_path):
    for name, data in ENCODED.items():
        (tmp_path / f"{name}.abc").write_bytes(data)
    report = build_corpus([tmp_path]).report
    assert report["tunes"] == {"raw": len(ENCODED), "kept": 1, "dropped": len(ENCODED) - 1}
    assert report["dropped"] == {"duplicate": len(ENCODED) - 1}  # the same music in each
    assert report["files"] == {"read": len(ENCODED), "windows-1252": 2, "utf-16": 2,
                               "utf-32": 1}
