"""The quick tier: `pytest -m quick` runs the tests that use nothing heavy, for the
inner loop; the default run and `.ci/run` still run everything.

A test is `heavy` when its code, its fixtures or the test helpers they call reach
one of the things that make a test slow (`HEAVY_USES`: another process or a real
tool, training, the ONNX model or the CLI that loads it, FluidSynth or verovio,
the corpus or the held-out books, hypothesis), or when `HEAVY` names it because
its own computation is long; `quick` is every other test not marked `slow`. So a
new test is placed by what it uses, and a quick test that turns out slow is
named at the end of the run, to be added to `HEAVY`.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from collections import defaultdict
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# module (of a function, class or module a test reaches) -> what it stands for
HEAVY_USES = {
    "subprocess": "a process", "multiprocessing": "a process", "without": "a process",
    "jack": "a JACK server", "musescore": "MuseScore", "browser": "Chromium",
    "torch": "training", "onnx": "training", "tiny_models": "training",
    "abcgen.trainer": "training",
    "onnxruntime": "the ONNX model", "abcgen.runtime.generate.onnx_model": "the ONNX model",
    "cli": "the CLI", "abcgen.runtime.cli": "the CLI", "typer.testing": "the CLI",
    "abcgen.runtime.formats.audio": "FluidSynth", "abcgen.runtime.formats.svg": "verovio",
    "abcgen.runtime.abc.corpus": "the corpus", "hypothesis": "hypothesis",
}
# Tests that use nothing above but compute for long: a file, or a file::function.
HEAVY = {
    "test_heldout.py": "every held-out tune through every path",
    "test_layout.py": "imports every module",
    "test_parser_fuzz.py::test_long_runs_fed_one_character_at_a_time_stay_linear":
        "inputs of thousands of characters",
    "test_performance.py::test_rendering_from_a_bar_line_hands_out_what_rendering_it_all_does":
        "renders from every bar line",
    "test_performance.py::test_each_rendering_covers_a_few_bars_however_long_the_tune":
        "renders from every bar line",
    "test_performance.py::test_streamed_tune_sounds_like_the_whole_tune": "streams whole tunes",
    "test_repeats.py::test_random_layouts_play_as_abc2midi_plays_them": "hundreds of layouts",
    "test_repeats.py::test_prefixes_of_random_layouts_play_as_the_whole_does":
        "hundreds of layouts",
}
SLOW_QUICK = 0.5  # seconds: a quick test slower than this is named in the summary


def _data_roots() -> list[Path]:
    import importlib.util

    roots = [TESTS / "data"]
    spec = importlib.util.find_spec("music21")
    if spec and spec.submodule_search_locations:
        roots += [Path(p) / "corpus" for p in spec.submodule_search_locations]
    return roots


DATA = _data_roots()


def _heavy_module(name: str) -> str | None:
    for prefix, why in HEAVY_USES.items():
        if name == prefix or name.startswith(prefix + "."):
            return why
    return None


def _in_tests(obj: object) -> bool:
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    return module is not None and _is_test_module(module)


@functools.cache
def _is_test_module(module: types.ModuleType) -> bool:
    file = getattr(module, "__file__", None)
    return file is not None and Path(file).resolve().parent == TESTS


def _is_data(value: object) -> bool:
    paths = value if isinstance(value, (list, tuple)) else [value]
    return any(isinstance(p, Path) and any(p.is_relative_to(r) for r in DATA) for p in paths)


def _codes(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


_reaching: set[object] = set()


@functools.cache
def _uses(obj: object) -> frozenset[str]:
    """The heavy things `obj` (a test, fixture, helper function or class) reaches by
    name, through the test helpers it calls."""
    if obj in _reaching:  # a cycle: what it reaches is counted where it started
        return frozenset()
    _reaching.add(obj)
    try:
        if isinstance(obj, type):
            members = [m.fget if isinstance(m, property) else m for m in vars(obj).values()]
            return frozenset().union(*(_uses(getattr(m, "__func__", m)) for m in members
                                       if isinstance(getattr(m, "__func__", m),
                                                     types.FunctionType)))
        obj = inspect.unwrap(obj)
        if not isinstance(obj, types.FunctionType):
            return frozenset()
        found: set[str] = set()
        names = obj.__globals__
        for code in _codes(obj.__code__):
            for name in code.co_names:
                if name not in names:
                    continue
                value = names[name]
                module = value.__name__ if isinstance(value, types.ModuleType) else \
                    getattr(value, "__module__", None) or ""
                if why := _heavy_module(module):
                    found.add(why)
                elif _is_data(value):
                    found.add("the corpus")
                elif isinstance(value, (types.FunctionType, type)) and _in_tests(value):
                    found |= _uses(value)
        return frozenset(found)
    finally:
        _reaching.discard(obj)


def heavy_because(item: pytest.Item) -> set[str]:
    """Why `item` is heavy; empty when it is quick."""
    path = item.path.name
    function = item.originalname if isinstance(item, pytest.Function) else item.name
    declared = HEAVY.get(f"{path}::{function}") or HEAVY.get(path)
    found = {declared} if declared else set()
    if item.get_closest_marker("slow"):
        found.add("slow")
    test = getattr(item, "obj", None)
    if hasattr(test, "hypothesis"):
        found.add("hypothesis")
    found |= _uses(test)
    for name in item.fixturenames:
        defs = item._fixtureinfo.name2fixturedefs.get(name)
        if defs and _in_tests(defs[-1].func):
            found |= _uses(defs[-1].func)
    return found


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        why = heavy_because(item)
        item.add_marker(pytest.mark.heavy(*sorted(why)) if why else pytest.mark.quick)


_durations: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "quick" in report.keywords:
        _durations[report.nodeid] += report.duration


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    slow = sorted((t, n) for n, t in _durations.items() if t > SLOW_QUICK)
    if slow:
        terminalreporter.section("quick tests that ran slow")
        terminalreporter.write_line(f"over {SLOW_QUICK} s: name them in tests/conftest.py HEAVY")
        for seconds, nodeid in reversed(slow):
            terminalreporter.write_line(f"{seconds:6.2f} s  {nodeid}")
