"""PNG plots of an evaluation: the model's histograms beside the corpus's, its
forms beside the test split's, the bar-length errors of each run, and the
bar-by-bar self-similarity of a tune of each run beside a human tune.
matplotlib is optional (the train extra): it is imported only here, and only
when plots are asked for."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from abcgen.runtime.atomic import write_atomic
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.evaluate.form_stats import DEGREES, MAX_BARS
from abcgen.runtime.evaluate.report import INTERVALS, LENGTH_LABELS

_TITLES = {"pitch_class": "pitch class (semitones above the tonic)",
           "interval": "melodic interval (semitones)", "note_length": "note length (whole notes)",
           "range": "range of a tune (semitones)"}


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise AbcgenError("plots need matplotlib: pip install matplotlib "
                          "(or leave out plots with --no-plots)") from None
    return plt


def _labels(name: str, size: int) -> list[str]:
    if name == "interval":
        return [str(i) for i in range(-INTERVALS, INTERVALS + 1)]
    if name == "note_length":
        return LENGTH_LABELS
    return [str(i) for i in range(size)]


def plot_histograms(hists: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    """One panel per statistic; per bin, one bar per source (corpus first), as shares."""
    plt = _pyplot()
    names = list(next(iter(hists.values())))
    fig, axes = plt.subplots(len(names), 1, figsize=(11, 3.2 * len(names)))
    width = 0.8 / len(hists)
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        for k, (source, h) in enumerate(hists.items()):
            counts = h[name]
            share = counts / counts.sum() if counts.sum() else counts
            ax.bar(np.arange(len(counts)) + (k - (len(hists) - 1) / 2) * width, share, width,
                   label=source)
        labels = _labels(name, len(next(iter(hists.values()))[name]))
        ax.set_xticks(np.arange(len(labels)), labels, fontsize=7)
        ax.set_title(_TITLES.get(name, name))
        ax.set_ylabel("share")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    _save(fig, path)


_FORM_TITLES = {"part_bars": "bars in a part",
                "part_end": "last note of each part (scale degree above the tonic)",
                "tune_end": "last note of the tune (scale degree above the tonic)"}


def plot_forms(form_hists: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    """Part lengths and where parts and tunes end, as shares: test split first, then
    each run, so a musician sees at a glance whether the tunes are built like the
    corpus's (8-bar parts, cadences on 1 and 5)."""
    plt = _pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(11, 9.6))
    width = 0.8 / len(form_hists)
    for ax, name in zip(axes, _FORM_TITLES, strict=True):
        for k, (source, h) in enumerate(form_hists.items()):
            counts = h[name]
            share = counts / counts.sum() if counts.sum() else counts
            ax.bar(np.arange(len(counts)) + (k - (len(form_hists) - 1) / 2) * width, share,
                   width, label=source)
        labels = ([str(i) for i in range(1, MAX_BARS)] + [f"{MAX_BARS}+"]
                  if name == "part_bars" else DEGREES)
        ax.set_xticks(np.arange(len(labels)), labels, fontsize=7)
        ax.set_title(_FORM_TITLES[name])
        ax.set_ylabel("share")
    axes[0].legend(fontsize=8)
    _save(fig, path)


def plot_bar_errors(report: dict[str, Any], path: Path) -> None:
    """Interior bars whose length differs from the meter's, by the difference (units of L:)."""
    plt = _pyplot()
    runs = report["runs"]
    keys = sorted({k for r in runs for k in r["bar_errors"]}, key=lambda k: eval_fraction(k))
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / max(1, len(runs))
    for i, run in enumerate(runs):
        counts = [run["bar_errors"].get(k, 0) for k in keys]
        ax.bar(np.arange(len(keys)) + (i - (len(runs) - 1) / 2) * width, counts, width,
               label=f"{run['name']} (valid {run['valid']:.0%})")
    ax.set_xticks(np.arange(len(keys)), keys)
    ax.set_xlabel("bar length minus the meter's, in unit lengths (L:)")
    ax.set_ylabel("interior bars")
    ax.set_title("interior bars off the meter's length (pickup pairs around a part's end "
                 "included)" if keys else "every interior bar has the meter's length")
    ax.legend(fontsize=8)
    _save(fig, path)


_SIMILARITY = ["#ffffff", "#9ecae1", "#08306b"]  # different, similar, identical


def plot_structure(report: dict[str, Any], path: Path) -> None:
    """Bars x bars of a human test tune and, beside it, of a tune of each run in its
    meter (one row a human tune): a dark cell where two bars are identical, a light
    one where they share rhythm and contour. Restatement shows as lines beside the
    diagonal (a phrase coming back), loops as solid blocks."""
    plt = _pyplot()  # says so when matplotlib is missing
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    rows: dict[str | None, list[tuple[str, str | None]]] = {}
    for run in report["runs"]:
        rows.setdefault(run["pictured"]["human"], []).append((run["name"],
                                                              run["pictured"]["tune"]))
    width = 1 + max(len(r) for r in rows.values())
    fig, axes = plt.subplots(len(rows), width, figsize=(3.3 * width, 3.6 * len(rows)),
                             squeeze=False)
    for line, (human, tunes) in zip(axes, rows.items(), strict=True):
        panels = [("human (test split)", human), *tunes]
        for ax in line[len(panels):]:
            ax.set_axis_off()
        for ax, (label, text) in zip(line, panels, strict=False):
            _similarity_panel(ax, label, text, ListedColormap(_SIMILARITY))
    fig.legend(handles=[Patch(facecolor=c, edgecolor="#999", label=t) for c, t in
                        zip(_SIMILARITY[::-1], ["identical bars", "same rhythm and contour",
                                                "different"], strict=True)],
               loc="upper center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the legend
    _save(fig, path, layout=False)


def _similarity_panel(ax, label: str, text: str | None, colours) -> None:
    from abcgen.runtime.abc.parser import parse
    from abcgen.runtime.evaluate.structure import PHRASE, self_similarity, tune_structure

    ax.set_xticks([])
    ax.set_yticks([])
    if text is None:
        ax.set_title(f"{label}:\nno tune of 8 bars", fontsize=9)
        return
    tune = parse(text)
    grid = self_similarity(tune)
    ax.imshow(grid, cmap=colours, vmin=0, vmax=2, interpolation="nearest")
    phrases = np.arange(PHRASE, len(grid), PHRASE) - 0.5  # lines between 4-bar phrases
    ax.vlines(phrases, -0.5, len(grid) - 0.5, colors="#bbb", linewidths=0.5)
    ax.hlines(phrases, -0.5, len(grid) - 0.5, colors="#bbb", linewidths=0.5)
    ticks = np.arange(PHRASE - 1, len(grid), PHRASE)  # bars 4, 8, 12...
    ax.set_xticks(ticks, [str(t + 1) for t in ticks], fontsize=7)
    ax.set_yticks(ticks, [str(t + 1) for t in ticks], fontsize=7)
    facts = tune_structure(text, tune)
    meter = f"M:{facts.meter}, " if facts.meter != "none" else ""
    ax.set_title(f"{label}\n{meter}{facts.repeated_bars} of {facts.bars} bars repeated",
                 fontsize=9)


def eval_fraction(text: str) -> float:
    num, _, den = text.partition("/")
    return int(num) / int(den or 1)


def _save(fig, path: Path, layout: bool = True) -> None:
    buffer = io.BytesIO()
    if layout:
        fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    fig.clf()
    import matplotlib.pyplot as plt

    plt.close(fig)
    write_atomic(path, buffer.getvalue())
