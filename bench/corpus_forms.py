"""The forms of the training split, per meter: the table `--form auto` draws from.

    python bench/corpus_forms.py [--data DIR] [--split train]

Reads every tune of the split with `abc.form.read_form` and prints, per meter
with at least 100 tunes, the forms a `--form` can ask for that at least 1 % (and
3) of them use, with their shares (runtime/constrain/forms.py holds this table;
docs/DESIGN.md shows it), then the most common forms as read, and the time the
form reader took per tune.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from abcgen.runtime.abc.corpus import load_splits
from abcgen.runtime.evaluate.form_stats import auto_table, summarise_forms, tune_form


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="folder with train.txt (default: the corpus)")
    parser.add_argument("--split", default="train", choices=("train", "valid", "test"))
    args = parser.parse_args()
    texts = load_splits(args.data)[args.split]
    start = time.perf_counter()
    forms = [tune_form(t) for t in texts]
    took = time.perf_counter() - start
    table = auto_table(forms)
    per_tune = 1e3 * took / len(texts)
    print(f"# {args.split}: {len(texts)} tunes; form read in {per_tune:.2f} ms a tune")
    print("AUTO_FORMS = {")
    for meter, rows in table.items():
        print(f'    "{meter}": ({", ".join(f"({k!r}, {s})" for k, s in rows)},),')
    print("}")
    print("\n| meter | tunes | forms (`FORM:bars a part`, share) | free |")
    print("| --- | --- | --- | --- |")
    summary = summarise_forms(forms)
    for meter, rows in table.items():
        tunes = summary["by_meter"][meter]["tunes"]
        cells = ", ".join(f"{k} {s:.0%}" for k, s in rows)
        print(f"| {meter} | {tunes} | {cells} | {1 - sum(s for _, s in rows):.0%} |")
    print(f"\nends on the tonic: {summary['ends_on_tonic']:.1%}; parts ending on the tonic or "
          f"fifth: {summary['parts_end_on_tonic_or_fifth']:.1%}; most common forms: "
          + ", ".join(f"{k} {v:.1%}" for k, v in summary["forms"].items()))


if __name__ == "__main__":
    main()
