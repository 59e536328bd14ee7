"""Checkpoint -> one .onnx file that follows the contract of DESIGN.md (format 1).

The graph is written with onnx.helper instead of torch.onnx.export, for speed
at batch 1: one ONNX LSTM node per layer runs onnxruntime's fused CPU kernel,
and when the vocabulary is narrower than the embedding, the embedding is folded
into layer 0 (input OneHot(tokens), input weights W_ih0 @ E^T), which removes
the embedding-wide projection from every step. The file is checked
(onnx.checker, the runtime's contract check, parity with torch) before it is
moved into place.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from abcgen.runtime.abc.normalise import BOS, EOS
from abcgen.runtime.atomic import check_writable, write_atomic
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.evaluate.report import bits_per_char
from abcgen.runtime.generate.onnx_model import FORMAT, Model
from abcgen.trainer.checkpoint import Trained, load_trained

OPSET = 17
PARITY_TOL = 1e-4
PARITY_STEPS = 1000


@dataclass
class ExportReport:
    path: Path
    bytes: int
    parity: dict[str, float]  # max |diff| per check: logits, or the final state
    quantized: bool = False
    float_bytes: int | None = None  # size before quantisation
    float_bpc: float | None = None  # on the validation texts, before and after
    int8_bpc: float | None = None


def _gates(w: torch.Tensor) -> np.ndarray:
    """torch packs LSTM gates i,f,g,o; ONNX wants i,o,f,c (c = torch's g)."""
    i, f, g, o = w.detach().double().numpy().reshape(4, -1, *w.shape[1:])
    return np.concatenate([i, o, f, g])


def build_onnx(trained: Trained) -> onnx.ModelProto:
    """The contract graph for a CharLSTM, with its metadata."""
    model, vocab = trained.model, trained.vocab
    cfg = model.config
    layers, hidden, size = cfg.layers, cfg.hidden, cfg.vocab_size
    for ch in (BOS, EOS):
        if ch not in vocab:
            raise AbcgenError(f"the vocabulary lacks {ch!r} (BOS/EOS)")
    params = dict(model.named_parameters())
    embed = params["embedding.weight"].detach().double().numpy()  # [vocab, embed]

    inits, nodes = [], []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(array, name))
        return name

    def node(op: str, inputs: list[str], outputs: list[str], **attrs) -> list[str]:
        nodes.append(helper.make_node(op, inputs, outputs, name=f"{op}_{len(nodes)}", **attrs))
        return outputs

    # tokens [batch, steps] -> layer 0's input [steps, batch, *] (LSTM layout 0): the
    # one-hot rows when that is narrower than an embedding row, the embedding otherwise.
    fold = size <= cfg.embed
    (x,) = node("Transpose", ["tokens"], ["tokens_t"], perm=[1, 0])
    if fold:
        (x,) = node("OneHot", [x, const("depth", np.array(size, np.int64)),
                               const("onoff", np.array([0, 1], np.float32))], ["onehot"])
    else:
        (x,) = node("Gather", [const("embedding", embed.astype(np.float32)), x], ["embedded"])
    if layers == 1:
        hs, cs, hn, cn = ["h0"], ["c0"], ["hn"], ["cn"]
    else:
        hs = node("Split", ["h0"], [f"h0_{k}" for k in range(layers)], axis=0)
        cs = node("Split", ["c0"], [f"c0_{k}" for k in range(layers)], axis=0)
        hn, cn = [f"hn_{k}" for k in range(layers)], [f"cn_{k}" for k in range(layers)]
    squeeze_axis = const("axis1", np.array([1], np.int64))
    for k in range(layers):
        w_ih = params[f"lstm.weight_ih_l{k}"]
        w = _gates(w_ih)
        if k == 0 and fold:  # onehot @ (W_ih0 @ E^T)^T == W_ih0 @ E[token]
            w = w @ embed.T
        r = _gates(params[f"lstm.weight_hh_l{k}"])
        b = np.concatenate([_gates(params[f"lstm.bias_ih_l{k}"]),
                            _gates(params[f"lstm.bias_hh_l{k}"])])
        y = node(
            "LSTM",
            [x, const(f"W{k}", w[None].astype(np.float32)),
             const(f"R{k}", r[None].astype(np.float32)),
             const(f"B{k}", b[None].astype(np.float32)), "", hs[k], cs[k]],
            [f"y{k}", hn[k], cn[k]],
            hidden_size=hidden,
        )[0]
        (x,) = node("Squeeze", [y, squeeze_axis], [f"y{k}_3d"])  # [steps, batch, hidden]
    head_w = params["head.weight"].detach().numpy().T.copy()  # [hidden, vocab]
    (x,) = node("MatMul", [x, const("head_W", head_w)], ["head_mm"])
    (x,) = node("Add", [x, const("head_b", params["head.bias"].detach().numpy().copy())],
                ["logits_t"])
    node("Transpose", [x], ["logits"], perm=[1, 0, 2])
    if layers > 1:
        node("Concat", hn, ["hn"], axis=0)
        node("Concat", cn, ["cn"], axis=0)

    def io(name: str, dtype: int, shape: list) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, dtype, shape)

    state = [layers, "batch", hidden]
    graph = helper.make_graph(
        nodes, "abcgen_char_lstm",
        [io("tokens", TensorProto.INT64, ["batch", "steps"]),
         io("h0", TensorProto.FLOAT, state), io("c0", TensorProto.FLOAT, state)],
        [io("logits", TensorProto.FLOAT, ["batch", "steps", size]),
         io("hn", TensorProto.FLOAT, state), io("cn", TensorProto.FLOAT, state)],
        inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="abcgen-export")
    proto.ir_version = 8  # readable by onnxruntime >= 1.14
    helper.set_model_props(proto, metadata(trained))
    return proto


