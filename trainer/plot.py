"""The learning curves of a run as a PNG, redrawn after every epoch so a glance at
the run folder shows how training goes."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from abcgen.runtime.atomic import write_atomic


def plot_curves(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Train and valid bits/char (top) and learning rate (bottom) against epochs."""
    # The object API with the Agg canvas: no pyplot state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    x = [r["epoch"] for r in rows]
    top.plot(x, [r["train_bpc"] for r in rows], marker=".", label="train")
    top.plot(x, [r["valid_bpc"] for r in rows], marker=".", label="valid")
    best = min(rows, key=lambda r: r["valid_bpc"], default=None)
    if best is not None:
        top.axhline(best["valid_bpc"], color="grey", lw=0.8, ls=":")
        top.set_title(f"best valid {best['valid_bpc']:.3f} bits/char at epoch {best['epoch']:g}")
    top.set_ylabel("bits/char")
    top.grid(alpha=0.3)
    top.legend()
    bottom.plot(x, [r["lr"] for r in rows], color="tab:green")
    bottom.set_ylabel("learning rate")
    bottom.set_xlabel("epoch")
    bottom.grid(alpha=0.3)

    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    write_atomic(path, png.getvalue())
