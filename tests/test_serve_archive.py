"""The archive: its schema migrates from every older version, a compose's tunes go in
whole or not at all, and the list finds tunes by title, meter, key and form."""

from __future__ import annotations

import sqlite3

import pytest

from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.serve import archive
from abcgen.runtime.serve.archive import Archive, NewTune, migrate


def tune(title="abcgen seed 1", meter="6/8", key="D", form="AABB", abc=None) -> NewTune:
    abc = abc or f"X:1\nT:{title}\nM:{meter}\nL:1/8\nK:{key}\n|:abc def:|\n"
    return NewTune(title, abc, meter, key, form, {"seed": 1, "form": form}, "m.onnx", "ab" * 32)


def test_an_archive_written_by_schema_1_opens_and_migrates(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path, isolation_level=None)
    migrate(old, upto=1)  # what the first abcgen serve wrote
    old.execute("INSERT INTO tunes (created, title, abc, meter, key, form, params, model_name, "
                "model_sha256, favourite) VALUES ('2026-01-01T00:00:00+00:00', 'Old one', "
                "'X:1\nK:G\nGAB|', '4/4', 'G', 'A', '{\"seed\": 5}', 'old.onnx', 'cd', 1)")
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    old.close()

    opened = Archive(path)
    row = opened.get(1)
    assert row["title"] == "Old one" and row["favourite"] is True
    assert row["params"] == {"seed": 5}
    assert row["generated"] == row["abc"]  # filled by migration 2
    assert opened.add([tune()]) == [2]
    opened.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == archive.VERSION


def test_an_archive_from_a_newer_abcgen_is_refused_with_a_message(tmp_path):
    path = tmp_path / "new.sqlite"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {archive.VERSION + 1}")
    db.close()
    with pytest.raises(AbcgenError, match="newer abcgen"):
        Archive(path)


def test_a_file_that_is_not_sqlite_is_refused_with_a_message(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(AbcgenError, match="cannot open the archive"):
        Archive(path)


def test_a_compose_is_stored_whole_or_not_at_all(tmp_path):
    shelf = Archive(tmp_path / "a.sqlite")
    shelf.add([tune()])
    broken = NewTune(None, "x", "", "", "", {}, "", "")  # NOT NULL title: the insert fails
    with pytest.raises(sqlite3.IntegrityError):
        shelf.add([tune("second"), broken])
    assert shelf.search()[1] == 1  # the good tune of the failed compose did not stay


def test_search_favourites_update_and_delete(tmp_path):
    shelf = Archive(tmp_path / "a.sqlite")
    ids = shelf.add([tune("Jig one"), tune("Reel 50%", "2/2", "G", "AB"),
                     tune("jig two", "6/8", "Ador", "AABB")])
    titles = lambda **q: [t["title"] for t in shelf.search(**q)[0]]  # noqa: E731
    assert titles() == ["jig two", "Reel 50%", "Jig one"]  # newest first
    assert titles(text="jig") == ["jig two", "Jig one"]  # case-insensitive
    assert titles(text="50%") == ["Reel 50%"] and titles(text="5_%") == []  # no wildcards
    assert titles(meter="6/8", form="AABB") == ["jig two", "Jig one"]
    assert titles(key="Ador") == ["jig two"]
    assert shelf.update(ids[0], favourite=True)
    assert titles(favourite=True) == ["Jig one"]
    assert shelf.search(limit=1, offset=1) == ([{**shelf.search()[0][1]}], 3)
    assert shelf.update(ids[1], abc="X:1\nK:G\nGABc|\n", meter="", key="G", form="A")
    edited = shelf.get(ids[1])
    assert edited["edited"] and edited["generated"] != edited["abc"]
    assert shelf.choices() == {"meter": ["6/8"], "key": ["Ador", "D", "G"],
                               "form": ["A", "AABB"]}
    assert shelf.delete(ids[2]) and shelf.get(ids[2]) is None and not shelf.delete(ids[2])
    assert not shelf.update(999, favourite=True)


def test_the_default_archive_lives_in_the_users_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert archive.default_path() == tmp_path / "abcgen" / "archive.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert archive.default_path() == tmp_path / ".local" / "share" / "abcgen" / "archive.sqlite"
