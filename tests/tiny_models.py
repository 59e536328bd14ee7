"""Small real models for the export, runtime and generate tests.

A checkpoint here is a randomly initialised CharLSTM saved the way the trainer
saves one, over a vocabulary of real corpus tunes; `scale` multiplies the
weights so that logits and gates reach the magnitudes of a trained model
(saturated gates, logits of tens), which is where export mistakes show.
"""

from __future__ import annotations

import itertools
from functools import cache
from pathlib import Path

import torch

from abcgen.runtime.abc.corpus import default_corpus_paths, raw_tunes
from abcgen.runtime.abc.normalise import BOS, EOS, normalise
from abcgen.trainer import checkpoint
from abcgen.trainer.model import CharLSTM, ModelConfig


@cache
def real_tunes(count: int = 40) -> tuple[str, ...]:
    """Canonical texts of the first tunes of O'Neill's 1850 (music21's corpus)."""
    oneills = default_corpus_paths()[0]
    texts = (normalise(raw).text for raw in raw_tunes([oneills]))
    return tuple(itertools.islice((t for t in texts if t is not None), count))


def vocab_of(tunes: tuple[str, ...]) -> list[str]:
    """Like the corpus's: every character of the tunes (and here all of printable ASCII)."""
    ascii_chars = {chr(c) for c in range(32, 127)} | {"\n"}
    return [BOS, EOS, *sorted(set("".join(tunes)) | ascii_chars)]


def make_checkpoint(
    path: Path,
    *,
    embed: int = 32,
    hidden: int = 48,
    layers: int = 2,
    scale: float = 1.0,
    seed: int = 0,
    metrics: dict | None = None,
) -> Path:
    vocab = vocab_of(real_tunes())
    torch.manual_seed(seed)
    config = ModelConfig(vocab_size=len(vocab), embed=embed, hidden=hidden, layers=layers)
    model = CharLSTM(config)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    checkpoint.save(path, {
        "config": config.to_dict(),
        "vocab": vocab,
        "model": model.state_dict(),
        "metrics": metrics if metrics is not None else {"valid_bpc": 3.5, "test_bpc": 3.6},
        "corpus": {"sha256": "0" * 64, "tunes": {"train": 30}, "normaliser": "1"},
    })
    return path


def exported(folder: Path, name: str = "model", **shape) -> Path:
    """A checkpoint exported with abcgen's exporter; returns the .onnx path."""
    from abcgen.trainer.export import export

    ckpt = make_checkpoint(folder / f"{name}.pt", **shape)
    out = folder / f"{name}.onnx"
    export(ckpt, out, tunes=list(real_tunes()))
    return out
