"""`abcgen convert`: real files in, one output per tune, clear failures."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import mido
import pytest
from cli import run

from abcgen.runtime.abc.parser import parse
from abcgen.runtime.formats.outputs import read_tunes

BOOK = """\
%abc-2.1
X:1
T:First
M:4/4
L:1/8
K:G
GABc dedB|dedB A4|]

X:2
T:Second, with a bar too long
M:3/4
L:1/8
K:D
FAd fed|cBA AFA G2|d6|]

X:5
T:Third
M:6/8
L:1/8
K:Ador
eAA eAA|edc BAG|]
"""


@pytest.fixture
def book(tmp_path):
    path = tmp_path / "book.abc"
    path.write_text(BOOK)
    return path


def test_one_file_per_tune_and_warnings_for_faulty_tunes(book, tmp_path, capsys):
    code, out, err = run(["convert", str(book), "-o", str(tmp_path / "out.mid")], capsys)
    assert code == 0
    written = sorted(p.name for p in tmp_path.glob("out*"))
    assert written == ["out-1.mid", "out-2.mid", "out-3.mid"]
    # the faulty second tune is still converted, and its problem is shown at its file line
    bad_line = BOOK.splitlines().index("FAd fed|cBA AFA G2|d6|]") + 1
    assert f"book.abc:{bad_line}:" in err and "warning" in err and "(tune 2)" in err
    firsts = [mido.MidiFile(tmp_path / f"out-{i}.mid") for i in (1, 2, 3)]
    pitches = [[m.note for m in f.tracks[1] if m.type == "note_on"][:1] for f in firsts]
    assert pitches == [[67], [66], [76]]  # G, F#, e: each file is its own tune
    assert out.count("wrote ") == 3


def test_one_tune_and_each_format(book, tmp_path, capsys):
    assert run(["convert", str(book), "--tune", "3", "-o", str(tmp_path / "t.xml")], capsys)[0] == 0
    root = ET.parse(tmp_path / "t.xml").getroot()
    assert root.tag == "score-partwise" and root.findtext("movement-title") == "Third"
    assert list(tmp_path.glob("t-*")) == []
    assert run(["convert", str(book), "--tune", "1", "-o", str(tmp_path / "t.abc")], capsys)[0] == 0
    text = (tmp_path / "t.abc").read_text()
    assert text.startswith("X:1\nT:First\n")
    assert [n.pitch for n in parse(text).notes] == [n.pitch for n in parse(BOOK).notes]
    code = run(["convert", str(book), "--tune", "2", "-o", str(tmp_path / "t.musicxml")], capsys)
    assert code[0] == 0 and (tmp_path / "t.musicxml").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{dir}/missing.abc", "-o", "{dir}/o.mid"], "cannot read"),
        (["{book}", "-o", "{dir}/o.png"], "unknown output format '.png'"),
        (["{book}", "-o", "{dir}/no/such/folder/o.mid"], "cannot write"),
        (["{empty}", "-o", "{dir}/o.mid"], "no tune in"),
        (["{book}", "--tune", "4", "-o", "{dir}/o.mid"], "has 3 tune(s)"),
    ],
)
def test_bad_input_fails_clearly(argv, message, book, tmp_path, capsys):
    empty = tmp_path / "empty.abc"
    empty.write_bytes(b"\x00\xff just some bytes\n")
    argv = [a.format(dir=tmp_path, book=book, empty=empty) for a in argv]
    code, _, err = run(["convert", *argv], capsys)
    assert code == 2
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not list(tmp_path.glob("o*"))


def test_as_a_real_command(book, tmp_path):
    command = [sys.executable, "-c", "from abcgen.runtime.cli import main; main()", "convert"]
    done = subprocess.run(
        [*command, str(book), "-o", str(tmp_path / "o.mid"), "--tune", "1", "--bpm", "90"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    tempo = next(m.tempo for m in mido.MidiFile(tmp_path / "o.mid").tracks[0] if m.is_meta
                 and m.type == "set_tempo")  # fmt: skip
    assert mido.tempo2bpm(tempo) == pytest.approx(90)
    done = subprocess.run([*command, str(book)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr  # -o is required


def test_a_byte_order_mark_loses_no_tune(tmp_path):
    path = tmp_path / "bom.abc"
    path.write_bytes("\ufeffX:1\nK:G\nGAB|\n\nX:2\nT:b\nK:G\nABc|\n\n\nX:3\nK:D\nd|\n".encode())
    assert [line for line, _ in read_tunes(path)] == [1, 5, 11]  # where each X: stands
