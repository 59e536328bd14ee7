"""`abcgen` in a subprocess on which some packages are not installed: the
import system is made not to find them, as on a machine without the extra."""

from __future__ import annotations

import subprocess
import sys

_PROLOGUE = """
import importlib.machinery as machinery, sys
class _Hidden(machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition('.')[0] in {hidden!r}:
            return None
        return super().find_spec(name, path, target)
sys.meta_path = [_Hidden if f is machinery.PathFinder else f for f in sys.meta_path]
{extra}
from abcgen.runtime.cli import main
main()
"""


def abcgen_without(hidden: set[str], *args: str, extra: str = "") -> subprocess.CompletedProcess:
    """Run `abcgen ARGS` with the modules `hidden` missing (and `extra` code run first)."""
    code = _PROLOGUE.format(hidden=hidden, extra=extra)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=300)
