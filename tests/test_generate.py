"""Sampling, the generator loop and `abcgen generate`, on small exported models."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from cli import app
from hypothesis import given
from hypothesis import strategies as st
from tiny_models import exported
from typer.testing import CliRunner

from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.generate.generator import Generator, generate
from abcgen.runtime.generate.onnx_model import Model
from abcgen.runtime.generate.params import GeneratorParams
from abcgen.runtime.generate.prime import prime_text
from abcgen.runtime.generate.sampling import SamplingOptions, sample, sample_checked


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return exported(tmp_path_factory.mktemp("model"), layers=2, hidden=48, scale=2.0)


@pytest.fixture(scope="module")
def model(model_path):
    return Model(model_path)


# -- sampling ---------------------------------------------------------------

LOGITS = np.log(np.array([0.5, 0.3, 0.15, 0.05], np.float32))


def draws(options, rows=40_000, allowed=None, seed=0):
    logits = np.tile(LOGITS, (rows, 1))
    picked = sample(logits, np.random.default_rng(seed), options, allowed)
    return np.bincount(picked, minlength=4) / rows


def test_sampling_follows_the_softmax_at_each_temperature():
    for temperature in (1.0, 0.5, 2.0):
        want = np.exp(LOGITS / temperature)
        np.testing.assert_allclose(draws(SamplingOptions(temperature)), want / want.sum(),
                                   atol=0.01)


def test_cuts_and_masks_restrict_the_support():
    np.testing.assert_allclose(draws(SamplingOptions(top_k=2)), [0.5 / 0.8, 0.3 / 0.8, 0, 0],
                               atol=0.01)
    # top-p 0.7: 0.5 alone is short of it, 0.5 + 0.3 reaches it
    np.testing.assert_allclose(draws(SamplingOptions(top_p=0.7)), [0.5 / 0.8, 0.3 / 0.8, 0, 0],
                               atol=0.01)
    allowed = np.tile([False, True, False, True], (40_000, 1))
    np.testing.assert_allclose(draws(SamplingOptions(), allowed=allowed),
                               [0, 0.3 / 0.35, 0, 0.05 / 0.35], atol=0.01)
    assert draws(SamplingOptions(temperature=0), allowed=allowed)[1] == 1.0  # greedy
    with pytest.raises(AbcgenError, match="allows no character"):
        draws(SamplingOptions(), allowed=np.zeros((40_000, 4), bool))


@given(seed=st.integers(0, 2**32 - 1), temperature=st.sampled_from([0.0, 0.7, 1.0, 1.5]))
def test_checking_the_pick_draws_what_the_mask_draws(seed, temperature):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (16, 12)).astype(np.float32)
    allowed = rng.random((16, 12)) < 0.3
    allowed[np.arange(16), rng.integers(0, 12, 16)] = True  # never nothing
    options = SamplingOptions(temperature)
    asked = []

    def whole(refused: np.ndarray) -> np.ndarray:
        asked.append(1)
        return allowed[refused]

    checked = sample_checked(logits, np.random.default_rng(seed + 1), options,
                             lambda ids: allowed[np.arange(16), ids], whole)
    np.testing.assert_array_equal(
        checked, sample(logits, np.random.default_rng(seed + 1), options, allowed))
    assert len(asked) <= 1


@pytest.mark.parametrize("bad", [dict(temperature=-1), dict(top_k=-2), dict(top_p=0.0),
                                 dict(top_p=1.5)])
def test_bad_sampling_options(bad):
    with pytest.raises(AbcgenError):
        SamplingOptions(**bad)


# -- the generator ----------------------------------------------------------


class Recorder:
    """A StepMask that forbids some characters and records what it was told."""

    def __init__(self, vocab, batch, forbid="", eos_after=None):
        self.vocab, self.fed, self.advanced = vocab, [], []
        self.allow = np.array([ch not in forbid for ch in vocab])
        self.eos_after = eos_after  # {row: n}: only EOS allowed once the row has n chars
        self.count = np.zeros(batch, int)

    def feed(self, texts):
        self.fed.append(list(texts))

    def allowed(self):
        out = np.tile(self.allow, (len(self.count), 1))
        for row, n in (self.eos_after or {}).items():
            if self.count[row] >= n:
                out[row] = [ch == "\x03" for ch in self.vocab]
        return out

    def advance(self, tokens):
        self.advanced.append(np.array(tokens))
        self.count += 1


def run(gen):
    streamed = [""] * gen.batch
    for chars in gen.stream():
        streamed = [s + c for s, c in zip(streamed, chars, strict=True)]
    return streamed


def test_same_seed_same_tunes_other_seed_other_tunes(model):
    prime = prime_text("6/8", "D")
    a = generate(model, GeneratorParams(prefix=prime, num=3, seed=11, max_chars=200, free=True))
    b = generate(model, GeneratorParams(prefix=prime, num=3, seed=11, max_chars=200, free=True))
    c = generate(model, GeneratorParams(prefix=prime, num=3, seed=12, max_chars=200, free=True))
    assert a == b
    assert [t.text for t in a] != [t.text for t in c]
    assert all(t.text.startswith("M:6/8\nL:1/8\nK:D\n") for t in a)


def test_streamed_characters_make_the_texts_and_limits_hold(model):
    gen = Generator(model, GeneratorParams(num=6, seed=3, max_chars=40, free=True))
    gen.append("M:4/4\n")
    streamed = run(gen)
    assert streamed == gen.texts()
    for text, ended in zip(gen.texts(), gen.ended, strict=True):
        assert len(text) <= 40 and "\x03" not in text and "\x02" not in text
        assert ended or len(text) == 40  # stopped by EOS, or by the length limit


def test_mask_is_fed_the_prime_and_obeyed(model):
    vocab = model.info.vocab
    mask = Recorder(vocab, 5, forbid="|:ABC")
    gen = Generator(model, GeneratorParams(num=5, seed=1, max_chars=80, free=True), mask=mask)
    gen.append("M:3/4\n")
    run(gen)
    assert mask.fed == [["\x02M:3/4\n"] * 5]
    assert not set("|:ABC") & set("".join(gen.texts()))
    texts = gen.texts()
    for step, tokens in enumerate(mask.advanced):  # every draw was reported, EOS after the end
        for row, token in enumerate(tokens):
            assert vocab[token] == (texts[row][step] if step < len(texts[row]) else "\x03")


def test_batch_shrinks_as_tunes_end_without_changing_the_others(model):
    # Greedy decoding: every row would write the same tune; rows 0-11 are made to end
    # early, which drops them from the batch, and rows 12-15 must go on exactly as a
    # batch-1 run does.
    vocab = model.info.vocab
    greedy = GeneratorParams(num=16, temperature=0, max_chars=120, free=True)
    mask = Recorder(vocab, 16, forbid="\x03", eos_after={r: 3 + r for r in range(12)})
    gen = Generator(model, greedy, mask=mask)
    gen.append("M:2/4\n")
    run(gen)
    alone = Generator(model, replace(greedy, num=1), mask=Recorder(vocab, 1, "\x03"))
    alone.append("M:2/4\n")
    run(alone)
    texts = gen.texts()
    assert len(gen._rows) < 16  # it did shrink
    assert [len(t) for t in texts[:12]] == [3 + r for r in range(12)]
    assert texts[12:] == alone.texts() * 4
    assert all(t.startswith(alone.texts()[0][:3 + r]) for r, t in enumerate(texts[:12]))


def test_the_constraint_engine_plugs_into_the_step_hook(model):
    from abcgen.runtime.constrain.mask import BatchConstraint

    class WholeMasks:  # the same constraint, seen through `allowed` alone
        def __init__(self, inner):
            self.feed, self.allowed, self.advance = inner.feed, inner.allowed, inner.advance

    prime = "M:6/8\nL:1/8\nK:D\n"
    params = GeneratorParams(prefix=prime, num=4, seed=1, max_chars=400, form="free")
    mask = BatchConstraint(model.info.vocab, 4, max_chars=400)
    tunes = generate(model, params, mask=mask)
    assert tunes == generate(model, params)  # the mask the params build is that one
    assert mask.fallbacks == 0
    for tune in tunes:  # EOS only after a final or repeat bar line
        assert tune.ended and tune.text.rstrip().endswith(("|]", "||", ":|"))
    # checking each pick (`accepts`) draws the same tunes as building whole masks
    whole = WholeMasks(BatchConstraint(model.info.vocab, 4, max_chars=400))
    assert tunes == generate(model, params, mask=whole)


def test_prime_text_uses_the_normaliser():
    assert prime_text() == ""
    assert prime_text("C", "D major") == "M:4/4\nL:1/8\nK:D\n"
    assert prime_text("3/4", "ador", "1/16") == "M:3/4\nL:1/16\nK:Ador\n"
    assert prime_text("6/8", "G", prefix='"G"GAB !trill!c2d|') == "M:6/8\nL:1/8\nK:G\nGAB c2d|"
    assert prime_text(prefix="X:3\nT:Mine\nM:2/4\nK:Em\nEF|") == "M:2/4\nL:1/16\nK:Em\nEF|"
    with pytest.raises(AbcgenError, match="needs --meter and --key"):
        prime_text(prefix="GAB|")
    with pytest.raises(AbcgenError, match="own K: line"):
        prime_text("6/8", "G", prefix="K:D\nABc|")
    with pytest.raises(AbcgenError, match="bad key"):
        prime_text("6/8", "H#")


# -- abcgen generate ----------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(app, ["generate", *map(str, args)])


def test_cli_writes_a_reproducible_tunebook(model_path, tmp_path):
    out = tmp_path / "tunes.abc"
    args = ["--model", model_path, "--meter", "6/8", "--key", "Dmix", "--num", "3",
            "--max-chars", "300", "-o", out]
    assert invoke(*args, "--seed", 5).exit_code == 0
    first = out.read_text()
    assert re.findall(r"^X:(\d+)$", first, re.M) == ["1", "2", "3"]
    assert re.findall(r"^T:(.*)$", first, re.M) == [f"abcgen seed 5 #{i}" for i in (1, 2, 3)]
    assert first.count("\nM:6/8\n") == 3 and first.count("\nK:Dmix\n") == 3
    assert invoke(*args, "--seed", 5).exit_code == 0
    assert out.read_text() == first
    assert invoke(*args, "--seed", 6).exit_code == 0
    assert out.read_text() != first


def test_cli_to_stdout_with_a_prefix(model_path):
    result = invoke("--model", model_path, "--meter", "4/4", "--key", "G", "--seed", 2,
                    "--prefix", "|:GABc dedB|", "--max-chars", "100", "--top-k", "5",
                    "--top-p", "0.9", "--temperature", "0.8")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("X:1\nT:abcgen seed 2\nM:4/4\nL:1/8\nK:G\n|:GABc dedB|")


def test_cli_writes_midi_and_musicxml_through_the_abc_engine(model_path, tmp_path):
    import xml.etree.ElementTree as ET

    import mido

    args = ["--model", model_path, "--meter", "6/8", "--key", "D", "--prefix", "|:ABc dfe|",
            "--seed", 2, "--max-chars", 200]
    assert invoke(*args, "--num", 2, "-o", tmp_path / "t.mid").exit_code == 0
    for i in (1, 2):  # one file per tune; the prefix's notes come first, in D major
        midi = mido.MidiFile(tmp_path / f"t-{i}.mid")
        notes = [m.note for t in midi.tracks for m in t if m.type == "note_on" and m.velocity]
        assert notes[:6] == [69, 71, 73, 74, 78, 76]
    assert invoke(*args, "-o", tmp_path / "t.musicxml").exit_code == 0
    root = ET.parse(tmp_path / "t.musicxml").getroot()
    steps = [n.findtext("pitch/step") for n in root.iter("note") if n.find("pitch") is not None]
    assert steps[:6] == list("ABCDFE")
    assert root.findtext(".//work-title") == "abcgen seed 2"


def test_cli_warns_when_a_tune_is_cut(model_path):
    result = invoke("--model", model_path, "--seed", 1, "--max-chars", 3, "--num", 4)
    assert result.exit_code == 0
    assert "reached --max-chars 3 before its end" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "tune.pdf"], "unknown output format '.pdf'"),
        (["-o", "no/such/folder/t.abc"], "folder no/such/folder does not exist"),
        (["--key", "G"], "choose a meter too"),
        (["--top-p", "0"], "top-p must be in (0, 1]"),
        (["--prefix", "GAB|"], "needs --meter and --key"),
    ],
)
def test_cli_bad_options(model_path, args, message):
    result = invoke("--model", model_path, *args)
    assert isinstance(result.exception, AbcgenError), result.output
    assert message in str(result.exception)


def test_cli_default_model(tmp_path):
    from abcgen.exported import DEFAULT_MODEL

    result = invoke("--seed", 1, "--max-chars", 50)
    if DEFAULT_MODEL.is_file():
        assert result.exit_code == 0 and result.stdout.startswith("X:1\n")
    else:
        assert "the shipped model is missing" in str(result.exception)


def test_cli_as_a_process(model_path):
    done = subprocess.run(
        [sys.executable, "-c", "from abcgen.runtime.cli import main; main()", "generate",
         "--model", str(model_path), "--meter", "6/8", "--key", "G", "--seed", "4"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("X:1\nT:abcgen seed 4\nM:6/8\nL:1/8\nK:G\n")
    missing = subprocess.run(
        [sys.executable, "-c", "from abcgen.runtime.cli import main; main()", "generate",
         "--model", "no-such.onnx"],
        capture_output=True, text=True, timeout=120,
    )
    assert missing.returncode == 2
    assert missing.stderr == "error: model file not found: no-such.onnx\n"
