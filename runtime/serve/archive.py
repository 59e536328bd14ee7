"""Every tune `abcgen serve` makes, kept in SQLite: the embedded database of the
standard library, one file, safe against a kill at any moment.

The schema is the list `MIGRATIONS`; `PRAGMA user_version` says how many of
them a file has had, so an archive written by an older abcgen opens in a newer
one (each step runs in the transaction that bumps the version). The journal is
WAL with full sync: a tune whose compose returned is on disk, and a write cut
short by a kill is rolled back on the next open, never half there.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from abcgen.runtime.errors import AbcgenError

MIGRATIONS: list[str] = [
    # 1: the first archive
    """CREATE TABLE tunes (
           id INTEGER PRIMARY KEY,
           created TEXT NOT NULL,
           title TEXT NOT NULL,
           abc TEXT NOT NULL,
           meter TEXT NOT NULL DEFAULT '',
           key TEXT NOT NULL DEFAULT '',
           form TEXT NOT NULL DEFAULT '',
           params TEXT NOT NULL DEFAULT '{}',
           model_name TEXT NOT NULL DEFAULT '',
           model_sha256 TEXT NOT NULL DEFAULT '',
           favourite INTEGER NOT NULL DEFAULT 0
       )""",
    # 2: edits keep the model's own text; the list is searched by these columns
    """ALTER TABLE tunes ADD COLUMN generated TEXT;
       ALTER TABLE tunes ADD COLUMN edited TEXT;
       UPDATE tunes SET generated = abc;
       CREATE INDEX tunes_meter_key ON tunes (meter, key);
       CREATE INDEX tunes_form ON tunes (form)""",
]
VERSION = len(MIGRATIONS)
SUMMARY = "id, created, title, meter, key, form, favourite"
PAGE = 50  # tunes a list returns unless asked for fewer


def default_path() -> Path:
    """archive.sqlite in the user's data folder: XDG_DATA_HOME (or ~/.local/share) on
    Linux, Application Support on macOS, %APPDATA% on Windows."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "abcgen" / "archive.sqlite"


@dataclass(frozen=True)
class NewTune:
    """What the archive is told about a tune when it is made."""

    title: str
    abc: str
    meter: str
    key: str
    form: str
    params: dict[str, Any]
    model_name: str
    model_sha256: str


class Archive:
    """One connection shared by the server's threads, one statement at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._lock = threading.Lock()
            migrate(self._db)
        except sqlite3.DatabaseError as err:
            raise AbcgenError(f"cannot open the archive {path}: {err}") from None
        except OSError as err:
            raise AbcgenError(f"cannot open the archive {path}: {err.strerror or err}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, tunes: list[NewTune]) -> list[int]:
        """Store the tunes of one compose together: all of them, or none."""
        now = _now()
        with self._lock, _transaction(self._db):
            return [self._db.execute(
                "INSERT INTO tunes (created, title, abc, generated, meter, key, form, params, "
                "model_name, model_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (now, t.title, t.abc, t.abc, t.meter, t.key, t.form, json.dumps(t.params),
                 t.model_name, t.model_sha256)).lastrowid for t in tunes]

    def get(self, tune_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM tunes WHERE id = ?", (tune_id,)).fetchone()
        if row is None:
            return None
        tune = dict(row)
        tune["params"] = json.loads(tune["params"])
        tune["favourite"] = bool(tune["favourite"])
        return tune

    def search(self, *, text: str = "", meter: str = "", key: str = "", form: str = "",
               favourite: bool = False, limit: int = PAGE, offset: int = 0,
               ) -> tuple[list[dict[str, Any]], int]:
        """Newest first: tunes whose title holds `text` and whose meter, key and form are
        the ones given (empty: any); and how many match in all."""
        where, args = ["1"], []
        if text:
            where.append("title LIKE ? ESCAPE '\\'")
            args.append("%" + text.replace("\\", "\\\\").replace("%", "\\%")
                        .replace("_", "\\_") + "%")
        for column, value in (("meter", meter), ("key", key), ("form", form)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if favourite:
            where.append("favourite = 1")
        clause = " AND ".join(where)
        with self._lock:
            total = self._db.execute(f"SELECT count(*) FROM tunes WHERE {clause}",
                                     args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT {SUMMARY} FROM tunes WHERE {clause} ORDER BY id DESC LIMIT ? OFFSET ?",
                [*args, limit, offset]).fetchall()
        return [dict(r, favourite=bool(r["favourite"])) for r in rows], total

    def update(self, tune_id: int, **values: Any) -> bool:
        """Set `favourite`, `title`, or `abc` (an edit, with its meter, key and form)."""
        allowed = {"favourite", "title", "abc", "meter", "key", "form"}
        if not values or set(values) - allowed:
            raise ValueError(f"cannot update {sorted(set(values) - allowed)}")
        if "abc" in values:
            values["edited"] = _now()
        sets = ", ".join(f"{name} = ?" for name in values)
        with self._lock, _transaction(self._db):
            done = self._db.execute(f"UPDATE tunes SET {sets} WHERE id = ?",
                                    [*values.values(), tune_id])
        return done.rowcount == 1

    def delete(self, tune_id: int) -> bool:
        with self._lock, _transaction(self._db):
            return self._db.execute("DELETE FROM tunes WHERE id = ?", (tune_id,)).rowcount == 1

    def choices(self) -> dict[str, list[str]]:
        """The meters, keys and forms the archive holds, for the list's filters."""
        with self._lock:
            return {column: [r[0] for r in self._db.execute(
                f"SELECT DISTINCT {column} FROM tunes WHERE {column} != '' ORDER BY 1")]
                for column in ("meter", "key", "form")}


def migrate(db: sqlite3.Connection, upto: int = VERSION) -> None:
    """Run the migrations a file has not had yet, each with its version bump in one
    transaction, so a kill between two leaves a file at one version or the next."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise sqlite3.DatabaseError(f"it was written by a newer abcgen (schema {version}; "
                                    f"this one knows {len(MIGRATIONS)})")
    for number in range(version + 1, upto + 1):
        with _transaction(db):
            for statement in MIGRATIONS[number - 1].split(";"):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, *_) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
