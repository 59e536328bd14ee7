"""docs/DESIGN.md against the code it describes: the forms table that `--form auto`
draws from, and the files it points at."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from abcgen.runtime.constrain.forms import AUTO_FORMS

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ROOT / "docs" / "DESIGN.md"


def design_forms_table() -> dict[str, tuple[int, list[tuple[str, str]], str]]:
    """meter -> (tunes, [(form, share as written)], free share as written), as DESIGN.md
    shows them under "Forms"."""
    section = DESIGN.read_text().split("\n## Forms", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"\d+/\d+", cells[0]):
            forms = [tuple(f.rsplit(" ", 1)) for f in cells[2].split(", ")]
            rows[cells[0]] = (int(cells[1]), forms, cells[3])
    return rows


def written(auto_forms) -> dict[str, tuple[list[tuple[str, str]], str]]:
    """AUTO_FORMS as the table writes it (bench/corpus_forms.py prints it so)."""
    return {meter: ([(key, f"{share:.0%}") for key, share in rows],
                    f"{1 - sum(share for _, share in rows):.0%}")
            for meter, rows in auto_forms.items()}


def test_the_forms_table_is_auto_forms():
    table = design_forms_table()
    assert table, "no forms table under '## Forms' in docs/DESIGN.md"
    shown = {meter: (forms, free) for meter, (_, forms, free) in table.items()}
    assert list(shown) == list(AUTO_FORMS)  # the same meters, in the same order
    assert shown == written(AUTO_FORMS)


@pytest.mark.slow
def test_auto_forms_and_the_table_are_the_training_split_as_read():
    """What bench/corpus_forms.py computes from the corpus: AUTO_FORMS, and the tunes
    per meter that the table shows."""
    from abcgen.runtime.abc.corpus import load_splits
    from abcgen.runtime.evaluate.form_stats import auto_table, summarise_forms, tune_form

    forms = [tune_form(text) for text in load_splits(None)["train"]]
    table = auto_table(forms)
    assert {m: tuple(rows) for m, rows in table.items()} == AUTO_FORMS
    tunes = summarise_forms(forms)["by_meter"]
    assert {m: tunes[m]["tunes"] for m in table} == {
        m: t for m, (t, _, _) in design_forms_table().items()}


def test_the_paths_it_names_exist():
    """Every file path DESIGN.md writes in backticks, from the repository's root."""
    paths = re.findall(r"`(?:python )?([\w.-]+(?:/[\w.-]+)+\.(?:md|py|onnx|qml|toml))`",
                       DESIGN.read_text())
    assert paths
    assert [p for p in paths if not (ROOT / p).is_file()] == []
