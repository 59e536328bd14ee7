"""The runtime's folders are its architecture: imports run one way, down these layers.

A module may import its own folder and folders of lower layers only; folders on one
layer never import each other. The trainer sits above the whole runtime.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {
    "errors": 0,
    "atomic": 1,
    "abc": 2,
    "formats": 3, "constrain": 3,
    "generate": 4,
    "live": 5, "musescore": 5, "evaluate": 5, "serve": 5,
    "cli": 6,
}


def imported(source: str) -> set[str]:
    """Every abcgen module a source imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in names if n.startswith("abcgen.")}


def part(module: str) -> str | None:
    """The runtime folder (or top-level module) that a dotted name lives in."""
    bits = module.split(".")
    if bits[:2] != ["abcgen", "runtime"] or len(bits) < 3:
        return None
    return bits[2]


def violations(owner: str, source: str) -> list[str]:
    """Imports of `source` (living in runtime folder `owner`) that run against the layers."""
    wrong = []
    for name in sorted(imported(source)):
        if name.startswith("abcgen.trainer"):
            wrong.append(f"{owner} imports the trainer ({name})")
            continue
        target = part(name)
        if target is None or target not in LAYERS or target == owner:
            continue
        if LAYERS[target] >= LAYERS[owner]:
            wrong.append(f"{owner} imports {name}")
    return wrong


def runtime_modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted((ROOT / "runtime").rglob("*.py")):
        rel = path.relative_to(ROOT / "runtime").parts
        owner = rel[0].removesuffix(".py") if len(rel) > 1 or rel[0] != "__init__.py" else None
        if owner is not None:
            found.append((owner, path))
    return found


def test_every_runtime_folder_has_a_layer():
    assert {owner for owner, _ in runtime_modules()} == set(LAYERS)


def test_imports_run_down_the_layers():
    wrong = [f"{path.relative_to(ROOT)}: {v}" for owner, path in runtime_modules()
             for v in violations(owner, path.read_text())]
    assert not wrong, "\n".join(wrong)


def test_the_check_catches_an_upward_or_sideways_import():
    assert violations("abc", "from abcgen.runtime.formats import midi") == [
        "abc imports abcgen.runtime.formats", "abc imports abcgen.runtime.formats.midi"]
    assert violations("formats", "def f():\n    from abcgen.runtime.generate import onnx_model\n")
    assert violations("constrain", "from abcgen.runtime.generate.generator import Generator")
    assert violations("formats", "from abcgen.runtime.constrain.mask import BatchConstraint")
    assert violations("live", "import abcgen.runtime.musescore.requests")
    assert violations("generate", "from abcgen.trainer.model import CharLSTM")
    assert not violations("generate", "from abcgen.runtime.constrain.mask import BatchConstraint")
    assert not violations("cli", "from abcgen.runtime.live.session import run")
    assert not violations("formats", "from abcgen.runtime.abc.events import Note")


def test_trainer_imports_runtime_but_runtime_never_trainer():
    trainer_imports = set().union(*(imported(p.read_text())
                                    for p in (ROOT / "trainer").glob("*.py")))
    assert any(part(n) == "abc" for n in trainer_imports)
