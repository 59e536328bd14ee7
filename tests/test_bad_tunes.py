"""Tunes that are odd, huge or hostile, converted by the installed commands:
each gets a file or a clear word, in bounded time, never a traceback, and
what we write opens in the real tools (an XML parser, MuseScore 3, abc2midi).
Each test is a row of docs/bad-input.md.
"""

from __future__ import annotations

import json
import re
import resource
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import mido
import pytest
from faults import abcgen, one_error_line

from abcgen.runtime.abc.abc_file import read_tunes
from abcgen.runtime.abc.limits import MAX_MEASURE_NOTES, check_tune
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.evaluate.abc2midi import run_abc2midi
from abcgen.runtime.formats.score_layout import layout

HELDOUT = Path(__file__).resolve().parent / "data" / "heldout"


def tune(body: str, header: str = "M:4/4\nL:1/8\nK:G") -> str:
    return f"X:1\nT:Odd\n{header}\n{body}\n"


def has_soundfont() -> bool:
    from abcgen.runtime.errors import AbcgenError
    from abcgen.runtime.formats.soundfonts import find_soundfont

    try:
        find_soundfont(None)
    except AbcgenError:
        return False
    return True


def limit_memory() -> None:
    """preexec_fn: 1 GB of address space, as a small container or a ulimit gives."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


# ------------------------------------------------------------------ were tracebacks


@pytest.mark.parametrize("suffix", [".mid", ".wav"])
def test_a_meter_midi_cannot_write_plays_without_a_time_signature(tmp_path, suffix):
    if suffix == ".wav" and not has_soundfont():
        pytest.skip("needs a General MIDI SoundFont")
    (tmp_path / "t.abc").write_text(tune("GABc dedB|]", "M:256/4\nL:1/8\nK:G"))
    done = abcgen("convert", "t.abc", "-o", f"t{suffix}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    if suffix == ".mid":
        midi = mido.MidiFile(tmp_path / "t.mid")
        assert sum(m.type == "note_on" for m in midi) == 8
        assert not any(m.type == "time_signature" for m in midi)


def test_generate_and_the_plugin_in_a_meter_midi_cannot_write(tmp_path):
    done = abcgen("generate", "--meter", "256/4", "--seed", 1, "-o", "g.mid", cwd=tmp_path)
    assert done.returncode == 0 and mido.MidiFile(tmp_path / "g.mid").length > 0, done.stderr
    (tmp_path / "r.json").write_text(json.dumps({"meter": "256/4", "key": "G", "seed": 1}))
    done = abcgen("plugin", "generate", "--request", "r.json", "--out-dir", "out", cwd=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout)["ok"], done.stdout


def test_a_tempo_midi_cannot_hold_skips_the_tune_and_bpm_is_refused(tmp_path):
    (tmp_path / "t.abc").write_text(tune("GABc dedB|]", "Q:1/4=3\nM:4/4\nL:1/8\nK:G") + "\n"
                                    + tune("GABc dedB|]").replace("X:1", "X:2"))
    done = abcgen("convert", "t.abc", "-o", "t.mid", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == f"wrote {Path('t-2.mid')}\n", done.stderr
    assert ("tune 1 skipped: Q:1/4=3 asks for 3 quarter notes a minute, and abcgen plays "
            "4 to 1000") in done.stderr
    done = abcgen("convert", "t.abc", "--tune", 2, "--bpm", 3, "-o", "b.mid", cwd=tmp_path)
    assert done.returncode == 2
    one_error_line(done.stderr, "'--bpm': 3.0 is not in the range 20<=x<=400")


def test_a_plugin_request_with_a_negative_seed_or_nan_is_answered_in_json(tmp_path):
    for fields, message in [({"seed": -1}, "seed must be 0..4294967295"),
                            ({"temperature": float("nan")}, "temperature must be a finite")]:
        (tmp_path / "r.json").write_text(json.dumps(fields))  # json writes NaN, and reads it
        done = abcgen("plugin", "generate", "--request", "r.json", "--out-dir", "out",
                      cwd=tmp_path)
        answer = json.loads(done.stdout)
        assert done.returncode == 2 and not answer["ok"] and message in answer["error"]
        one_error_line(done.stderr, message)


# ------------------------------------------------------------------ text made for XML


CONTROL = "\x0c\x17\x01"


@pytest.mark.parametrize("where", ["T", "C", "chord", "annotation", "P"])
def test_control_characters_never_reach_the_musicxml_nor_the_svg(tmp_path, where):
    text = {"T": tune("GABc dedB|]").replace("T:Odd", f"T:Odd{CONTROL}Title"),
            "C": tune("GABc dedB|]", f"C:Com{CONTROL}poser\nM:4/4\nL:1/8\nK:G"),
            "chord": tune(f'"G{CONTROL}"GABc dedB|]'),
            "annotation": tune(f'"^at{CONTROL}tention"GABc dedB|]'),
            "P": tune(f"P:A{CONTROL}\nGABc dedB|]", "P:A\nM:4/4\nL:1/8\nK:G")}[where]
    (tmp_path / "t.abc").write_text(text)
    for suffix in (".musicxml", ".svg"):
        done = abcgen("convert", "t.abc", "-o", f"t{suffix}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        written = (tmp_path / f"t{suffix}").read_text()
        ET.fromstring(written.encode())  # well-formed XML 1.0
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]|&#x?0*(1[0-9a-f]|[0-8bc]);",
                             written, re.I)
    if where == "T":
        assert "OddTitle" in (tmp_path / "t.musicxml").read_text()


def test_musescore_opens_the_musicxml_of_a_tune_with_control_characters(tmp_path):
    musescore = pytest.importorskip("musescore")
    if musescore.MSCORE is None:
        pytest.skip("needs MuseScore 3 (apt musescore3)")
    (tmp_path / "t.abc").write_text(
        tune(f'"G{CONTROL}"GABc "^x{CONTROL}"dedB|]',
             f"C:Com{CONTROL}poser\nP:A\nM:4/4\nL:1/8\nK:G").replace("T:Odd", f"T:a{CONTROL}b")
        + "\n")
    assert abcgen("convert", "t.abc", "-o", "t.musicxml", cwd=tmp_path).returncode == 0
    [imported] = musescore.convert({tmp_path / "t.musicxml": [tmp_path / "t.mscx"]})
    assert imported.clean, imported.log
    assert musescore.mscx_note_count(tmp_path / "t.mscx") == 8


# ------------------------------------------------------------------ limits


HUGE = {  # what a tune asks for -> (header, body, outputs, the reason given)
    "long note": ("M:4/4\nL:1/8\nK:G", "A9999|]", (".wav", ".mid"),
                  "a note in bar 1 lasts 1,250 whole notes, and abcgen plays notes of up to 64"),
    "huge unit": ("M:4/4\nL:99999/1\nK:G", "AB|]", (".musicxml", ".svg"),
                  "lasts 99,999 whole notes"),
    "one vast measure": ("M:none\nL:1/8\nK:C", "ABcd efga " * 2000 + "|]", (".svg",),
                         "measure 1 holds 16,000 notes, and abcgen engraves measures of up to "
                         "1,000"),
    "endless parts": ("P:((AB)999)999\nM:4/4\nL:1/8\nK:G", "P:A\nAB|]\nP:B\ncd|]",
                      (".mid", ".musicxml"), "its P: order plays more than 100 parts"),
    "a 5,000-digit part count": ("P:A" + "9" * 5000 + "\nM:4/4\nL:1/8\nK:G", "P:A\nAB|]",
                                 (".mid",), "its P: order plays more than 100 parts"),
    "slow and long": ("Q:1/4=20\nM:4/4\nL:1/8\nK:G", "A8|" * 125 + "]", (".wav",),
                      "it plays for 25 minutes, and abcgen writes audio of up to 15"),
}


@pytest.mark.parametrize("case", list(HUGE))
def test_a_tune_beyond_the_limits_is_skipped_at_once_with_the_reason(tmp_path, case):
    header, body, suffixes, reason = HUGE[case]
    (tmp_path / "t.abc").write_text(tune(body, header))
    for suffix in suffixes:
        if suffix == ".wav" and not has_soundfont():
            continue
        done = abcgen("convert", "t.abc", "-o", f"t{suffix}", cwd=tmp_path,
                      preexec_fn=limit_memory, timeout=60)  # unbounded, these took minutes
        assert done.returncode == 2, done.stderr
        assert re.search(f"tune 1 skipped: .*{re.escape(reason)}", done.stderr), done.stderr
        one_error_line(done.stderr, "no tune of t.abc converted (the warnings say why)")
        assert list(tmp_path.iterdir()) == [tmp_path / "t.abc"]
    if case not in ("one vast measure", "slow and long"):  # the writers' own: check warns
        assert "warning: abcgen will not write it:" in abcgen("check", "t.abc", cwd=tmp_path).stdout


def test_no_tune_of_the_held_out_books_comes_near_a_limit():
    tunes = [t for p in sorted(HELDOUT.glob("*.abc")) for _, t in read_tunes(p)]
    assert len(tunes) > 200
    for text in tunes:
        parsed = parse(text)
        check_tune(parsed)
        notes = [sum(1 for i in m.items if hasattr(i, "pitch")) for m in layout(parsed)]
        assert max(notes, default=0) <= MAX_MEASURE_NOTES / 3


@pytest.mark.slow
def test_no_tune_of_the_default_corpus_comes_near_a_limit():
    from abcgen.runtime.abc.corpus import raw_tunes

    for text in raw_tunes():
        parsed = parse(text)
        check_tune(parsed)
        notes = [sum(1 for i in m.items if hasattr(i, "pitch")) for m in layout(parsed)]
        assert max(notes, default=0) <= MAX_MEASURE_NOTES / 3


# ------------------------------------------------------------------ the bar checker


SEVEN_EIGHT = tune("D|D2A B2d||A|FEF D2E||F|F2F D2d||e|fed e2c|]", "M:7/8\nL:1/8\nK:D")


def test_a_tune_of_one_bar_parts_passes_check_as_it_passes_abc2midi(tmp_path):
    """What `generate --meter 7/8` wrote (a pickup, a 6/8 bar, `||`, again): each
    short bar before `||` and the pickup after it make one 7/8 bar, the convention
    for part ends; abc2midi reports no bar, and neither does check."""
    parsed = parse(SEVEN_EIGHT)
    bars = [n.bar for n in parsed.notes]
    lengths = [sum(n.duration for n in parsed.notes if n.bar == b) for b in sorted(set(bars))]
    assert [lengths[i] + lengths[i + 1] for i in range(0, 8, 2)] == [Fraction(7, 8)] * 4
    assert run_abc2midi(SEVEN_EIGHT).bar_warnings == []
    (tmp_path / "t.abc").write_text(SEVEN_EIGHT)
    done = abcgen("check", "t.abc", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == "", done.stdout
