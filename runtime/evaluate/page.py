"""report.html: an evaluation to open in a browser, look at and listen to.

The page shows the numbers of report.json, the PNG plots beside it, and the
first sampled tunes of each run as sheet music with an audio player, so that a
training run can be judged by ear as well as by its statistics. It is plain
HTML without scripts; every file it shows lies in the evaluation's folder, so
the folder can be copied or served as it is.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abcgen.runtime.abc.parser import parse
from abcgen.runtime.abc.writer import format_abc
from abcgen.runtime.atomic import write_atomic
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.evaluate.structure import MEASURES

TUNES = "tunes"  # subfolder of the scores and sound files
AUDIO = ".ogg"  # Vorbis: a tenth of the WAV's size, and every browser plays it
# (header, value of one run) of the summary table, here and in `abcgen eval`'s output
COLUMNS: list[tuple[str, str]] = [
    ("valid", "valid"), ("abc2midi", "abc2midi_valid"), ("exact bars", "exact_interior_bars"),
    ("AABB", "aabb"), ("final", "final_bar"), ("copied", "copied_4_bars"),
]
LEAST_TUNES = 20  # a meter with fewer test tunes gets no row of the form-by-meter table


@dataclass
class ResultTable:
    """One table of the evaluation, printed by `abcgen eval` and shown on the page."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    legend: str
    labels: int = 1  # leading columns that are names, not numbers


@dataclass
class Example:
    """One sampled tune as the page shows it."""

    title: str
    abc: str
    score: str | None = None  # file name, relative to the page
    audio: str | None = None
    problem: str | None = None  # why a file is missing


def result_tables(report: dict[str, Any]) -> list[ResultTable]:
    """The runs' summary, their forms beside the test split's, the forms by meter, and
    their structure beside the test split's, overall and by meter."""
    bpc = report["test_bpc"]
    model = Path(report["model"]).name
    summary = ResultTable(
        f"{model}: test {bpc:.3f} bits/char" if bpc is not None else model,
        ["run", *(h for h, _ in COLUMNS), "chars"],
        [[run["name"], *(percent(run[key]) for _, key in COLUMNS),
          f"{run['chars']['median']:.0f}"] for run in report["runs"]],
        "exact bars: interior bars of the meter's length; final: ends with a final bar line; "
        "copied: 4+ bars in a row from one training tune; chars: median")
    sources = [("test split", report["test_forms"])] + [(r["name"], r["forms"])
                                                        for r in report["runs"]]
    forms = ResultTable(
        "forms, beside the test split's",
        ["run", "as asked", "tonic", "cadences", "commonest forms (bars a part)"],
        [[name, percent(f["as_asked"]), percent(f["ends_on_tonic"]),
          percent(f["parts_keep_cadence"]),
          ", ".join(f"{k} {v:.0%}" for k, v in list(f["forms"].items())[:4])]
         for name, f in sources],
        "as asked: the form and part length asked for; tonic: the tune's last note; "
        "cadences: parts ending on the tonic (the first of several also the fifth)")
    by_meter = ResultTable(
        f"forms by meter (meters with {LEAST_TUNES}+ test tunes)",
        ["meter", "run", "tunes", "repeated", "one part", "8-bar parts", "tonic",
         "commonest form"],
        _meter_rows(sources, lambda row: [
            percent(row["repeated"]), percent(row["one_part"]),
            percent(row["eight_bar_parts"]), percent(row["ends_on_tonic"]),
            "{} {:.0%}".format(*next(iter(row["forms"].items()), ("-", 0)))]),
        "repeated: tunes with a part played twice; one part: a single section", labels=2)
    return [summary, forms, by_meter, *structure_tables(report)]


def _meter_rows(sources: list[tuple[str, dict[str, Any]]],
                cells: Callable[[dict[str, Any]], list[str]]) -> list[list[str]]:
    """Rows (meter, source, tunes, *cells) for the meters with LEAST_TUNES or more
    tunes in the first source (the test split), each source that has the meter."""
    rows = []
    for meter, shape in sources[0][1]["by_meter"].items():
        if shape["tunes"] >= LEAST_TUNES:
            rows += [[meter, name, str(s["by_meter"][meter]["tunes"]),
                      *cells(s["by_meter"][meter])]
                     for name, s in sources if meter in s["by_meter"]]
    return rows


# (header, key of the structure summary) of the structure-by-meter table
_BY_METER: list[tuple[str, str]] = [
    ("repeated bars", "repeated_bars"), ("figures", "restated_notes"), ("echo", "echo"),
    ("2nd half", "second_half"), ("final beat", "final_long"), ("lead-in", "lead_in"),
    ("whole bars", "whole_bars"),
]


