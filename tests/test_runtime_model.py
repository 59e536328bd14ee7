"""runtime.model: loading a contract file, and saying what is wrong with any other."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from tiny_models import exported

from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.generate.onnx_model import Model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return exported(tmp_path_factory.mktemp("model"), layers=2, hidden=48, scale=3.0)


def test_info_comes_from_the_metadata(model_path):
    info = Model(model_path).info
    assert (info.layers, info.hidden) == (2, 48)
    assert info.vocab[info.bos] == "\x02" and info.vocab[info.eos] == "\x03"
    assert info.metrics == {"valid_bpc": 3.5, "test_bpc": 3.6}
    assert info.corpus["normaliser"] == "1"


def test_stepper_carries_the_state_like_one_prefill(model_path):
    model = Model(model_path)
    tokens = np.random.default_rng(0).integers(0, len(model.info.vocab), (4, 60))
    want, want_h, want_c = model.run(tokens, *model.zero_state(4))
    stepper = model.stepper(4)
    for t in range(60):
        stepper.tokens[:, 0] = tokens[:, t]
        got = stepper.step()
        np.testing.assert_allclose(got, want[:, t], atol=1e-5)
    np.testing.assert_allclose(stepper.state[0], want_h, atol=1e-5)
    np.testing.assert_allclose(stepper.state[1], want_c, atol=1e-5)

    # set_state restarts from any state, broadcasting a batch-1 state over the rows
    h, c = model.run(tokens[:1, :10], *model.zero_state(1))[1:]
    stepper.set_state(h, c)
    stepper.tokens[:, 0] = tokens[0, 10]
    expect = model.run(tokens[:1, :11], *model.zero_state(1))[0][0, -1]
    for row in stepper.step():
        np.testing.assert_allclose(row, expect, atol=1e-5)


def test_encode_refuses_unknown_characters(model_path):
    model = Model(model_path)
    assert [model.info.vocab[i] for i in model.encode("K:G\n")] == list("K:G\n")
    with pytest.raises(AbcgenError, match="'€' is not in the model's vocabulary"):
        model.encode("GA€B")


def _rewrite(src, dst, **meta):
    proto = onnx.load(src)
    props = {p.key: p.value for p in proto.metadata_props}
    props.update(meta)
    del proto.metadata_props[:]
    helper.set_model_props(proto, {k: v for k, v in props.items() if v is not None})
    onnx.save(proto, dst)
    return dst


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"abcgen.format": "2"}, "abcgen.format '2'; this abcgen reads format 1"),
        ({"abcgen.vocab": None}, "lacks metadata abcgen.vocab"),
        ({"abcgen.vocab": "[1, 2"}, "unreadable abcgen metadata"),
        ({"abcgen.vocab": json.dumps(["a", "a"])}, "duplicate entries"),
        ({"abcgen.eos": "999"}, "abcgen.eos = 999 is outside the vocabulary"),
        ({"abcgen.metrics": json.dumps({"valid_bpc": 1.2})}, "lacks 'test_bpc'"),
        ({"abcgen.config": json.dumps({"layers": 3, "hidden": 48})},
         "'h0' has shape [2, 'batch', 48], metadata says [3, 'batch', 48]"),
    ],
)
def test_broken_metadata_is_named(model_path, tmp_path, meta, message):
    broken = _rewrite(model_path, tmp_path / "broken.onnx", **meta)
    with pytest.raises(AbcgenError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Model(broken)


def test_a_foreign_model_is_named_as_such(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.save(proto, tmp_path / "relu.onnx")
    with pytest.raises(AbcgenError, match=r"not an abcgen model: inputs are \['x'\]"):
        Model(tmp_path / "relu.onnx")


def test_wrong_dtype_is_named(model_path, tmp_path):
    proto = onnx.load(model_path)
    proto.graph.input[0].type.tensor_type.elem_type = TensorProto.INT32
    onnx.save(proto, tmp_path / "int32.onnx")
    with pytest.raises(AbcgenError, match=r"'tokens' is tensor\(int32\), expected tensor\(int64"):
        Model(tmp_path / "int32.onnx")


@pytest.mark.parametrize("content", [b"", b"\x08\x07garbage that is not protobuf", None])
def test_unreadable_files(tmp_path, content):
    path = tmp_path / "m.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AbcgenError, match="not found" if content is None else "not a loadable"):
        Model(path)
