"""The QML plugin run by the real MuseScore 3, headless (`mscore3 -p`).

MuseScore exits 0 even when a plugin throws, so the verdict is what the plugin
leaves behind: its report (`abcgen-plugin-last.json`, with what it read back
from the score it opened or wrote) and the files abcgen wrote. Headless, the
plugin runs with the defaults in its config (there is no one to answer the
dialog) and, with nothing selected, continues the whole first staff.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
from cli import app
from tiny_models import exported
from typer.testing import CliRunner

from abcgen.runtime.abc.form import TONIC, parse_form, read_form
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.formats.musicxml import write_musicxml
from abcgen.runtime.musescore.requests import Request, continue_for_plugin
from abcgen.runtime.musescore.score_io import events_to_items, key_json

MSCORE = shutil.which("mscore3")
pytestmark = pytest.mark.skipif(MSCORE is None, reason="needs MuseScore 3 (apt musescore3)")
TICKS = 1920  # MuseScore ticks per whole note
SCORE_ABC = "M:6/8\nL:1/8\nK:D\nA|dfa gfe|d3 d2A:|fed cBA|d3 d3|]\n"
QML_ERRORS = re.compile(r"ReferenceError|TypeError|SyntaxError|is not a function|"
                        r"Cannot assign|is not defined|\.qml:\d+")
EVIL_TITLE = '"; touch {p}/pwned1; $(touch {p}/pwned2) `touch {p}/pwned3` \' & echo'


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return exported(tmp_path_factory.mktemp("model"))


class Sandbox:
    """A plugin installed into a temporary folder, and a way to run it in MuseScore."""

    def __init__(self, root: Path, model: Path, out_name: str = "out") -> None:
        self.root, self.model = root, model
        self.home = root / "home"
        self.home.mkdir()
        self.out = root / out_name
        result = CliRunner().invoke(app, ["plugin", "install", "--dir", str(root / "plugins"),
                                          "--out-dir", str(self.out), "--model", str(model),
                                          "--no-enable"])
        assert result.exit_code == 0, result.output
        self.folder = root / "plugins" / "abcgen"
        self.config_path = self.folder / "abcgen-config.json"

    def configure(self, **changes) -> None:
        config = json.loads(self.config_path.read_text())
        config.update(changes)
        self.config_path.write_text(json.dumps(config))

    def run(self, plugin: str, *score: Path) -> tuple[dict, str]:
        report = self.out / "abcgen-plugin-last.json"
        report.unlink(missing_ok=True)
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(self.home),
               "XDG_RUNTIME_DIR": str(self.home)}
        proc = subprocess.run([MSCORE, "-p", str(self.folder / plugin), *map(str, score)],
                              capture_output=True, text=True, timeout=300, env=env)
        log = proc.stdout + proc.stderr
        assert report.is_file(), f"the plugin left no report:\n{log}"
        assert not QML_ERRORS.search(log), log  # the dialog and the script loaded cleanly
        return json.loads(report.read_text()), log


@pytest.fixture
def sandbox(tmp_path, model) -> Sandbox:
    return Sandbox(tmp_path, model)


def timeline(chords, start: int = 0) -> list[tuple[int, int, int, int]]:
    """(pitch, tpc, start tick, end tick) of the pitches, repeated notes merged, from
    MuseScore's read-back ({tick, ticks, pitches}) or abcgen's items (converted first)."""
    out: list[tuple[int, int, int, int]] = []
    for chord in chords:
        if chord["tick"] < start:
            continue
        for p in chord.get("pitches") or []:
            end = chord["tick"] + chord["ticks"]
            prev = next((i for i, x in enumerate(out) if x[:2] == (p["pitch"], p["tpc"])
                         and x[3] == chord["tick"]), None)
            if prev is None:
                out.append((p["pitch"], p["tpc"], chord["tick"], end))
            else:
                out[prev] = (*out[prev][:3], end)
    return sorted(out, key=lambda x: (x[2], x[0]))


def item_chords(items, at: int = 0, ratio: Fraction = Fraction(1)) -> list[dict]:
    """abcgen's cursor items placed on MuseScore's tick grid (pickup pad rests skipped)."""
    chords, tick = [], Fraction(at)
    for item in items:
        if item["type"] == "tuplet":
            q_over_p = Fraction(item["ratio"][1], item["ratio"][0])
            inner = item_chords(item["items"], 0, q_over_p)
            chords += [{**c, "tick": c["tick"] + int(tick)} for c in inner]
            tick += Fraction(*item["total"]) * TICKS
        elif item["type"] in ("note", "rest") and not item.get("pad"):
            ticks = Fraction(*item["duration"]) * ratio * TICKS
            chords.append({"tick": int(tick), "ticks": int(ticks), "pitches": item.get("pitches")})
            tick += ticks
    return chords


def score_file(folder: Path, title: str) -> Path:
    path = folder / "score.musicxml"
    write_musicxml(parse(SCORE_ABC), path, title=title)
    return path


def predicted(model: Path, seed: int, tmp: Path) -> dict:
    """What abcgen answers for the whole first staff of SCORE_ABC (as the plugin reads it)."""
    tune = parse(SCORE_ABC)
    selection = {"key": key_json(tune.key), "offset": [0, 1], "notes": events_to_items(tune),
                 "time": {"numerator": 6, "denominator": 8}}
    return continue_for_plugin(Request(selection=selection, bars=2, seed=seed, model=str(model)),
                               tmp)


def cursor_can_write(items) -> bool:
    """MuseScore 3.2's cursor writes plain notes only (no rests, tuplets, chords, ties)."""
    return all(i["type"] == "bar" or (i["type"] == "note" and len(i["pitches"]) == 1
                                      and not i["pitches"][0]["tie"]) for i in items)