def metadata(trained: Trained) -> dict[str, str]:
    vocab = trained.vocab
    metrics = {"valid_bpc": None, "test_bpc": None, **trained.metrics}
    return {
        "abcgen.format": FORMAT,
        "abcgen.vocab": json.dumps(vocab),
        "abcgen.bos": str(vocab.index(BOS)),
        "abcgen.eos": str(vocab.index(EOS)),
        "abcgen.config": json.dumps({"arch": "char-lstm", **trained.model.config.to_dict()}),
        "abcgen.metrics": json.dumps(metrics),
        "abcgen.corpus": json.dumps(trained.corpus),
    }


def check_parity(trained: Trained, runtime: Model, tunes: list[str], seed: int = 0) -> dict:
    """Max |logit diff| between torch and onnxruntime, or AbcgenError above tolerance.

    Each token sequence (random ids; real tunes joined as BOS+text+EOS) is fed
    to onnxruntime once as a single prefill call and once one step per call
    with the state carried, and both are compared with torch's prefill (the
    final state too: h absolutely, c relative to its largest value).
    """
    rng = np.random.default_rng(seed)
    size = len(trained.vocab)
    sequences = {"random": rng.integers(0, size, (2, PARITY_STEPS))}
    if tunes:
        stream = "".join(BOS + t + EOS for t in tunes)
        ids = runtime.encode(stream[:PARITY_STEPS])
        sequences["tunes"] = ids[None]
    worst = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one step is small: on a busy CPU more threads only contend
    try:
        with torch.no_grad():
            wanted = {k: [t.numpy() for t in trained.model(torch.from_numpy(v))]
                      for k, v in sequences.items()}
    finally:
        torch.set_num_threads(threads)
    for label, tokens in sequences.items():
        want, want_h, want_c = wanted[label]
        if not np.isfinite(want).all():
            raise AbcgenError("the checkpoint gives non-finite logits (NaN or inf weights?)")
        h, c = runtime.zero_state(tokens.shape[0])
        prefill, hn, cn = runtime.run(tokens, h, c)
        # h is bounded by tanh; c grows (hundreds in trained models), so its float32
        # rounding is compared relative to its size
        c_scale = max(1.0, float(np.abs(want_c).max()))
        worst[f"{label}/state"] = float(max(np.abs(hn - want_h).max(),
                                            np.abs(cn - want_c).max() / c_scale))
        stepper = runtime.stepper(tokens.shape[0])
        stepped = np.empty_like(prefill)
        for t in range(tokens.shape[1]):
            stepper.tokens[:, 0] = tokens[:, t]
            stepped[:, t] = stepper.step()
        for how, got in (("prefill", prefill), ("steps", stepped)):
            worst[f"{label}/{how}"] = float(np.abs(got - want).max())
    bad = {k: v for k, v in worst.items() if not v < PARITY_TOL}
    if bad:
        raise AbcgenError(
            "exported model disagrees with torch: max |logit diff| "
            + ", ".join(f"{k} {v:.2e}" for k, v in bad.items()) + f" (tolerance {PARITY_TOL})"
        )
    return worst


def quantize_int8(model_bytes: bytes, workdir: Path) -> bytes:
    """Dynamic int8 quantisation of the weights (activations stay float)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = workdir / "float.onnx", workdir / "int8.onnx"
    src.write_bytes(model_bytes)
    logging.getLogger().setLevel(logging.ERROR)  # its advice on pre-processing is noise here
    quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
    quant = onnx.load(dst)
    source = onnx.load_from_string(model_bytes)
    del quant.metadata_props[:]
    quant.metadata_props.extend(source.metadata_props)
    return quant.SerializeToString()


def export(
    checkpoint: Path,
    out: Path,
    *,
    tunes: list[str] | None = None,
    quantize: str | None = None,
) -> ExportReport:
    """Write `out` atomically once every check passed; `tunes` are real texts for
    the parity check and the bits/char cost of quantisation."""
    if quantize not in (None, "int8"):
        raise AbcgenError(f"unknown quantisation {quantize!r}; only 'int8' is supported")
    check_writable(out, inputs=[checkpoint])  # before the minutes of work, not after
    trained = load_trained(checkpoint)
    if tunes is not None:
        known = set(trained.vocab)
        usable = [t for t in tunes if known.issuperset(t)]  # another corpus may differ
        if tunes and not usable:
            raise AbcgenError(f"none of the {len(tunes)} validation tunes fits the model's "
                              "vocabulary; give tunes of its own corpus (--valid)")
        tunes = usable
    proto = build_onnx(trained)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as err:
        raise AbcgenError(f"onnx.checker rejected the exported graph: {err}") from None
    data = proto.SerializeToString()
    runtime = Model(data)
    parity = check_parity(trained, runtime, tunes or [])
    report = ExportReport(path=Path(out), bytes=len(data), parity=parity)
    if quantize is not None:
        with tempfile.TemporaryDirectory() as tmp:
            quant = quantize_int8(data, Path(tmp))
        quant_runtime = Model(quant)  # the contract check again
        if tunes:
            report.float_bpc = bits_per_char(runtime, tunes)
            report.int8_bpc = bits_per_char(quant_runtime, tunes)
        report.quantized, report.float_bytes, report.bytes = True, len(data), len(quant)
        data = quant
    write_atomic(out, data)
    return report
