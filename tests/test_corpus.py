"""Building the corpus: the default collections, user files, bad input, the split files."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from abcgen.runtime.abc.corpus import (
    build_corpus,
    default_corpus_paths,
    load_splits,
    splits_sha256,
    write_splits,
)
from abcgen.runtime.abc.normalise import NORMALISER_VERSION, normalise, split_of
from abcgen.runtime.errors import AbcgenError

JIG = "X:{n}\nT:Jig {n}\nM:6/8\nL:1/8\nK:D\n{body}\n"
BODIES = ["DFA dAF|GBd gdB|AFD EFG|FDD D3:|", "ABc def|gfe dcB|A3 F3|D6|]", "fed cBA|B3 E3|]"]


@pytest.fixture(scope="module")
def default_corpus():
    return build_corpus()


def test_default_corpus_paths_are_the_folk_collections():
    paths = default_corpus_paths()
    assert [p.name for p in paths] == [
        "oneills1850", "ryansMammoth", "airdsAirs", "essenFolksong", "miscFolk"
    ]  # fmt: skip
    assert all(p.is_dir() and any(p.rglob("*.abc")) for p in paths)


def test_default_corpus_paths_do_not_import_music21():
    code = (
        "import sys; from abcgen.runtime.abc.corpus import default_corpus_paths; "
        "default_corpus_paths(); print('music21' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_music21_gives_install_advice(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(AbcgenError, match="pip install"):
        default_corpus_paths()


def test_default_corpus_counts_add_up(default_corpus):
    report = default_corpus.report
    tunes = report["tunes"]
    assert tunes["raw"] > 12_000 and tunes["kept"] > 11_000
    assert tunes["raw"] == tunes["kept"] + tunes["dropped"]
    assert tunes["dropped"] == sum(report["dropped"].values())
    assert report["dropped"]["duplicate"] > 0
    collections = report["collections"]
    assert set(collections) == {p.name for p in default_corpus_paths()}
    assert sum(c["raw"] for c in collections.values()) == tunes["raw"]
    assert sum(c["kept"] for c in collections.values()) == tunes["kept"]
    assert report["splits"] == {
        name: len(getattr(default_corpus, name)) for name in ("train", "valid", "test")
    }
    assert sum(report["splits"].values()) == tunes["kept"]
    assert report["characters"]["train"] == sum(map(len, default_corpus.train))
    assert report["steps"]["bar-repaired"] > 0 and report["steps"]["decoration"] > 0
    json.dumps(report)


def test_default_corpus_splits_follow_the_rule(default_corpus):
    keys = set()
    for name in ("train", "valid", "test"):
        tunes = getattr(default_corpus, name)
        assert tunes
        for text in tunes[::10]:
            assert split_of(text) == name
            assert normalise(text).text == text
        keys |= {"".join(t.split()) for t in tunes}
    assert len(keys) == sum(default_corpus.report["splits"].values())  # no duplicates left
    total = len(keys)
    assert 0.87 < len(default_corpus.train) / total < 0.93


def test_splits_written_read_back_and_hash(default_corpus, tmp_path):
    written = write_splits(default_corpus, tmp_path / "data")
    assert set(written) == {"train", "valid", "test", "report"}
    joined = b""
    for name in ("train", "valid", "test"):
        data = written[name].read_bytes()
        joined += data
        assert data.decode("utf-8").rstrip("\n").split("\n\n") == getattr(default_corpus, name)
    assert hashlib.sha256(joined).hexdigest() == default_corpus.sha256
    splits = load_splits(tmp_path / "data")  # as `abcgen eval --data` reads them
    assert all(splits[n] == getattr(default_corpus, n) for n in ("train", "valid", "test"))
    assert splits_sha256(splits) == default_corpus.sha256
    report = json.loads(written["report"].read_text())
    assert report["sha256"] == default_corpus.sha256
    assert report["tunes"] == default_corpus.report["tunes"]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "report.json", "test.txt", "train.txt", "valid.txt"
    ]  # fmt: skip


def test_describe_is_the_onnx_metadata(default_corpus):
    described = json.loads(json.dumps(default_corpus.describe()))
    assert described["sha256"] == default_corpus.sha256
    assert described["normaliser"] == NORMALISER_VERSION
    assert described["tunes"] == default_corpus.report["splits"]
    assert "oneills1850" in described["source"]


def _tunebook(*bodies: str) -> str:
    return "".join(JIG.format(n=n, body=b) for n, b in enumerate(bodies, 1))


def test_user_files_and_folders_with_bad_input(tmp_path):
    good = tmp_path / "good.abc"
    good.write_text("% a tunebook\n" + _tunebook(*BODIES))
    folder = tmp_path / "mine"
    (folder / "deeper" / "empty").mkdir(parents=True)
    (folder / "deeper" / "latin.abc").write_bytes(
        "X:1\nT:Caf\xe9 \xe0 la cr\xe8me\nK:G\nGAB cBA|]\n".encode("latin-1")
    )
    (folder / "again.abc").write_text(_tunebook(BODIES[0].replace(" ", "", 1)))  # a duplicate
    (folder / "nokey.abc").write_text("X:1\nT:no key\nM:4/4\nABcd|\n")
    (folder / "voices.abc").write_text("X:1\nV:1\nV:2\nK:G\n[V:1]ABcd|\n[V:2]cdef|\n")
    (folder / "long.abc").write_text("X:1\nK:G\n" + "ABcd|" * 420_000 + "\n")
    (folder / "binary.abc").write_bytes(bytes(range(256)) * 50)
    (folder / "notes.txt").write_text(_tunebook("cdef|"))  # not *.abc: not read
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "nowhere"

    corpus = build_corpus([good, folder, empty, missing], progress=True)

    report = corpus.report
    assert report["tunes"] == {"raw": 8, "kept": 4, "dropped": 4}
    assert report["dropped"] == {"duplicate": 1, "no-key": 1, "multi-voice": 1, "too-long-line": 1}
    assert report["files"] == {"read": 7, "windows-1252": 2, "without_tunes": 1}
    assert report["missing_paths"] == [str(missing)]
    assert report["empty_folders"] == [str(empty)]
    assert report["collections"]["good.abc"] == {"raw": 3, "kept": 3, "dropped": 0}
    assert report["collections"]["mine"] == {"raw": 5, "kept": 1, "dropped": 4}
    tunes = corpus.train + corpus.valid + corpus.test
    assert "K:G\nGAB cBA|]" in "\n".join(tunes)  # the latin-1 file's tune survived
    assert len(tunes) == 4


def test_order_is_stable(tmp_path):
    (tmp_path / "b.abc").write_text(_tunebook(*BODIES))
    (tmp_path / "a.abc").write_text(_tunebook("CDE FGA|GFE D3|]"))
    first = build_corpus([tmp_path])
    again = build_corpus([tmp_path])
    assert first == again
    everything = first.train + first.valid + first.test
    assert len(everything) == 4


@pytest.mark.parametrize(
    "make",
    [
        lambda d: [d / "nothing-here"],
        lambda d: [d],  # an empty folder
        lambda d: [_write(d / "bad.abc", "X:1\nT:no key at all\nABC|\n")],
        lambda d: [_write(d / "bad.abc", "X:1\nK:G\n" + "A" * 3_000_000)],
    ],
)
def test_nothing_usable_is_a_clear_error(tmp_path, make):
    with pytest.raises(AbcgenError, match="no usable tunes"):
        build_corpus(make(tmp_path))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
