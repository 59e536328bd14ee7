"""abcgen-export: the contract, parity with torch, quantisation, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from tiny_models import make_checkpoint, real_tunes
from typer.testing import CliRunner

from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.evaluate.report import bits_per_char
from abcgen.runtime.generate.onnx_model import Model
from abcgen.trainer import checkpoint
from abcgen.trainer.checkpoint import load_trained
from abcgen.trainer.export import check_parity, export
from abcgen.trainer.export_cli import app

TUNES = list(real_tunes())


@pytest.fixture(autouse=True)
def one_torch_thread():
    # These models are tiny: on a shared 2-core machine a second torch thread only
    # waits for the first (10x slower under load).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torch_logits(ckpt: Path, tokens: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return load_trained(ckpt).model(torch.from_numpy(tokens))[0].numpy()


@pytest.mark.parametrize(
    "shape",
    [
        dict(embed=128, hidden=48, layers=2, scale=4.0),  # vocab < embed: embedding folded
        dict(embed=16, hidden=40, layers=3, scale=4.0),  # vocab > embed: embedding gathered
        dict(embed=24, hidden=32, layers=1, scale=4.0),  # no Split/Concat of the state
    ],
)
def test_exported_graph_matches_torch_and_follows_the_contract(tmp_path, shape):
    ckpt = make_checkpoint(tmp_path / "m.pt", **shape)
    out = tmp_path / "m.onnx"
    report = export(ckpt, out, tunes=TUNES)
    assert set(report.parity) == {f"{s}/{h}" for s in ("random", "tunes")
                                  for h in ("prefill", "steps", "state")}
    assert max(report.parity.values()) < 1e-4

    proto = onnx.load(out)
    onnx.checker.check_model(proto, full_check=True)
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in [*proto.graph.input, *proto.graph.output]}
    layers, hidden, trained = shape["layers"], shape["hidden"], load_trained(ckpt)
    vocab = len(trained.vocab)
    assert dims == {"tokens": ["batch", "steps"], "h0": [layers, "batch", hidden],
                    "c0": [layers, "batch", hidden], "logits": ["batch", "steps", vocab],
                    "hn": [layers, "batch", hidden], "cn": [layers, "batch", hidden]}
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["abcgen.format"] == "1"
    assert json.loads(meta["abcgen.vocab"]) == trained.vocab
    assert trained.vocab[int(meta["abcgen.bos"])] == "\x02"
    assert trained.vocab[int(meta["abcgen.eos"])] == "\x03"
    assert json.loads(meta["abcgen.config"])["hidden"] == hidden
    assert json.loads(meta["abcgen.metrics"]) == {"valid_bpc": 3.5, "test_bpc": 3.6}
    assert json.loads(meta["abcgen.corpus"])["normaliser"] == "1"

    # Independent of the exporter's own check: batch 3, state carried across calls of
    # different lengths (a prefill of 37, then single steps, then a block of 50).
    model = Model(out)
    tokens = np.random.default_rng(1).integers(0, vocab, (3, 120))
    want = torch_logits(ckpt, tokens)
    h, c = model.zero_state(3)
    got = []
    for a, b in [(0, 37), *((t, t + 1) for t in range(37, 70)), (70, 120)]:
        logits, h, c = model.run(tokens[:, a:b], h, c)
        got.append(logits)
    assert np.abs(np.concatenate(got, axis=1) - want).max() < 1e-4
    assert np.abs(want).max() > 2  # saturated gates, logits well away from 0


def test_parity_check_catches_a_model_that_differs(tmp_path):
    a = make_checkpoint(tmp_path / "a.pt", seed=1)
    b = make_checkpoint(tmp_path / "b.pt", seed=2)
    export(b, tmp_path / "b.onnx")
    with pytest.raises(AbcgenError, match="disagrees with torch"):
        check_parity(load_trained(a), Model(tmp_path / "b.onnx"), TUNES)


def test_a_diverged_checkpoint_fails_and_leaves_no_file(tmp_path):
    ckpt = make_checkpoint(tmp_path / "m.pt")
    state = checkpoint.load_state(ckpt)
    state["model"]["lstm.weight_hh_l0"][0, 0] = float("nan")
    checkpoint.save(ckpt, {k: v for k, v in state.items() if k != "format"})
    valid = _valid(tmp_path)
    result = CliRunner().invoke(app, [str(ckpt), "-o", str(tmp_path / "m.onnx"),
                                      "--valid", str(valid)])
    # in process the error reaches the runner; `main` turns it into exit 2 (see below)
    assert isinstance(result.exception, AbcgenError), result.output
    assert "non-finite" in str(result.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "valid.txt"]


def test_int8_is_smaller_and_reports_its_cost(tmp_path):
    ckpt = make_checkpoint(tmp_path / "m.pt", embed=64, hidden=64)
    float_out, int8_out = tmp_path / "f.onnx", tmp_path / "q.onnx"
    export(ckpt, float_out)
    report = export(ckpt, int8_out, tunes=TUNES, quantize="int8")
    assert report.quantized and report.bytes == int8_out.stat().st_size
    assert report.bytes < 0.5 * float_out.stat().st_size == 0.5 * report.float_bytes
    quant = Model(int8_out)  # loads with the contract checks and the metadata intact
    assert quant.info == Model(float_out).info
    assert report.int8_bpc == pytest.approx(bits_per_char(quant, TUNES))
    assert report.float_bpc == pytest.approx(bits_per_char(Model(float_out), TUNES))
    assert abs(report.int8_bpc - report.float_bpc) < 0.2


def test_bits_per_char_is_the_metric_of_the_trainer(tmp_path):
    from abcgen.trainer.evaluate import bits_per_char as torch_bpc
    from abcgen.trainer.vocab import Vocab

    ckpt = make_checkpoint(tmp_path / "m.pt", scale=2.0)
    export(ckpt, tmp_path / "m.onnx")
    trained = load_trained(ckpt)
    ids = [Vocab(trained.vocab).encode_tune(t) for t in TUNES]
    assert bits_per_char(Model(tmp_path / "m.onnx"), TUNES) == pytest.approx(
        torch_bpc(trained.model, ids), rel=1e-5)


def test_cli_exports_with_a_valid_file(tmp_path):
    ckpt = make_checkpoint(tmp_path / "m.pt")
    valid = tmp_path / "valid.txt"
    valid.write_text("\n\n".join(TUNES[:10]) + "\n")
    out = tmp_path / "sub" / "m.onnx"
    (tmp_path / "sub").mkdir()
    result = CliRunner().invoke(app, [str(ckpt), "-o", str(out), "--valid", str(valid)])
    assert result.exit_code == 0, result.output
    assert "parity with torch" in result.output and "tunes/steps" in result.output
    assert Model(out).info.vocab == tuple(load_trained(ckpt).vocab)


def _bad_input(tmp_path: Path, case: str) -> tuple[Path, Path, str]:
    ckpt = tmp_path / "m.pt"
    out = tmp_path / "m.onnx"
    if case == "corrupt":
        ckpt.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    elif case == "foreign":  # a torch file, but not ours
        torch.save({"weights": torch.zeros(3)}, ckpt)
    elif case == "other-arch":  # our format, but GRU weights
        gru = torch.nn.GRU(8, 16)
        checkpoint.save(ckpt, {"config": {"vocab_size": 40, "embed": 8, "hidden": 16,
                                          "layers": 1},
                               "vocab": [chr(32 + i) for i in range(40)],
                               "model": gru.state_dict()})
    elif case == "unwritable":
        make_checkpoint(ckpt)
        (tmp_path / "file").write_text("")
        out = tmp_path / "file" / "m.onnx"
    message = {"missing": "checkpoint not found", "corrupt": "not a PyTorch checkpoint",
               "foreign": "not an abcgen checkpoint", "other-arch": "weights do not fit",
               "unwritable": "cannot write"}[case]
    return ckpt, out, message


def test_tunes_of_another_corpus_are_refused(tmp_path):
    ckpt = make_checkpoint(tmp_path / "m.pt")
    with pytest.raises(AbcgenError, match="none of the 2 validation tunes fits"):
        export(ckpt, tmp_path / "m.onnx", tunes=["M:4/4\nL:1/8\nK:C\nÀÉ|]", "\x07"])


@pytest.mark.parametrize("case", ["missing", "corrupt", "foreign", "other-arch", "unwritable"])
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, case):
    ckpt, out, message = _bad_input(tmp_path, case)
    valid = _valid(tmp_path)
    before = set(tmp_path.rglob("*"))
    result = CliRunner().invoke(app, [str(ckpt), "-o", str(out), "--valid", str(valid)])
    assert isinstance(result.exception, AbcgenError), result.output
    assert message in str(result.exception)
    assert set(tmp_path.rglob("*")) == before  # nothing written, no temporary file left


def test_bad_input_exits_2_without_a_traceback(tmp_path):
    ckpt, out, message = _bad_input(tmp_path, "unwritable")
    done = subprocess.run(
        [sys.executable, "-m", "abcgen.trainer.export_cli", str(ckpt), "-o", str(out),
         "--valid", str(_valid(tmp_path))],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert "Traceback" not in done.stderr


def _valid(folder: Path) -> Path:
    path = folder / "valid.txt"
    if not path.exists():
        path.write_text("\n\n".join(TUNES[:3]) + "\n")
    return path
