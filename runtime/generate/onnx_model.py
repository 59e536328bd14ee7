"""The exported model behind generation, and the only importer of onnxruntime.

Loading checks the ONNX contract of DESIGN.md (format 1) up front, so a foreign
or broken file fails here with a message naming what is wrong, not later with
an onnxruntime shape error in the middle of a tune.

Session options are chosen for the job: one thread per session (at batch 1 a
step is a few hundred kFLOP per matrix, too small to split across threads, and
a second thread only adds wake-up latency), the basic graph optimisations
(the extended ones leave this graph as it is and cost 10-15 ms of every cold
start), sequential execution. `Stepper` binds its inputs and outputs once to buffers it reuses,
swapping two state buffers between steps, so a step allocates nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from abcgen.runtime.errors import AbcgenError

FORMAT = "1"
INPUTS = {"tokens": "tensor(int64)", "h0": "tensor(float)", "c0": "tensor(float)"}
OUTPUTS = {"logits": "tensor(float)", "hn": "tensor(float)", "cn": "tensor(float)"}
METADATA = ("abcgen.format", "abcgen.vocab", "abcgen.bos", "abcgen.eos", "abcgen.config",
            "abcgen.metrics", "abcgen.corpus")


@dataclass(frozen=True)
class ModelInfo:
    """What the metadata of a contract-following file says about the model."""

    vocab: tuple[str, ...]
    bos: int
    eos: int
    layers: int
    hidden: int
    config: dict[str, Any]
    metrics: dict[str, Any]
    corpus: dict[str, Any]


def session_options(threads: int = 1) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.log_severity_level = 3  # warnings about unused initialisers are noise to a user
    return options


class Model:
    """A loaded, validated model: `run` for prefill, `stepper` for one step per call."""

    def __init__(self, source: Path | str | bytes, *, threads: int = 1) -> None:
        name = "model" if isinstance(source, bytes) else str(source)
        if not isinstance(source, bytes) and not Path(source).is_file():
            raise AbcgenError(f"model file not found: {source}")
        try:
            self.session = ort.InferenceSession(
                source if isinstance(source, bytes) else str(source),
                sess_options=session_options(threads),
                providers=["CPUExecutionProvider"],
            )
        except Exception as err:  # onnxruntime raises several types for unreadable files
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise AbcgenError(f"{name} is not a loadable ONNX model ({first})") from None
        self.info = _check_contract(self.session, name)
        self._index = {ch: i for i, ch in enumerate(self.info.vocab)}

    def encode(self, text: str) -> np.ndarray:
        """Token ids of `text`; a character outside the vocabulary is an error, not a skip."""
        try:
            return np.fromiter((self._index[ch] for ch in text), np.int64, len(text))
        except KeyError as err:
            raise AbcgenError(
                f"character {err.args[0]!r} is not in the model's vocabulary"
            ) from None

    def zero_state(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        shape = (self.info.layers, batch, self.info.hidden)
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def run(
        self, tokens: np.ndarray, h: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Feed tokens [batch, steps] from state (h, c): logits [batch, steps, vocab], hn, cn."""
        logits, hn, cn = self.session.run(None, {"tokens": tokens, "h0": h, "c0": c})
        return logits, hn, cn

    def stepper(self, batch: int) -> Stepper:
        return Stepper(self, batch)


class Stepper:
    """One token per row per call, on buffers bound once.

    `tokens` is written in place by the caller; `step()` returns a view of the
    logits buffer [batch, vocab], valid until the next step. The state lives in
    two buffer pairs that swap roles (input and output) every step.
    """

    def __init__(self, model: Model, batch: int) -> None:
        self.tokens = np.zeros((batch, 1), np.int64)
        self.logits = np.empty((batch, 1, len(model.info.vocab)), np.float32)
        self._states = [model.zero_state(batch), model.zero_state(batch)]
        value = ort.OrtValue.ortvalue_from_numpy  # on CPU this wraps the array, no copy
        tokens, logits = value(self.tokens), value(self.logits)
        self._bindings = []
        for src, dst in ((0, 1), (1, 0)):
            binding = model.session.io_binding()
            binding.bind_ortvalue_input("tokens", tokens)
            binding.bind_ortvalue_input("h0", value(self._states[src][0]))
            binding.bind_ortvalue_input("c0", value(self._states[src][1]))
            binding.bind_ortvalue_output("logits", logits)
            binding.bind_ortvalue_output("hn", value(self._states[dst][0]))
            binding.bind_ortvalue_output("cn", value(self._states[dst][1]))
            self._bindings.append(binding)
        self._current = 0  # index of the state pair that holds the current state
        self._session = model.session

    @property
    def state(self) -> tuple[np.ndarray, np.ndarray]:
        return self._states[self._current]

    def set_state(self, h: np.ndarray, c: np.ndarray) -> None:
        dst_h, dst_c = self._states[self._current]
        dst_h[...] = h
        dst_c[...] = c

    def step(self) -> np.ndarray:
        self._session.run_with_iobinding(self._bindings[self._current])
        self._current ^= 1
        return self.logits[:, 0, :]


