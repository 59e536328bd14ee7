"""Named training configurations, apart from train.py so that `abcgen-train --help`
(and its message when torch is missing) needs no torch."""

from __future__ import annotations

from typing import Any

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
