"""A server killed (SIGKILL) in the middle of a burst of composes: on restart the
archive opens, holds every tune whose compose returned, exactly as returned, and
no compose half stored."""

from __future__ import annotations

import collections
import json
import sqlite3
import threading

from serving import call, serving, wait_for

from abcgen.runtime.serve.archive import Archive


def test_a_kill_during_a_burst_loses_no_returned_tune_and_leaves_no_partial_one(tmp_path):
    db = tmp_path / "archive.sqlite"
    returned: list[dict] = []
    stop = threading.Event()

    def client(n: int) -> None:
        seed = 1000 * n
        while not stop.is_set():
            seed += 1
            try:  # two tunes a compose: stored together or not at all
                answer = call(f"{server.url}/api/compose", "POST",
                              {"meter": "6/8", "key": "G", "num": 2, "seed": seed}, timeout=60)
            except OSError:
                return  # the server is gone
            if answer.status == 200:
                returned.extend(answer.json()["tunes"])

    with serving(db) as server:
        clients = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for c in clients:
            c.start()
        wait_for(lambda: len(returned) >= 16, timeout=300)
        server.kill()  # while the others still compose
        stop.set()
        for c in clients:
            c.join(timeout=60)

    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    shelf = Archive(db)  # recovers the WAL as the server would
    rows = {r["id"]: shelf.get(r["id"]) for r in shelf.search(limit=10_000)[0]}
    for tune in returned:
        kept = rows[tune["id"]]
        assert (kept["abc"], kept["params"]) == (tune["abc"], tune["params"])
    per_compose = collections.Counter(r["params"]["seed"] for r in rows.values())
    assert set(per_compose.values()) == {2}, per_compose  # no compose half stored
    assert all(r["abc"].startswith("X:1\nT:abcgen seed ") and r["meter"] == "6/8"
               and json.dumps(r["params"]) for r in rows.values())
    shelf.close()

    with serving(db) as server:  # and the server itself opens it again
        first = returned[0]
        assert call(f"{server.url}/api/tunes/{first['id']}").json()["abc"] == first["abc"]
