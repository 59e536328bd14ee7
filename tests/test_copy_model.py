"""The copy model: what it proposes where a musician would look, its loop guard,
its gate in the ONNX file, and that a closed gate leaves generation exactly as it was."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import onnx
import pytest
from tiny_models import exported, real_tunes

from abcgen.exported import DEFAULT_MODEL
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.evaluate.bits import bits_per_char
from abcgen.runtime.evaluate.structure import most_in_a_row, written_bars
from abcgen.runtime.generate.copy_model import (
    KINDS,
    MATCHED,
    METADATA_KEY,
    CopyGate,
    TuneCopier,
)
from abcgen.runtime.generate.generator import generate
from abcgen.runtime.generate.onnx_model import Model
from abcgen.runtime.generate.params import GeneratorParams

ABCGEN_EXPORT = Path(sys.executable).with_name("abcgen-export")
HEADER = "M:4/4\nL:1/8\nK:G\n"


def proposed(text: str) -> dict[str, str]:
    """kind -> the character it proposes after `text`."""
    copier = TuneCopier()
    copier.feed(text)
    return {KINDS[kind]: ch for kind, ch, _ in copier.proposals()}


def with_gate(source: Path, gate: CopyGate | None, out: Path) -> Path:
    proto = onnx.load(str(source))
    props = [p for p in proto.metadata_props if p.key != METADATA_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(props)
    if gate is not None:
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, gate.to_json()
    onnx.save(proto, str(out))
    return out


# ------------------------------------------------------------------ proposals


def test_a_bar_is_proposed_from_four_bars_back_while_it_matches():
    phrase = "GABc dBAG|FGAB cAFD|GABc dBAG|FDEF G4|"
    assert proposed(HEADER + phrase + "GA")["bar4"] == "B"  # bar 5 starts as bar 1 did
    assert proposed(HEADER + phrase + "GAB")["bar4"] == "c"
    assert "bar4" not in proposed(HEADER + phrase + "GE")  # it differs: no longer proposed
    assert proposed(HEADER + phrase + "G4|GAB")["suffix"] == "c"  # "G4|GAB" stood before


def test_the_b_part_is_read_against_the_a_part():
    a_part = "|:GABc dBAG|FGAB cAFD|GABc dBAG|FDEF G4:|\n"
    b_part = "|:d2 Bd g2 dg|"
    found = proposed(HEADER + a_part + b_part + "F")  # B's bar 2 beside A's bar 2
    assert found["part"] == "G"
    rounded = proposed(HEADER + a_part + b_part + "e2 ce a2 ea|")  # B's bar 3: A's bar 1
    assert rounded["rounded"] == "G" and rounded["part"] == "G"


def test_the_second_ending_is_read_against_the_first():
    tune = HEADER + "|:GABc dBAG|FGAB cAFD|GABc dBAG|1FDEF G4:|2FD"
    assert proposed(tune)["ending"] == "E"


def test_the_loop_guard_stops_copying_a_bar_played_three_times():
    bar = "GABc dBAG|"
    assert proposed(HEADER + bar * 2)["bar1"] == "G"  # twice: a third may follow
    assert proposed(HEADER + bar * 3) == {}  # three times: nothing proposes a fourth
    assert proposed(HEADER + "FGAB cAFD|" * 2 + bar * 2 + "FGAB cAFD|")  # a pair, played twice
    two = "FGAB cAFD|" + bar
    # a 2-bar group played twice: nothing proposes its first bar a third time (a bar
    # repeating the last one is another matter)
    assert proposed(HEADER + two * 2) == {"bar1": "G"}


# ------------------------------------------------------------------ the gate in the file


def test_the_gate_travels_in_the_model_file_and_a_bad_one_is_named(tmp_path):
    gate = CopyGate.closed()
    assert CopyGate.from_json(gate.to_json(fitted_on="valid")) == gate
    model = with_gate(DEFAULT_MODEL, gate, tmp_path / "closed.onnx")
    assert Model(model).info.copy == gate
    assert Model(with_gate(DEFAULT_MODEL, None, tmp_path / "none.onnx")).info.copy is None
    bad = with_gate(DEFAULT_MODEL, None, tmp_path / "bad.onnx")
    proto = onnx.load(str(bad))
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps({"format": 1, "kinds": ["x"]})
    onnx.save(proto, str(bad))
    with pytest.raises(AbcgenError, match=r"bad.onnx: abcgen.copy: copy gate kinds"):
        Model(bad)


def test_a_closed_gate_draws_what_the_lstm_alone_draws(tmp_path):
    """Byte for byte: with a gate that never copies, or no gate, or --copy off."""
    closed = Model(with_gate(DEFAULT_MODEL, CopyGate.closed(), tmp_path / "closed.onnx"))
    none = Model(with_gate(DEFAULT_MODEL, None, tmp_path / "none.onnx"))
    shipped = Model(DEFAULT_MODEL)
    for request in ({"form": "AABB", "meter": "6/8", "key": "D"}, {"num": 4},
                    {"free": True, "num": 3}, {"form": "free", "top_p": 0.9, "num": 2}):
        params = GeneratorParams(seed=3, **request)
        alone = [t.text for t in generate(none, params)]
        assert [t.text for t in generate(closed, params)] == alone
        off = GeneratorParams(seed=3, copy=False, **request)
        assert [t.text for t in generate(shipped, off)] == alone
        assert [t.text for t in generate(shipped, params)] != alone  # the fitted gate copies


def test_a_closed_gate_scores_what_the_lstm_alone_scores():
    model = Model(DEFAULT_MODEL)
    tunes = list(real_tunes(12))
    alone = bits_per_char(model, tunes)
    assert bits_per_char(model, tunes, gate=CopyGate.closed()) == pytest.approx(alone, rel=1e-12)
    assert bits_per_char(model, tunes, gate=model.info.copy) < alone - 0.05


# ------------------------------------------------------------------ what it does to tunes


def test_the_shipped_gate_makes_tunes_restate_without_looping(tmp_path):
    model = Model(DEFAULT_MODEL)
    copies = GeneratorParams(meter="4/4", key="G", form="free", num=40, seed=7)
    alone = GeneratorParams(meter="4/4", key="G", form="free", num=40, seed=7, copy=False)

    def repeated(text: str) -> float:
        bars = [b.strip() for b in re.split(r"[|:\]\[]+\d?", text.split("K:", 1)[1]) if b.strip()]
        return sum(b in bars[:i] for i, b in enumerate(bars)) / max(1, len(bars))

    with_copy = [t.text for t in generate(model, copies)]
    without = [t.text for t in generate(model, alone)]
    assert sum(map(repeated, with_copy)) > 2 * sum(map(repeated, without))
    # a gate that copies whenever it can, held back only by the loop guard
    eager = replace(CopyGate.closed(), table=((30.0,) * MATCHED,) * len(KINDS))
    greedy = Model(with_gate(DEFAULT_MODEL, eager, tmp_path / "eager.onnx"))
    tunes = [parse(t.text) for t in generate(greedy, copies)]
    written = [most_in_a_row([b.melody for b in written_bars(t)], 1) for t in tunes]
    assert max(written) <= 4 and sum(r > 3 for r in written) <= 2, written


# ------------------------------------------------------------------ fitting at export


def test_export_fits_the_gate_on_the_valid_tunes_and_says_so(tmp_path):
    source = exported(tmp_path, copy=False)
    valid = tmp_path / "valid.txt"
    valid.write_text("\n\n".join(real_tunes(30)), encoding="utf-8")
    done = subprocess.run([ABCGEN_EXPORT, source, "-o", tmp_path / "copy.onnx", "--valid", valid],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    said = re.search(r"copy model: fitted on 30 valid tunes; valid bits/char ([\d.]+) with the "
                     r"LSTM alone, ([\d.]+) with the copy model", done.stdout)
    assert said, done.stdout
    model = Model(tmp_path / "copy.onnx")
    gate = model.info.copy
    assert gate is not None and all(math.isfinite(v) for v in gate.lstm)
    tunes = list(real_tunes(30))
    # what it reports is the metric, computed by the runtime with that gate
    assert float(said[1]) == pytest.approx(bits_per_char(model, tunes), abs=1e-4)
    assert float(said[2]) == pytest.approx(bits_per_char(model, tunes, gate=gate), abs=1e-4)
    assert float(said[2]) <= float(said[1])