def _check_contract(session: ort.InferenceSession, name: str) -> ModelInfo:
    """Say exactly how a file departs from the contract, or return its metadata."""
    for kind, found, wanted in (
        ("input", session.get_inputs(), INPUTS),
        ("output", session.get_outputs(), OUTPUTS),
    ):
        types = {arg.name: arg.type for arg in found}
        if set(types) != set(wanted):
            raise AbcgenError(
                f"{name} is not an abcgen model: {kind}s are {sorted(types)}, "
                f"expected {sorted(wanted)}"
            )
        for arg in found:
            if arg.type != wanted[arg.name]:
                raise AbcgenError(f"{name}: {kind} '{arg.name}' is {arg.type}, expected "
                                  f"{wanted[arg.name]}")
            if len(arg.shape) != (2 if arg.name == "tokens" else 3):
                raise AbcgenError(f"{name}: {kind} '{arg.name}' has shape {arg.shape}")

    meta = session.get_modelmeta().custom_metadata_map
    missing = [key for key in METADATA if key not in meta]
    if missing:
        raise AbcgenError(f"{name} lacks metadata {', '.join(missing)}; was it written by "
                          "abcgen-export?")
    if meta["abcgen.format"] != FORMAT:
        raise AbcgenError(f"{name} has abcgen.format {meta['abcgen.format']!r}; this abcgen "
                          f"reads format {FORMAT}")
    try:
        vocab = json.loads(meta["abcgen.vocab"])
        bos, eos = int(meta["abcgen.bos"]), int(meta["abcgen.eos"])
        config, metrics, corpus = (json.loads(meta[f"abcgen.{k}"])
                                   for k in ("config", "metrics", "corpus"))
        layers, hidden = int(config["layers"]), int(config["hidden"])
    except (ValueError, KeyError, TypeError) as err:
        raise AbcgenError(f"{name}: unreadable abcgen metadata ({err!r})") from None
    if not (isinstance(vocab, list) and vocab and all(isinstance(v, str) for v in vocab)):
        raise AbcgenError(f"{name}: abcgen.vocab must be a JSON list of strings")
    tokens = [v for v in vocab if len(v) != 1]
    if tokens:  # generation streams one character per step (DESIGN.md, ONNX contract)
        raise AbcgenError(f"{name}: abcgen.vocab must list single characters, but holds "
                          f"{', '.join(map(repr, tokens[:3]))}"
                          f"{f' and {len(tokens) - 3} more' if len(tokens) > 3 else ''}")
    if len(set(vocab)) != len(vocab):
        raise AbcgenError(f"{name}: abcgen.vocab has duplicate entries")
    for label, index in (("bos", bos), ("eos", eos)):
        if not 0 <= index < len(vocab):
            raise AbcgenError(f"{name}: abcgen.{label} = {index} is outside the vocabulary "
                              f"of {len(vocab)}")
    for key in ("valid_bpc", "test_bpc"):
        if not isinstance(metrics, dict) or key not in metrics:
            raise AbcgenError(f"{name}: abcgen.metrics lacks '{key}'")

    # Static dimensions of the graph must agree with the metadata.
    shapes = {arg.name: arg.shape for arg in [*session.get_inputs(), *session.get_outputs()]}
    expected = {"h0": [layers, None, hidden], "c0": [layers, None, hidden],
                "hn": [layers, None, hidden], "cn": [layers, None, hidden],
                "logits": [None, None, len(vocab)]}
    for arg, dims in expected.items():
        for got, want in zip(shapes[arg], dims, strict=True):
            if want is not None and isinstance(got, int) and got != want:
                raise AbcgenError(f"{name}: '{arg}' has shape {shapes[arg]}, metadata says "
                                  f"{['batch' if d is None else d for d in dims]}")
    return ModelInfo(tuple(vocab), bos, eos, layers, hidden, config, metrics, corpus)