def seed_where(model: Path, tmp: Path, plain: bool) -> tuple[int, dict]:
    for seed in range(40):
        answer = predicted(model, seed, tmp)
        notes = answer["tunes"][0]["notes"]
        if any(i["type"] == "note" for i in notes) and cursor_can_write(notes) == plain:
            return seed, answer
    pytest.fail(f"no seed gives a {'plain' if plain else 'rich'} continuation")


# ------------------------------------------------------------------ tests


def test_generate_opens_the_tune_abcgen_wrote(sandbox):
    sandbox.configure(generate={"title": "Headless jig", "meter": "3/4", "key": "Bb",
                                "bars": 8, "seed": 21, "num": 1})
    report, log = sandbox.run("abcgen-generate.qml")
    assert report["ok"], (report.get("error"), log)
    tune = report["answer"]["tunes"][0]
    assert tune["time"] == {"numerator": 3, "denominator": 4} and tune["key"]["fifths"] == -2
    for path in tune["files"].values():  # abcgen wrote them where the config says
        assert Path(path).parent == sandbox.out and Path(path).stat().st_size > 0
    (opened,) = report["opened"]
    assert opened["how"] == "readScore" and opened["path"] == tune["files"]["musicxml"]
    assert opened["title"] == "Headless jig"
    # MuseScore's own reading of the MusicXML holds exactly the notes abcgen reported
    got, expected = timeline(opened["notes"]), timeline(item_chords(tune["notes"]))
    assert got == expected and len(got) > 4
    assert {c["keysig"] for c in opened["notes"]} == {-2}
    assert {tuple(c["time"]) for c in opened["notes"]} == {(3, 4)}
    assert 0 < report["abcgen_ms"] <= report["total_ms"]


def test_generate_in_a_form_opens_a_tune_with_its_parts_and_repeats(sandbox):
    sandbox.configure(generate={"title": "Two-part jig", "meter": "6/8", "key": "G",
                                "form": "AABB", "part_bars": 4, "seed": 8, "num": 1})
    report, log = sandbox.run("abcgen-generate.qml")
    assert report["ok"], (report.get("error"), log)
    tune = report["answer"]["tunes"][0]
    found = read_form(parse(tune["abc"]))
    assert found.matches(parse_form("AABB", 4)) and found.last == TONIC
    (opened,) = report["opened"]
    assert timeline(opened["notes"]) == timeline(item_chords(tune["notes"]))
    # MuseScore's own reading: two bars end with a repeat, one per part
    assert len({c["measure"] for c in opened["notes"] if c["barline"] in (":|", "::")}) == 2


def test_continue_writes_the_new_notes_after_the_selection(sandbox, model, tmp_path):
    seed, expected = seed_where(model, tmp_path / "predict", plain=True)
    sandbox.configure(**{"continue": {"seed": seed, "bars": 2}})
    report, log = sandbox.run("abcgen-continue.qml", score_file(tmp_path, "A jig"))
    assert report["ok"], (report.get("error"), log)
    answer = report["answer"]
    assert answer["prime"] == expected["prime"]  # the plugin read the staff as abcgen would
    tune = answer["tunes"][0]
    assert tune["notes"] == expected["tunes"][0]["notes"]
    assert tune["key"]["fifths"] == 2 and tune["time"] == {"numerator": 6, "denominator": 8}
    written = report["written"]
    assert written["how"] == "cursor" and written["staff"] == 0
    assert written["at"] == 4 * 6 * TICKS // 8 + TICKS // 8  # after the pickup and 4 bars
    got = timeline(written["notes"])
    assert got == timeline(item_chords(tune["notes"], written["at"])) and got
    assert {c["keysig"] for c in written["notes"]} == {2}  # in the score's key and meter
    assert {tuple(c["time"]) for c in written["notes"]} == {(6, 8)}


