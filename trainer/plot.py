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
    averaged = [(r["epoch"], r["ema_valid_bpc"]) for r in rows if "ema_valid_bpc" in r]
    if averaged:
        top.plot(*zip(*averaged, strict=True), marker=".", label="valid, averaged")
    scores = [(min(r["valid_bpc"], r.get("ema_valid_bpc", r["valid_bpc"])), r["epoch"])
              for r in rows]
    if scores:
        best, epoch = min(scores)
        top.axhline(best, color="grey", lw=0.8, ls=":")
        top.set_title(f"best valid {best:.3f} bits/char at epoch {epoch:g}")
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
