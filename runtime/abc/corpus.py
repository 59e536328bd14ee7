"""Tune data: ABC files in, canonical tunes in fixed splits out, with a report.

The trainer builds its data here and `abcgen eval` reads the same splits, without torch.

Bad input never stops a build: every file, tune and drop is counted in the
report, so one broken tunebook costs only its own tunes. Only an input with no
usable tune at all is an error.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abcgen.runtime.abc.abc_file import read_abc_text, read_tunes
from abcgen.runtime.abc.normalise import NORMALISER_VERSION, normalise, split_of, split_tunebook
from abcgen.runtime.atomic import write_atomic
from abcgen.runtime.errors import AbcgenError

# The ABC folk collections in music21's corpus folder (not josquin and the rest).
DEFAULT_COLLECTIONS = ("oneills1850", "ryansMammoth", "airdsAirs", "essenFolksong", "miscFolk")
SPLITS = ("train", "valid", "test")


@dataclass
class Corpus:
    train: list[str]
    valid: list[str]
    test: list[str]
    report: dict[str, Any]
    sha256: str  # of train.txt + valid.txt + test.txt as write_splits writes them

    def write_report(self, path: Path) -> None:
        """What was kept and dropped and why, as JSON, with the digest of the splits."""
        write_atomic(path, json.dumps({**self.report, "sha256": self.sha256}, indent=2) + "\n")

    def describe(self) -> dict[str, Any]:
        """What a model records about its data (ONNX metadata `abcgen.corpus`)."""
        return {
            "sha256": self.sha256,
            "tunes": {name: len(getattr(self, name)) for name in SPLITS},
            "normaliser": NORMALISER_VERSION,
            "keep_chords": self.report["keep_chords"],
            "source": self.report["source"],
        }


def default_corpus_paths() -> list[Path]:
    """The folk collections shipped with music21, found without importing it (slow)."""
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise AbcgenError(
            "the default corpus comes with music21, which is not installed: "
            "pip install music21 (or abcgen[train]), or give your own .abc files or folders"
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "corpus"
    paths = [root / name for name in DEFAULT_COLLECTIONS]
    missing = [p.name for p in paths if not p.is_dir()]
    if missing:
        raise AbcgenError(f"music21 at {root.parent} lacks corpus folders {', '.join(missing)}")
    return paths


def build_corpus(
    paths: Sequence[Path] | None = None, *, keep_chords: bool = False, progress: bool = False
) -> Corpus:
    """Read, normalise, deduplicate and split; paths are .abc files and folders."""
    default = paths is None
    paths = default_corpus_paths() if default else [Path(p) for p in paths]
    report: dict[str, Any] = {
        "source": ("music21 corpus: " if default else "")
        + ", ".join(p.name or str(p) for p in paths),
        "normaliser": NORMALISER_VERSION,
        "keep_chords": keep_chords,
        "files": Counter(),
        "missing_paths": [],
        "empty_folders": [],
        "tunes": Counter(raw=0, kept=0, dropped=0),
        "dropped": Counter(),
        "steps": Counter(),
        "collections": {},
    }
    jobs = list(_files(paths, report))
    splits: dict[str, list[str]] = {name: [] for name in SPLITS}
    seen: set[str] = set()
    for collection, path in _track(jobs, progress):
        counts = report["collections"].setdefault(collection, Counter(raw=0, kept=0, dropped=0))
        for tune in _read_tunes(path, report["files"]):
            counts["raw"] += 1
            result = normalise(tune, keep_chords=keep_chords)
            report["steps"].update(result.steps)
            drop = result.drop
            if result.text is not None:
                key = "".join(result.text.split())  # the split's key: layout is no difference
                if key in seen:
                    drop = "duplicate"
                seen.add(key)
            if drop:
                counts["dropped"] += 1
                report["dropped"][drop] += 1
            else:
                counts["kept"] += 1
                splits[split_of(result.text)].append(result.text)
    for counts in report["collections"].values():
        for name in ("raw", "kept", "dropped"):
            report["tunes"][name] += counts[name]
    report["splits"] = {name: len(tunes) for name, tunes in splits.items()}
    report["characters"] = {name: sum(map(len, tunes)) for name, tunes in splits.items()}
    report = json.loads(json.dumps(report))  # plain dicts, JSON-ready
    if not any(splits.values()):
        raise AbcgenError(
            f"no usable tunes in {report['source'] or 'the given paths'}: {_why(report)}"
        )
    return Corpus(**splits, report=report, sha256=splits_sha256(splits))


def splits_sha256(splits: dict[str, list[str]]) -> str:
    """Digest of the three split files as `write_splits` writes them: what a model
    records about its data, so an evaluation can check it scores the same tunes."""
    digest = hashlib.sha256()
    for name in SPLITS:
        digest.update(_split_text(splits.get(name, [])).encode("utf-8"))
    return digest.hexdigest()


def read_split(path: Path) -> list[str]:
    """Tunes of a split file as `write_splits` writes them (apart by a blank line),
    decoded as tunebooks are (`read_abc_text`: UTF-8, else Latin-1)."""
    try:
        text, _ = read_abc_text(Path(path))
    except OSError as err:
        raise AbcgenError(f"cannot read {path}: {err.strerror or err}") from None
    return [t.strip("\n") for t in text.split("\n\n") if t.strip()]


def load_splits(data: Path | None = None) -> dict[str, list[str]]:
    """train/valid/test tunes from DIR/{train,valid,test}.txt, or built from the default
    corpus."""
    if data is None:
        corpus = build_corpus()
        return {name: getattr(corpus, name) for name in SPLITS}
    data = Path(data)
    missing = [n for n in ("train", "test") if not (data / f"{n}.txt").is_file()]
    if missing:
        raise AbcgenError(f"{data} lacks {', '.join(m + '.txt' for m in missing)}; "
                          "write them with `abcgen-train corpus --out DIR`")
    return {n: read_split(data / f"{n}.txt") if (data / f"{n}.txt").is_file() else []
            for n in SPLITS}


def write_splits(corpus: Corpus, out_dir: Path) -> dict[str, Path]:
    """train.txt, valid.txt, test.txt (tunes apart by one blank line) and report.json."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AbcgenError(f"cannot create {out_dir}: {err.strerror or err}") from None
    written = {}
    for name in SPLITS:
        written[name] = out_dir / f"{name}.txt"
        write_atomic(written[name], _split_text(getattr(corpus, name)))
    written["report"] = out_dir / "report.json"
    corpus.write_report(written["report"])
    return written