def test_continue_opens_what_the_cursor_cannot_write(sandbox, model, tmp_path):
    seed, expected = seed_where(model, tmp_path / "predict", plain=False)
    sandbox.configure(**{"continue": {"seed": seed, "bars": 2}})
    report, log = sandbox.run("abcgen-continue.qml", score_file(tmp_path, "A jig"))
    assert report["ok"], (report.get("error"), log)
    tune = report["answer"]["tunes"][0]
    assert tune["notes"] == expected["tunes"][0]["notes"]
    written = report["written"]
    assert written["how"] == "readScore" and written["missing"]
    at = written["at"]
    assert at == 4 * 6 * TICKS // 8 + TICKS // 8
    got = timeline(written["notes"], start=at)
    assert got == timeline(item_chords(tune["notes"], at))


def test_a_hostile_title_changes_nothing_outside_the_output_folder(tmp_path, model):
    sandbox = Sandbox(tmp_path, model, out_name="out dir; $(touch x) 'q'")
    title = EVIL_TITLE.format(p=tmp_path)
    score = score_file(tmp_path, title)
    sandbox.configure(generate={"title": title, "meter": "6/8", "bars": 4, "seed": 2},
                      **{"continue": {"seed": 2, "bars": 2}})

    def outside() -> dict[Path, int]:
        return {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")
                if sandbox.out not in p.parents and sandbox.home not in p.parents
                and p not in (sandbox.out, sandbox.home, sandbox.config_path)}

    before = outside()
    for plugin, args in (("abcgen-generate.qml", ()), ("abcgen-continue.qml", (score,))):
        report, log = sandbox.run(plugin, *args)
        assert report["ok"], (report.get("error"), log)
        tune = report["answer"]["tunes"][0]
        assert tune["title"] == title
        assert f"T:{title}\n" in Path(tune["files"]["abc"]).read_text()
        assert all(Path(f).parent == sandbox.out for f in tune["files"].values())
    assert outside() == before
    assert not list(tmp_path.glob("pwned*")) and not (Path.cwd() / "x").exists()


def test_a_missing_abcgen_is_reported(sandbox, tmp_path):
    sandbox.configure(abcgen=str(tmp_path / "no such dir" / "abcgen"))
    report, _ = sandbox.run("abcgen-generate.qml")
    assert report["ok"] is False and "could not run abcgen" in report["error"]


def test_abcgen_errors_reach_the_plugin(sandbox, tmp_path):
    sandbox.configure(model=str(tmp_path / "gone.onnx"))
    report, _ = sandbox.run("abcgen-continue.qml", score_file(tmp_path, "A jig"))
    assert report["ok"] is False and "model file not found" in report["error"]


def test_the_dialogs_remember_the_last_choices(sandbox, tmp_path):
    """Each dialog opens with the choices of its last run (Qt.labs.settings), ahead of
    the config's presets; the request abcgen gets holds them, key and mode joined."""
    request = sandbox.out / "abcgen-request.json"
    sandbox.configure(generate={"title": "First", "meter": "3/4", "key": "Ador", "form": "AB",
                                "part_bars": 4, "seed": 3, "num": 2},
                      **{"continue": {"mode": "dorian", "form": "free", "bars": 3, "seed": 4}})
    first, log = sandbox.run("abcgen-generate.qml")
    assert first["ok"], (first.get("error"), log)
    asked = json.loads(request.read_text())
    assert {k: asked[k] for k in ("title", "meter", "key", "form", "part_bars", "seed", "num")} \
        == {"title": "First", "meter": "3/4", "key": "Ador", "form": "AB", "part_bars": 4,
            "seed": 3, "num": 2}
    report, log = sandbox.run("abcgen-continue.qml", score_file(tmp_path, "A jig"))
    assert report["ok"], (report.get("error"), log)
    assert report["selection"]["key"]["mode"] == "dorian"

    sandbox.configure(generate={"meter": "2/4", "key": "G", "seed": 9},
                      **{"continue": {"mode": "major", "seed": 5}})
    again, _ = sandbox.run("abcgen-generate.qml")
    assert again["ok"] and json.loads(request.read_text()) == asked
    report, _ = sandbox.run("abcgen-continue.qml", score_file(tmp_path, "A jig"))
    assert report["ok"] and report["selection"]["key"]["mode"] == "dorian"
    assert json.loads(request.read_text())["seed"] == 4
