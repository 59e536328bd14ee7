"""The runtime must work where torch cannot even be imported."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tiny_models import exported

IMPORT_ALL = """
import importlib, pkgutil, sys
import abcgen.runtime
names = [m.name for m in pkgutil.walk_packages(abcgen.runtime.__path__, "abcgen.runtime.")]
for name in names:
    importlib.import_module(name)
print(len(names), sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
"""


@pytest.fixture(scope="module")
def no_torch(tmp_path_factory):
    """A PYTHONPATH folder whose torch.py fails the way a missing torch does."""
    folder = tmp_path_factory.mktemp("no_torch")
    (folder / "torch.py").write_text("raise ImportError('torch is not installed here')\n")
    return {"PYTHONPATH": str(folder)}


def python(code, *args, env=None):
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=120, env=env)


def test_no_runtime_module_imports_torch(no_torch):
    for env in (None, no_torch):  # torch importable (nothing may load it), and not
        done = python(IMPORT_ALL, env=env)
        assert done.returncode == 0, done.stderr
        count, loaded = done.stdout.split(" ", 1)
        assert int(count) >= 6 and loaded.strip() == "[]"


def test_generate_runs_where_torch_cannot_be_imported(tmp_path, no_torch):
    model = exported(tmp_path)
    assert python("import torch", env=no_torch).returncode == 1  # the blocker works
    done = python("from abcgen.runtime.cli import main; main()", "generate", "--model", model,
                  "--meter", "3/4", "--key", "Ador", "--seed", 9, "--num", 2,
                  "-o", tmp_path / "out.abc", env=no_torch)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "out.abc").read_text()
    assert text.startswith("X:1\nT:abcgen seed 9 #1\nM:3/4\nL:1/8\nK:Ador\n")
    assert "\nX:2\n" in text
