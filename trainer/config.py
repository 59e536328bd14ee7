"""The training configuration: the defaults (the `default` preset) in one commented
block, the other presets as the fields they change, and the rules for changing
them. Apart from train.py so that `abcgen-train --help` (and its message when
torch is missing) needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from abcgen.runtime.errors import AbcgenError


@dataclass
class TrainConfig:
    # -- defaults: the `default` preset, the settings of the shipped model (5.4 M parameters;
    #    exported/MODEL_CARD.md has its command, time and scores; it trained 64 streams on
    #    its GPU, where auto now takes GPU_BATCH); PRESETS below change some --
    # model: model.ModelConfig takes these fields from here
    embed: int = 64
    hidden: int = 512
    layers: int = 3
    dropout: float = 0.35  # between LSTM layers and before the output layer
    embed_dropout: float = 0.1  # whole input positions dropped
    weight_drop: float = 0.2  # DropConnect on the recurrent weights
    # data
    seq_len: int = 256  # window of truncated BPTT; the state is carried across windows
    batch_size: int | str = "auto"  # streams per process; auto: 64, or GPU_BATCH on CUDA
    transpose: int = 1  # augmentation: each tune shifted by up to +-N semitones per epoch
    # optimisation
    lr: float = 3e-3  # peak learning rate (batch auto on CUDA: GPU_BATCH's unless given)
    min_lr: float = 1e-4  # end of the cosine decay
    warmup_steps: int = 200
    weight_decay: float = 0.1  # AdamW, on matrices only
    grad_clip: float = 1.0
    ema: float = 0.998  # decay of a moving average of the weights, validated too (0: none)
    epochs: int = 60
    patience: int = 10  # epochs without a better valid bits/char before stopping
    max_minutes: float = 0.0  # training-time budget over all resumes (0: none)
    # run
    seed: int = 1337
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # CPU threads per process (0: available cores / processes on this node)
    amp: bool = True  # bf16 autocast on CUDA
    checkpoint_every: float = 120.0  # seconds between mid-epoch saves of last.pt (0: every sync)
    eval_chars: int = 32768  # padded characters per validation batch
    # corpus (recorded so that --resume rebuilds the same one)
    paths: list[str] = field(default_factory=list)  # empty: the default corpus
    keep_chords: bool = False
    preset: str = "default"


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # The original Keras design (1.9 M parameters, 64-character windows, batch 16).
    "seed": dict(
        embed=512, hidden=256, layers=3, dropout=0.2, embed_dropout=0.0, weight_drop=0.0,
        seq_len=64, batch_size=16, lr=2e-3, weight_decay=0.0, warmup_steps=100, epochs=30,
        patience=5, ema=0.0, transpose=0,
    ),
    # For tests and a first try: a couple of minutes on a CPU over the whole corpus.
    "tiny": dict(
        embed=16, hidden=64, layers=2, dropout=0.0, embed_dropout=0.0, weight_drop=0.0,
        seq_len=64, batch_size=32, lr=1e-2, min_lr=1e-3, weight_decay=0.0, warmup_steps=20,
        ema=0.0, transpose=0, epochs=2, patience=2,
        threads=1,  # a model this small gains nothing from more
    ),
}

# --batch-size auto: on a GPU twice the streams converge faster per minute (the model
# card: batch 128 at lr 4e-3 ran 119 epochs in 8 minutes where batch 64 ran 56.7);
# a CPU keeps the batch the default model was tuned with.
CPU_BATCH = 64
GPU_BATCH = dict(batch_size=128, lr=4e-3)

SYNC_EVERY = 10  # steps between reads of the loss (and reports, time and save decisions)

# Options that may change when a run is resumed; everything else must match last.pt.
RESUMABLE = {"epochs", "max_minutes", "patience", "device", "threads", "amp", "checkpoint_every",
             "eval_chars", "ema"}


def config_for(preset: str, **overrides: Any) -> TrainConfig:
    """The preset's config with the given fields replaced (None means: keep the preset's)."""
    if preset not in PRESETS:
        raise AbcgenError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    unknown = set(values) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise AbcgenError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    cfg = TrainConfig(**values, preset=preset)
    if cfg.batch_size == "auto":
        chosen = dict(GPU_BATCH) if _gpu(cfg.device) else {"batch_size": CPU_BATCH}
        if "lr" in values:  # given, or set by the preset
            chosen.pop("lr", None)
        cfg = replace(cfg, **chosen)
    check(cfg)
    return cfg


def resume_config(out: Path, **overrides: Any) -> TrainConfig:
    """The config of the run in `out`, with only the RESUMABLE fields replaced."""
    from abcgen.trainer.checkpoint import load_state  # torch, which --help does without

    saved = load_state(Path(out) / "last.pt").get("train_config", {})
    saved = {"ema": 0.0, **saved}  # runs from before --ema averaged nothing
    fixed = sorted(
        k for k, v in overrides.items()
        if v is not None and k not in RESUMABLE and v != saved.get(k)
    )
    if fixed:
        raise AbcgenError(
            f"--resume keeps the run's settings; only {', '.join(sorted(RESUMABLE))} "
            f"may change (got {', '.join(fixed)})"
        )
    try:
        cfg = TrainConfig(**{**saved, **{k: v for k, v in overrides.items() if v is not None}})
    except TypeError as err:
        raise AbcgenError(f"{out}/last.pt holds an unknown training config ({err})") from None
    check(cfg)
    return cfg


def check(cfg: TrainConfig) -> None:
    """Raise AbcgenError naming the first option out of its range."""
    if not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise AbcgenError("--batch-size must be a whole number of at least 1, or auto")
    if cfg.threads < 0:
        raise AbcgenError("--threads must be 0 (automatic) or more")
    for name in ("embed", "hidden", "layers", "seq_len", "epochs", "patience"):
        if getattr(cfg, name) < 1:
            raise AbcgenError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("dropout", "embed_dropout", "weight_drop"):
        if not 0.0 <= getattr(cfg, name) < 1.0:
            raise AbcgenError(f"--{name.replace('_', '-')} must be in [0, 1)")
    if cfg.lr <= 0 or cfg.min_lr < 0 or cfg.max_minutes < 0 or cfg.checkpoint_every < 0:
        raise AbcgenError("--lr must be positive; --min-lr, --max-minutes, --checkpoint-every >= 0")
    if not 0 <= cfg.ema < 1:
        raise AbcgenError("--ema must be in [0, 1)")
    if not 0 <= cfg.transpose <= 6:
        raise AbcgenError("--transpose must be in 0..6 semitones")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise AbcgenError(f"--device must be auto, cpu or cuda, not {cfg.device!r}")


def _gpu(device: str) -> bool:
    if device != "auto":
        return device == "cuda"
    import torch  # only here: --help and the presets need no torch

    return torch.cuda.is_available()
