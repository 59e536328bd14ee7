"""Checkpoints: best.pt holds what export needs (`export_state`), last.pt also what
a resume needs (`save_last`, `restore_last`).

Written atomically (temporary file in the same folder, fsync, rename) so a run
killed at any moment leaves either the old or the new checkpoint, never half of
one. Read with `weights_only=True`: a checkpoint holds only tensors and plain
containers, so loading never unpickles code.
"""

from __future__ import annotations

import io
import json
import math
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from abcgen.runtime.atomic import write_atomic
from abcgen.runtime.errors import AbcgenError
from abcgen.trainer.model import CharLSTM, ModelConfig

if TYPE_CHECKING:
    from abcgen.trainer.distributed import World

FORMAT = 1


@dataclass
class Trained:
    """What export and evaluation need from a checkpoint."""

    model: CharLSTM
    vocab: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    corpus: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)


@dataclass
class Progress:
    """Where a run stands: last.pt's `progress`."""

    epoch: int = 0  # whole epochs done
    step: int = 0  # steps done in the current epoch
    global_step: int = 0
    elapsed: float = 0.0  # training time, seconds, over all resumes
    loss_sum: float = 0.0  # the current epoch's training loss (nats), summed over its steps
    loss_steps: int = 0
    best_valid: float = math.inf
    best_epoch: float = 0.0
    bad_epochs: int = 0  # whole epochs since the best valid bits/char
    stopped: str = ""  # why the run ended: epochs, early_stopping or max_minutes
    corpus: str = ""  # sha256 of the splits
    world: int = 1  # processes


def export_state(model: CharLSTM, metrics: dict[str, Any] | None = None, *, vocab: list[str],
                 corpus: dict[str, Any], train_config: dict[str, Any]) -> dict[str, Any]:
    """What export needs: the keys that load_trained reads, and what the model was
    trained on and how."""
    return {
        "config": model.config.to_dict(),
        "vocab": list(vocab),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metrics": metrics or {},
        "corpus": corpus,
        "train_config": train_config,
    }


def save_last(path: Path, world: World, exportable: dict[str, Any], optimizer, ema,
              progress: Progress, log: list[dict[str, Any]], carry) -> None:
    """`exportable` (an export_state) and what a resume needs: the optimizer and the
    averaged weights, the progress and the log, every process's RNG and carried LSTM
    state. Every process calls it (each hands over its RNG and state); process 0 writes."""
    rng = {"torch": world.gather(torch.get_rng_state())}
    if world.device.type == "cuda":
        rng["cuda"] = world.gather(torch.cuda.get_rng_state(world.device))
    held = None if carry is None else {"h": world.gather(carry[0]), "c": world.gather(carry[1])}
    if world.rank == 0:
        save(path, {
            **exportable,
            "optimizer": optimizer.state_dict(),
            "progress": asdict(progress),
            "log": log,
            "rng": rng,
            "carry": held,
            **({"ema": ema.state_dict()} if ema is not None else {}),
        })


def restore_last(state: dict[str, Any], world: World, model: CharLSTM, optimizer,
                 ema) -> tuple[Progress, list[dict[str, Any]], Any]:
    """Load what save_last wrote into the model, the optimizer, the averaged weights
    and this process's RNG; return the progress, the log and the carried state."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if ema is not None and "ema" in state:  # else it starts from the resumed weights
        ema.load_state_dict(state["ema"])
    torch.set_rng_state(state["rng"]["torch"][world.rank])
    if world.device.type == "cuda" and "cuda" in state["rng"]:
        torch.cuda.set_rng_state(state["rng"]["cuda"][world.rank], world.device)
    carry = None
    if state.get("carry"):
        carry = tuple(state["carry"][k][world.rank].to(world.device) for k in ("h", "c"))
    return Progress(**state["progress"]), list(state["log"]), carry


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
