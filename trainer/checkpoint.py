"""Checkpoints: one file that carries everything needed to resume or export.

Written atomically (temporary file in the same folder, fsync, rename) so a run
killed at any moment leaves either the old or the new checkpoint, never half of
one. Read with `weights_only=True`: a checkpoint holds only tensors and plain
containers, so loading never unpickles code.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from abcgen.runtime.atomic import write_atomic
from abcgen.runtime.errors import AbcgenError
from abcgen.trainer.model import CharLSTM, ModelConfig

FORMAT = 1


@dataclass
class Trained:
    """What export and evaluation need from a checkpoint."""

    model: CharLSTM
    vocab: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    corpus: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)


def save(path: Path, state: dict[str, Any]) -> None:
    """Atomically write `state` (plain containers and tensors only) to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    write_atomic(path, buffer.getbuffer())


SAFETENSORS_KEYS = ("config", "vocab", "metrics", "corpus", "train_config")


def save_safetensors(path: Path, state: dict[str, Any]) -> None:
    """The weights as safetensors, config and vocabulary as JSON metadata: for tools
    that read no torch files at all."""
    from safetensors.torch import save as to_bytes

    meta = {k: json.dumps(state[k]) for k in SAFETENSORS_KEYS if k in state}
    tensors = {k: v.detach().cpu().contiguous() for k, v in state["model"].items()}
    write_atomic(path, to_bytes(tensors, metadata={"format": str(FORMAT), **meta}))


def _load_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        state: dict[str, Any] = {"model": {k: f.get_tensor(k) for k in f.keys()}}  # noqa: SIM118
    state["format"] = int(meta.get("format", 0))
    state.update({k: json.loads(meta[k]) for k in SAFETENSORS_KEYS if k in meta})
    return state


def load_state(path: Path) -> dict[str, Any]:
    """Read a checkpoint safely, or raise AbcgenError saying what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise AbcgenError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        try:
            state = _load_safetensors(path)
        except Exception as err:  # safetensors raises several types for corrupt files
            raise AbcgenError(f"{path} is not a readable safetensors file ({err})") from None
    elif not zipfile.is_zipfile(path):  # torch.save has written zip archives since 1.6
        raise AbcgenError(f"{path} is not a PyTorch checkpoint (not a zip archive); abcgen "
                          "loads checkpoints of weights only")
    else:
        try:
            with warnings.catch_warnings():  # torch warns about pickle protocols on the way
                warnings.simplefilter("ignore")
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # torch says why, and advises weights_only=False: unsafe here
            raise AbcgenError(f"{path} is not a checkpoint of weights only (it holds other "
                              "Python objects, or is damaged); abcgen loads weights only, "
                              "never code") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise AbcgenError(f"{path} is not an abcgen checkpoint (format {FORMAT} expected)")
    for key in ("config", "vocab", "model"):
        if key not in state:
            raise AbcgenError(f"{path} lacks '{key}'; was it written by abcgen-train?")
    return state


def _misfits(expected: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """What keeps `given` weights from loading where `expected` ones belong, one
    phrase each (torch's own message takes a line per tensor)."""
    out = [f"{k} is missing" for k in expected if k not in given]
    out += [f"{k} is not in the model" for k in given if k not in expected]
    out += [f"{k} has shape {tuple(given[k].shape)}, the config needs {tuple(v.shape)}"
            for k, v in expected.items()
            if k in given and tuple(getattr(given[k], "shape", ())) != tuple(v.shape)]
    return out


def load_trained(path: Path) -> Trained:
    """Rebuild the model from a checkpoint, checking the weights fit its config."""
    state = load_state(path)
    try:
        config = ModelConfig(**state["config"])
    except TypeError as err:
        raise AbcgenError(f"{path}: unknown model config ({err})") from None
    if config.vocab_size != len(state["vocab"]):
        raise AbcgenError(
            f"{path}: vocabulary has {len(state['vocab'])} entries, model expects "
            f"{config.vocab_size}"
        )
    model = CharLSTM(config)
    misfits = _misfits(model.state_dict(), state["model"])
    if not misfits:
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as err:  # torch's message takes a line per tensor: the first
            misfits = [str(err).strip().splitlines()[0]]
    if misfits:
        more = f" (and {len(misfits) - 1} more)" if len(misfits) > 1 else ""
        raise AbcgenError(f"{path}: the weights do not fit the model config it holds: "
                          f"{misfits[0]}{more}")
    model.eval()
    return Trained(
        model=model,
        vocab=list(state["vocab"]),
        metrics=dict(state.get("metrics", {})),
        corpus=dict(state.get("corpus", {})),
        train_config=dict(state.get("train_config", {})),
    )
