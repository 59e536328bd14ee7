"""The plugin's CLI side without MuseScore: JSON note lists both ways, the
`abcgen plugin generate/continue` answers, and install/uninstall."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import pytest
from cli import app
from hypothesis import given
from hypothesis import strategies as st
from tiny_models import exported, real_tunes
from typer.testing import CliRunner

from abcgen.runtime.abc.events import Note, Pitch
from abcgen.runtime.abc.form import TONIC, parse_form, read_form
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.generate.prime import prime_text
from abcgen.runtime.musescore.score_io import (
    drawable_pieces,
    events_to_items,
    item_notes,
    key_json,
    selection_to_prime,
    spell,
    tpc,
)

ABCGEN = Path(sys.executable).with_name("abcgen")
PLUGIN_FILES = Path(__file__).resolve().parent.parent / "plugins" / "musescore"
runner = CliRunner()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return exported(tmp_path_factory.mktemp("model"))


def sounding(notes) -> list[tuple[int, str, int, int, Fraction, Fraction]]:
    """Pitched notes as (midi, step, alter, octave, start, end), tied notes merged."""
    out, open_ties = [], {}
    for n in notes:
        if n.grace or n.pitch is None:
            continue
        i = open_ties.pop(n.pitch.midi, None)
        if i is not None and out[i][5] == n.onset:
            out[i] = (*out[i][:5], n.onset + n.duration)
        else:
            i = len(out)
            p = n.pitch
            out.append((p.midi, p.step, p.alter, p.octave, n.onset, n.onset + n.duration))
        if n.tie:
            open_ties[n.pitch.midi] = i
    return sorted(out, key=lambda x: (x[4], x[0]))


def items_as_notes(items, start=Fraction(0), ratio=Fraction(1)) -> list[Note]:
    """Cursor items read back into timed notes (pad rests take no time)."""
    notes, onset = [], start
    for item in items:
        if item["type"] == "tuplet":
            q_over_p = Fraction(item["ratio"][1], item["ratio"][0])
            notes += items_as_notes(item["items"], onset, q_over_p)
            onset += Fraction(*item["total"])
        elif item["type"] in ("note", "rest") and not item.get("pad"):
            length = Fraction(*item["duration"]) * ratio
            for p in item.get("pitches") or [None]:
                pitch = p and Pitch(p["step"], p["octave"], p["alter"])
                notes.append(Note(onset, length, pitch, 0, 0, 0, tie=bool(p and p["tie"])))
            onset += length
    return notes


def selection_of(tune, items=None) -> dict:
    return {"key": key_json(tune.key), "notes": items or events_to_items(tune),
            "time": {"numerator": tune.meter.numerator, "denominator": tune.meter.denominator}}


# ------------------------------------------------------------------ plugin_io


@given(st.integers(-1, 33), st.integers(0, 8))
def test_tpc_spells_back_to_the_same_pitch(tpc_value, octave):
    step = "FCGDAEB"[(tpc_value + 1) % 7]
    pitch = Pitch(step, octave, (tpc_value + 1) // 7 - 2)
    assert tpc(pitch) == tpc_value
    assert spell(pitch.midi, tpc_value) == pitch


def test_spelling_without_tpc_follows_the_key():
    assert spell(70, None, fifths=-2) == Pitch("B", 4, -1)  # B flat in G minor
    assert spell(70, None, fifths=4) == Pitch("A", 4, 1)  # A sharp in E major


@given(st.fractions(min_value=Fraction(1, 128), max_value=Fraction(8)).filter(
    lambda f: (f * 128).denominator == 1))
def test_drawable_pieces_add_up(length):
    pieces = drawable_pieces(length)
    assert sum(pieces) == length
    for p in pieces:  # a plain note value with at most two dots
        base = max(Fraction(2, 2**k) for k in range(9) if Fraction(2, 2**k) <= p)
        assert p in (base, base * Fraction(3, 2), base * Fraction(7, 4))


def test_real_tunes_survive_items_to_prime_and_back():
    """Corpus tunes -> cursor items -> selection -> ABC prime -> parser: the same notes."""
    checked = 0
    for text in real_tunes():
        tune = parse(text)
        body_fields = [e for e in tune.events if getattr(e, "name", None) and e.line > 3]
        if tune.meter is None or body_fields or any(n.measures > 1 for n in tune.notes):
            continue
        p = selection_to_prime(selection_of(tune))
        again = parse(prime_text(p.meter, p.key, p.unit, p.music))
        assert sounding(again.notes) == sounding(tune.notes), text
        assert again.key.fifths == tune.key.fifths
        checked += 1
    assert checked >= 30


def test_a_selection_reads_back_the_same_whichever_octaves_an_accidental_reaches():
    # F#4 f5 F#4 f#5: abcgen and abc2midi carry ^F to every F of the bar, others to
    # that octave only; the prime spells out what either reading would get wrong
    notes = [{"type": "note", "duration": [1, 8], "pitches": [{"pitch": p}]}
             for p in (66, 77, 66, 78)]
    sel = {"key": {"fifths": 0}, "time": {"numerator": 2, "denominator": 4}, "notes": notes}
    p = selection_to_prime(sel)
    assert p.music == "^F2 =f2 ^F2 ^f2|"
    for mode in ("pitch", "octave"):
        text = f"%%propagate-accidentals {mode}\n" + prime_text(p.meter, p.key, p.unit, p.music)
        assert [n.pitch.midi for n in parse(text).notes] == [66, 77, 66, 78]


def test_items_hold_tuplets_ties_chords_and_the_pickup_pad():
    tune = parse("M:6/8\nL:1/8\nK:D\nA|(3gfe d5-|d [DF]3 z2|]\n")
    items = events_to_items(tune, pad_pickup=True)
    assert [i["type"] for i in items] == ["rest", "rest", "note", "bar", "tuplet", "note",
                                          "note", "bar", "note", "note", "rest", "bar"]
    assert sum(Fraction(*i["duration"]) for i in items[:2]) == Fraction(5, 8)  # pad
    group = items[4]
    assert group["ratio"] == [3, 2] and group["total"] == [1, 4]
    assert [n["duration"] for n in group["items"]] == [[1, 8]] * 3
    # d5- is a half tied to an eighth, still tied to the next bar's d
    assert [(i["duration"], i["pitches"][0]["tie"]) for i in items[5:7]] == [
        ([1, 2], True), ([1, 8], True)]
    assert [(p["step"], p["alter"], p["tpc"]) for p in items[9]["pitches"]] == [
        ("D", 0, 16), ("F", 1, 20)]
    assert len(item_notes(items)) == 11  # tuplet members included


def test_a_long_chord_is_split_into_tied_chords():
    items = events_to_items(parse("M:4/4\nL:1/8\nK:C\n[CE]5 z3|]\n"))
    assert [(i["duration"], [(p["pitch"], p["tie"]) for p in i["pitches"]])
            for i in items[:2]] == [([1, 2], [(60, True), (64, True)]),
                                    ([1, 8], [(60, False), (64, False)])]


def test_selection_lengths_from_ticks_make_triplets():
    """MuseScore 3.2 tells only sounding lengths: three 1/12 notes are a triplet."""
    eighth = {"type": "note", "duration": [1, 8], "actual": [1, 12],
              "pitches": [{"pitch": 67, "tpc": 15}]}
    sel = {"key": {"fifths": 1}, "time": {"numerator": 2, "denominator": 4},
           "notes": [eighth, eighth, eighth, {"type": "rest", "duration": [1, 4]}]}
    p = selection_to_prime(sel)
    assert (p.meter, p.key, p.unit) == ("2/4", "G", "1/16")
    notes = parse(prime_text(p.meter, p.key, p.unit, p.music)).notes
    assert [n.duration for n in notes] == [Fraction(1, 12)] * 3 + [Fraction(1, 4)]
    assert p.music.endswith("|")  # the bar was full


@pytest.mark.parametrize("mode, key", [("minor", "Em"), ("dorian", "Ador"), ("mixolydian", "Dmix")])
def test_selection_mode_names_the_key(mode, key):
    sel = {"key": {"fifths": 1, "mode": mode}, "time": {"numerator": 4, "denominator": 4},
           "notes": [{"type": "note", "duration": [1, 4], "pitches": [{"pitch": 64}]}]}
    assert selection_to_prime(sel).key == key


@pytest.mark.parametrize("selection, message", [
    ({"notes": []}, "missing or bad field"),
    ({"time": {"numerator": 3, "denominator": 4}, "notes": []}, "no notes"),
    ({"time": {"numerator": 3, "denominator": 4}, "key": {"mode": "ionianish"},
      "notes": [{"type": "rest", "duration": [1, 4]}]}, "unknown mode"),
    ({"time": {"numerator": 3, "denominator": 4},
      "notes": [{"type": "note", "duration": [1, 4], "pitches": [{"pitch": 60, "tpc": 16}]}]},
     "cannot spell"),
])
def test_bad_selections_say_what_is_wrong(selection, message):
    with pytest.raises(AbcgenError, match=message):
        selection_to_prime(selection)


# ------------------------------------------------------------------ commands


def run_plugin_command(command: str, request: dict, tmp_path: Path):
    req = tmp_path / "request.json"
    req.write_text(json.dumps(request))
    result = runner.invoke(app, ["plugin", command, "--request", str(req),
                                 "--out-dir", str(tmp_path / "out")])
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.output
    return result, json.loads(lines[0])


def test_generate_answers_files_and_notes(model, tmp_path):
    request = {"title": "Test reel", "meter": "3/4", "key": "Gm", "bars": 8, "seed": 11,
               "model": str(model), "num": 2}
    result, answer = run_plugin_command("generate", request, tmp_path)
    assert result.exit_code == 0 and answer["ok"] and answer["seed"] == 11
    assert [t["title"] for t in answer["tunes"]] == ["Test reel #1", "Test reel #2"]
    for tune in answer["tunes"]:
        assert tune["time"] == {"numerator": 3, "denominator": 4}
        assert tune["key"]["fifths"] == -2 and tune["key"]["mode"] == "minor"
        for kind, path in tune["files"].items():
            assert Path(path).parent == tmp_path / "out" and Path(path).stat().st_size > 0, kind
        text = Path(tune["files"]["abc"]).read_text()
        assert "T:Test reel" in text and text == tune["abc"]
        # the cursor items sound like the tune in the .abc file (pad rests aside)
        assert sounding(items_as_notes(tune["notes"])) == sounding(parse(text).notes)
    _, again = run_plugin_command("generate", request, tmp_path)  # same seed, same tunes
    assert [t["notes"] for t in again["tunes"]] == [t["notes"] for t in answer["tunes"]]
    assert again["tunes"][0]["files"]["abc"] != answer["tunes"][0]["files"]["abc"]


def test_generate_in_the_form_asked_for(model, tmp_path):
    request = {"meter": "6/8", "key": "D", "form": "AABB", "part_bars": 4, "seed": 5,
               "model": str(model), "num": 3}
    result, answer = run_plugin_command("generate", request, tmp_path)
    assert result.exit_code == 0, result.output
    for tune in answer["tunes"]:
        found = read_form(parse(tune["abc"]))
        assert tune["ended"] and found.matches(parse_form("AABB", 4)) and found.last == TONIC
    # the dialog's part length stays harmless when the form is auto or free
    request.update(form="auto", part_bars=8, num=1)
    assert run_plugin_command("generate", request, tmp_path)[1]["ok"]


def test_continue_answers_only_the_new_notes(model, tmp_path):
    source = parse("M:6/8\nL:1/8\nK:Ador\nA|cBA e2d|c3 A2|]\n")
    request = {"selection": selection_of(source), "bars": 4, "seed": 3, "model": str(model)}
    result, answer = run_plugin_command("continue", request, tmp_path)
    assert result.exit_code == 0, result.output
    tune = answer["tunes"][0]
    assert tune["key"] == {"fifths": 1, "mode": "dorian", "tonic": "A"}
    assert tune["time"] == {"numerator": 6, "denominator": 8}
    whole = parse(tune["abc"])
    end = Fraction(3, 2)  # the prime's notes end here: the answer holds what follows
    assert sounding(whole.notes)[: len(sounding(source.notes))] == sounding(source.notes)
    new = sounding(n for n in whole.notes if n.onset >= end)
    assert new and sounding(items_as_notes(tune["notes"], start=end)) == new


@pytest.mark.parametrize("request_data, message", [
    ({"meter": "6/8", "num": 0}, "num must be"),
    ({"meter": 68}, "meter has the wrong type"),
    ({"colour": "red"}, "unknown field"),
    ({"meter": "6/8", "model": "/nonexistent/model.onnx"}, "model file not found"),
    ({"meter": "13/0"}, "bad meter"),
    ({"meter": "6/8", "form": "ABBA"}, "request: form 'ABBA'"),
    ({"meter": "6/8", "form": "AABB", "part_bars": 100}, "part bars must be"),
    ({"meter": "none", "form": "AB", "key": "D"}, "M:none has no bars"),
])
def test_bad_requests_fail_with_json_and_exit_2(request_data, message, tmp_path):
    result, answer = run_plugin_command("generate", request_data, tmp_path)
    assert isinstance(result.exception, AbcgenError)  # `abcgen` turns it into exit code 2
    assert answer["ok"] is False and message in answer["error"]
    assert not (tmp_path / "out").exists()


def test_continue_without_selection_fails_clearly(model, tmp_path):
    result, answer = run_plugin_command("continue", {"model": str(model)}, tmp_path)
    assert isinstance(result.exception, AbcgenError) and "needs a selection" in answer["error"]


def test_plugin_command_as_a_real_process(model, tmp_path):
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"meter": "4/4", "key": "D", "bars": 4, "seed": 1,
                               "model": str(model)}))
    proc = subprocess.run([str(ABCGEN), "plugin", "generate", "--request", str(req),
                           "--out-dir", str(tmp_path / "o u t")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert Path(answer["tunes"][0]["files"]["musicxml"]).is_file()
    req.write_text("{not json")
    proc = subprocess.run([str(ABCGEN), "plugin", "generate", "--request", str(req),
                           "--out-dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["ok"] is False and "is not JSON" in proc.stderr


# ------------------------------------------------------------------ install


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    return tmp_path


def test_install_is_idempotent_and_uninstall_removes_only_ours(home, model):
    xml = home / ".local/share/MuseScore/MuseScore3/plugins.xml"
    xml.parent.mkdir(parents=True)
    xml.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<museScore version="3.02">'
                   "<Plugin><path>/x/other.qml</path><load>1</load></Plugin></museScore>\n")
    folder = home / "Documents/MuseScore3/Plugins/abcgen"
    folder.parent.mkdir(parents=True)  # the user's plugin folder: it stays
    for _ in range(2):
        result = runner.invoke(app, ["plugin", "install", "--musescore", "3",
                                     "--model", str(model)])
        assert result.exit_code == 0, result.output
    for name in ("abcgen-generate.qml", "abcgen-continue.qml", "abcgen.js"):
        assert (folder / name).read_bytes() == (PLUGIN_FILES / name).read_bytes()
    config = json.loads((folder / "abcgen-config.json").read_text())
    assert Path(config["abcgen"]).is_absolute() and os.access(config["abcgen"], os.X_OK)
    assert config["out_dir"] == str(home / "Documents/abcgen") and Path(config["out_dir"]).is_dir()
    assert config["model"] == str(model)
    entries = {p.findtext("path"): p.findtext("load") for p in ET.parse(xml).getroot()}
    assert entries == {"/x/other.qml": "1", str(folder / "abcgen-continue.qml"): "1",
                       str(folder / "abcgen-generate.qml"): "1"}

    for expected in ("removed", "was not installed"):
        result = runner.invoke(app, ["plugin", "uninstall", "--musescore", "3"])
        assert result.exit_code == 0 and expected in result.output
    assert not folder.exists() and folder.parent.is_dir()
    assert [p.findtext("path") for p in ET.parse(xml).getroot()] == ["/x/other.qml"]


def test_uninstall_takes_away_what_install_made_and_nothing_else(home):
    before = sorted(home.rglob("*"))
    for _ in range(2):  # an update keeps the record of what the first install made
        result = runner.invoke(app, ["plugin", "install", "--musescore", "3"])
        assert result.exit_code == 0, result.output
    xml = home / ".local/share/MuseScore/MuseScore3/plugins.xml"
    assert xml.is_file() and (home / "Documents/abcgen").is_dir()
    result = runner.invoke(app, ["plugin", "uninstall", "--musescore", "3"])
    assert result.exit_code == 0, result.output
    assert sorted(home.rglob("*")) == before  # plugins.xml and every folder it made: gone

    runner.invoke(app, ["plugin", "install", "--musescore", "3"])
    (home / "Documents/abcgen/reel.abc").write_text("X:1\nK:G\nGABc|]\n")  # a tune made since
    tree = ET.parse(xml)
    plugin = ET.SubElement(tree.getroot(), "Plugin")  # MuseScore listed another plugin
    ET.SubElement(plugin, "path").text = "/x/other.qml"
    tree.write(xml)
    result = runner.invoke(app, ["plugin", "uninstall", "--musescore", "3"])
    assert result.exit_code == 0, result.output
    assert (home / "Documents/abcgen/reel.abc").is_file()
    assert [p.findtext("path") for p in ET.parse(xml).getroot()] == ["/x/other.qml"]
    assert not (home / "Documents/MuseScore3").exists()


def test_install_into_a_folder_for_musescore_4(home):
    target = home / "my plugins"
    result = runner.invoke(app, ["plugin", "install", "--musescore", "4", "--dir", str(target),
                                 "--out-dir", str(home / "tunes")])
    assert result.exit_code == 0, result.output
    assert json.loads((target / "abcgen/abcgen-config.json").read_text())["model"] is None
    assert not (home / ".local/share/MuseScore").exists()  # plugins.xml is MuseScore 3's


def test_install_refuses_a_path_musescore_3_cannot_quote(home):
    result = runner.invoke(app, ["plugin", "install", "--dir", str(home / "p"),
                                 "--out-dir", str(home / 'say "hi"')])
    assert isinstance(result.exception, AbcgenError) and "double quote" in str(result.exception)
    assert not (home / "p").exists()


def manifest(path: Path) -> dict[str, str]:
    """MuseScore 4.4's reading of a plugin file (extpluginsloader.cpp): property lines
    inside the MuseScore item, `//4.4 ` lines included, up to the first nested `{`."""
    props, inside = {}, False
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("//4.4 "):
            line = line[6:]
        if line.startswith("/"):
            continue
        if line.endswith("{"):
            if inside:
                break
            inside = True
        elif m := re.match(r"(title|categoryCode|requiresScore|pluginType|version):\s*(.*)",
                           line):
            props[m[1]] = m[2].strip('"')
    return props


@pytest.mark.parametrize("name, title, requires", [
    ("abcgen-generate.qml", "abcgen: Generate tune…", "false"),
    ("abcgen-continue.qml", "abcgen: Continue selection…", "true"),
])
def test_musescore_4_reads_the_plugin_headers(name, title, requires):
    props = manifest(PLUGIN_FILES / name)
    assert props["title"] == title and props["categoryCode"] == "composing-arranging-tools"
    assert props["requiresScore"] == requires and props["pluginType"] == "dialog"
