"""The README's opening example is what the shipped model writes for that command,
so that the first thing a new user runs matches what they were shown."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from cli import run

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_is_what_the_shipped_model_writes(capsys):
    block = re.search(r"```\n\$ abcgen ([^\n]+)\n(.*?)```", README.read_text(), re.S)
    assert block, "the README opens with an example: $ abcgen generate ... and its output"
    code, out, err = run(shlex.split(block[1]), capsys)
    assert code == 0, err
    assert out == block[2]
