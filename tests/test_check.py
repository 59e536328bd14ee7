"""`abcgen check`: diagnostics as FILE:LINE:COL per tune, exit 1 on an invalid
tune, 2 on a file it cannot read; run in process and once as a real command."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from cli import run

BOOK = """\
%abc-2.1
X:1
T:Fine
M:4/4
L:1/8
K:G
GABc dedB|dedB A4|]

X:2
T:A bar too long
M:3/4
L:1/8
K:D
FAd fed|cBA AFA G2|d6|]
"""


@pytest.fixture
def book(tmp_path):
    path = tmp_path / "book.abc"
    path.write_text(BOOK)
    return path


def test_invalid_tune_is_reported_at_its_place_in_the_file(book, capsys):
    code, out, err = run(["check", str(book)], capsys)
    assert code == 1
    bad_line = BOOK.splitlines().index("FAd fed|cBA AFA G2|d6|]") + 1
    col = "FAd fed|cBA AFA G2|".index("G2|") + 3  # the bar line closing the long bar
    assert out == f"{book}:{bad_line}:{col}: error: bar has 4 quarter notes, M:3/4 needs 3\n"
    assert "2 tune(s) checked, 1 invalid" in err


def test_one_tune_by_its_place(book, capsys):
    assert run(["check", str(book), "--tune", "1"], capsys)[:2] == (0, "")
    assert run(["check", str(book), "--tune", "2"], capsys)[0] == 1
    code, _, err = run(["check", str(book), "--tune", "3"], capsys)
    assert code == 2 and "has 2 tune(s)" in err


@pytest.mark.parametrize("content", [None, b"\x00\x01 not music \xff", b""])
def test_unreadable_input_exits_2_with_a_message(tmp_path, capsys, content):
    path = tmp_path / "in.abc"
    if content is not None:
        path.write_bytes(content)
    code, out, err = run(["check", str(path)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "Traceback" not in err


def test_as_a_real_command(book):
    exe = shutil.which("abcgen") or str(sys.prefix) + "/bin/abcgen"
    done = subprocess.run([exe, "check", str(book)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout.count(": error: ") == 1