def _split_text(tunes: list[str]) -> str:
    return "".join(tune + "\n\n" for tune in tunes)[:-1] if tunes else ""


def _files(paths: Sequence[Path], report: dict[str, Any]) -> Iterable[tuple[str, Path]]:
    """(collection, file) pairs in a stable order; a collection is one given path."""
    for path in paths:
        collection = path.name or str(path)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() == ".abc" and p.is_file())
            if not files:
                report["empty_folders"].append(str(path))
            for file in files:
                yield collection, file
        elif path.is_file():
            yield collection, path
        else:
            report["missing_paths"].append(str(path))


def raw_tunes(folders: Sequence[Path] | None = None) -> Iterator[str]:
    """Every tune of the .abc files below `folders` (default: the default corpus) as
    written, in a stable order."""
    for folder in default_corpus_paths() if folders is None else folders:
        for path in sorted(Path(folder).rglob("*.abc")):
            yield from (text for _, text in read_tunes(path))


def _read_tunes(path: Path, files: Counter[str]) -> list[str]:
    """A file's tunes, counted in the report by how they were read; an unreadable
    file costs only its own tunes."""
    try:
        text, encoding = read_abc_text(path)
    except AbcgenError:
        files["unreadable"] += 1
        return []
    files["read"] += 1
    if encoding != "utf-8":
        files[encoding] += 1
    tunes = split_tunebook(text)
    if not tunes:
        files["without_tunes"] += 1
    return tunes


def _track(jobs: list[tuple[str, Path]], progress: bool) -> Iterable[tuple[str, Path]]:
    if not progress:
        return jobs
    from rich.console import Console
    from rich.progress import track

    return track(jobs, description="normalising", console=Console(stderr=True), transient=True)


def _why(report: dict[str, Any]) -> str:
    parts = [f"{n} {reason}" for reason, n in report["dropped"].items()]
    if report["missing_paths"]:
        parts.append("missing " + ", ".join(report["missing_paths"]))
    if report["empty_folders"]:
        parts.append("no .abc files in " + ", ".join(report["empty_folders"]))
    parts += [f"{n} files {what}" for what, n in report["files"].items() if what != "read"]
    return "; ".join(parts) or "no tunes found (a tune needs X: and K: lines)"
