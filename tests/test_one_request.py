"""One request, one set of tunes: `abcgen generate`, the plugin, `abcgen eval` and
`abcgen-live` all generate through `GeneratorParams`, so the same request gives the
same tunes, byte for byte, on every path (the shipped model, real onnxruntime)."""

from __future__ import annotations

import multiprocessing as mp
import re
from itertools import islice
from pathlib import Path

import pytest
from cli import run

from abcgen.exported import DEFAULT_MODEL
from abcgen.runtime.constrain.forms import form_choice
from abcgen.runtime.evaluate.report import evaluate
from abcgen.runtime.generate.generator import generate
from abcgen.runtime.generate.onnx_model import Model
from abcgen.runtime.generate.params import GeneratorParams
from abcgen.runtime.live.config import LiveConfig
from abcgen.runtime.live.session import Shared, _tunes, tune_params
from abcgen.runtime.musescore.requests import Request, generate_for_plugin

# a 6/8 request without a key: the model writes K: itself, in the form asked for
REQUEST = {"meter": "6/8", "num": 2, "seed": 5, "form": "AABB"}
SHORT = ("M:6/8\nL:1/8\nK:D\n|:FAF GBG|FAF E3|FAF GBG|1AFD D3:|2AFD D2||\n",
         "M:3/4\nL:1/8\nK:G\nG2 B2 d2|c2 A2 F2|G6|]\n")


@pytest.fixture(scope="module")
def model() -> Model:
    return Model(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def reference(model) -> list[str]:
    return [t.text for t in generate(model, GeneratorParams(**REQUEST))]


def music(abc: str) -> str:
    """A tune's text as generated: X: and T: gone (the writers add them), no whitespace."""
    return "".join("".join(line.split()) for line in abc.splitlines()
                   if not re.match(r"[XT]:", line))


def test_the_command_line_generates_the_requested_tunes(reference, capsys):
    code, out, err = run(["generate", "--meter", "6/8", "--num", "2", "--seed", "5",
                          "--form", "AABB"], capsys)
    assert code == 0, err
    tunes = [t for t in re.split(r"\n(?=X:)", out.strip())]
    assert [music(t) for t in tunes] == [music(t) for t in reference]


def test_the_plugin_generates_the_requested_tunes(reference, tmp_path):
    answer = generate_for_plugin(Request(**REQUEST), tmp_path)
    written = [Path(t["files"]["abc"]).read_text(encoding="utf-8") for t in answer["tunes"]]
    assert answer["seed"] == 5
    assert [music(t) for t in written] == [music(t) for t in reference]


def test_eval_generates_the_requested_tunes(reference):
    splits = {"train": list(SHORT), "valid": list(SHORT), "test": list(SHORT)}
    report, _, _ = evaluate(DEFAULT_MODEL, splits, num=2, forms=[form_choice("AABB")],
                            meter="6/8", seed=5, abc2midi=False, corpus_sample=2)
    assert report["runs"][0]["form"] == "AABB:8"
    assert report["runs"][0]["examples"][:2] == reference


def test_live_plays_the_tunes_its_requests_ask_for(model):
    config = LiveConfig(meter="6/8", key="Dmix", form="auto", seed=3, set_size=2)
    asked = list(islice(tune_params(config, lambda: 1.0), 4))
    assert len({p.seed for p in asked}) == 4  # each tune its own seed ...
    assert asked[0].shape == asked[1].shape and asked[0].shape.auto is False  # a set, one form
    played = islice(_tunes(config, Shared(mp.get_context("spawn"), config)), 2)
    for params, (prime, rest) in zip(asked, played, strict=False):
        assert prime + "".join(rest) == generate(model, params)[0].text