def structure_tables(report: dict[str, Any]) -> list[ResultTable]:
    """The structure of the runs' tunes beside the test split's (and beside the test
    tunes whose headers primed them), overall and by meter."""
    sources = [("test split", report["test_structure"])]
    if "primed_structure" in report:
        sources.append(("test tunes primed", report["primed_structure"]))
    sources += [(r["name"], r["structure"]) for r in report["runs"]]
    overall = ResultTable(
        "structure, beside the test split's", ["measure", *(name for name, _ in sources)],
        [["tunes", *(str(s["tunes"]) for _, s in sources)]]
        + [[label, *(_share(s[key], s["tunes"]) for _, s in sources)]
           for key, label in MEASURES]
        + [["longest run of one bar (mean, most)",
            *(f"{s['longest_run']['mean']:.2f}, {s['longest_run']['max']}"
              if s["longest_run"]["mean"] is not None else "-" for _, s in sources)]],
        "shares of tunes, but: repeated bars and figures are each tune's share, averaged; "
        "'of N' counts the tunes a measure applies to (the notes, for bars' last notes). "
        "Written order, the opening pickup not a bar; loops and lengths as played. "
        "Definitions: runtime/evaluate/structure.py")
    by_meter = ResultTable(
        f"structure by meter (meters with {LEAST_TUNES}+ test tunes)",
        ["meter", "run", "tunes", *(h for h, _ in _BY_METER)],
        _meter_rows(sources, lambda row: [percent(row[key]["share"]) for _, key in _BY_METER]),
        "the measures above, per meter", labels=2)
    return [overall, by_meter]


def _share(value: dict[str, Any], tunes: int) -> str:
    shown = percent(value["share"])
    return shown if value["of"] == tunes or value["share"] is None else f"{shown} of {value['of']}"


def percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def render_examples(report: dict[str, Any], out: Path, *, per_run: int,
                    soundfont: Path) -> list[Example]:
    """The first `per_run` tunes of each run as out/tunes/NAME.svg and NAME.ogg.

    A tune that cannot be engraved or played keeps its place on the page, with the
    reason, so one odd tune does not cost the report."""
    from abcgen.runtime.formats.audio import write_audio
    from abcgen.runtime.formats.svg import write_svg

    folder = out / TUNES
    try:
        folder.mkdir(exist_ok=True)
    except OSError as err:
        raise AbcgenError(f"cannot create {folder}: {err.strerror or err}") from None
    examples = []
    for run in report["runs"]:
        for i, text in enumerate(run["examples"][:per_run], 1):
            title = f"{run['name']} #{i}"
            stem = re.sub(r"[^a-z0-9.]+", "-", title.lower()).strip("-")  # any file system
            example = Example(title, format_abc(text, index=i, title=title))
            tune = parse(example.abc)
            try:
                write_svg(tune, folder / f"{stem}.svg")
                example.score = f"{TUNES}/{stem}.svg"
                write_audio(tune, folder / f"{stem}{AUDIO}", soundfont=soundfont)
                example.audio = f"{TUNES}/{stem}{AUDIO}"
            except AbcgenError as err:
                example.problem = str(err)
            examples.append(example)
    return examples


def write_page(report: dict[str, Any], path: Path, *, tables: list[ResultTable],
               plots: list[str], examples: list[Example]) -> None:
    """report.html at `path`; `plots` and the examples' files are relative to it."""
    e = html.escape
    bpc = report["test_bpc"]
    model = Path(report["model"]).name
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',  # no favicon request
        f"<title>abcgen eval: {e(model)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{e(model)}</h1>",
        f"<p>test bits/char: <b>{'-' if bpc is None else f'{bpc:.3f}'}</b> on "
        f"{report['test_tunes']} test tunes; {_settings(report)}</p>",
    ]
    for t in tables:
        parts += [
            f"<h2>{e(t.title)}</h2>" if t is not tables[0] else "",
            "<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in t.headers)
            + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>"
                      for row in t.rows) + "</tbody></table>",
            f"<p class=note>{e(t.legend)}</p>",
        ]
    for plot in plots:
        parts.append(f'<figure><img src="{e(plot)}" alt="{e(plot)}"></figure>')
    if examples:
        parts.append("<h2>Sampled tunes</h2>")
    for ex in examples:
        parts.append(f"<section><h3>{e(ex.title)}</h3>")
        if ex.score:
            parts.append(f'<img class=score src="{e(ex.score)}" alt="score of {e(ex.title)}">')
        if ex.audio:
            parts.append(f'<audio controls preload="metadata" src="{e(ex.audio)}"></audio>')
        if ex.problem:
            parts.append(f"<p class=note>{e(ex.problem)}</p>")
        parts.append(f"<details><summary>ABC</summary><pre>{e(ex.abc)}</pre></details>"
                     "</section>")
    parts.append("</body></html>\n")
    write_atomic(path, "\n".join(parts))


def _settings(report: dict[str, Any]) -> str:
    s = report["settings"]
    return html.escape(f"{s['num']} tunes per run, seed {s['seed']}, at most {s['max_chars']} "
                       "characters each")


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; }
table { border-collapse: collapse; } th, td { padding: .25rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; } thead { border-bottom: 1px solid #999; }
figure { margin: 1.5rem 0; } img { max-width: 100%; height: auto; }
section { border-top: 1px solid #ddd; padding: .5rem 0 1rem; }
audio { display: block; width: 100%; margin: .5rem 0; }
.note { color: #666; font-size: .9rem; } pre { background: #f6f6f6; padding: .5rem; }
"""
