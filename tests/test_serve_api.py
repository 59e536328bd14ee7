"""`abcgen serve`'s JSON API against a real server process: tunes are the ones
`abcgen generate` makes for the same request, files the ones `abcgen convert`
writes, bad input a 4xx with a JSON message, and a client that leaves stops the work."""

from __future__ import annotations

import json
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
from cli import run
from serving import call, serving, wait_for
from without import abcgen_without

from abcgen.runtime.serve.requests import MAX_BODY

JIG = {"meter": "6/8", "key": "D", "form": "AABB"}
JIG_OPTIONS = ["--meter", "6/8", "--key", "D", "--form", "AABB"]
BOOK = ("X:1\nT:Good\nM:6/8\nL:1/8\nK:D\n|:dAF DFA|dfe dBA:|\n\n"
        "X:2\nT:Bad\nM:3/4\nL:1/8\nK:G\nGAB cdef|g6|]\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("serve") / "archive.sqlite", "--workers", "1") as s:
        yield s


def compose(server, **request):
    return call(f"{server.url}/api/compose", "POST", request)


def test_a_composed_jig_is_the_one_abcgen_generate_makes(server, tmp_path, capsys):
    answer = compose(server, **JIG, seed=11)
    assert answer.status == 200, answer.body
    tune = answer.json()["tunes"][0]
    assert (tune["meter"], tune["key"], tune["form"]) == ("6/8", "D", "AABB")
    assert tune["title"] == "abcgen seed 11" and tune["params"]["seed"] == 11
    assert tune["model"]["name"] == "abcgen-default.onnx" and len(tune["model"]["sha256"]) == 64
    assert tune["check"]["valid"] and tune["url"] == f"/tune/{tune['id']}"
    code, out, err = run(["generate", *JIG_OPTIONS, "--seed", "11"], capsys)
    assert code == 0, err
    assert tune["abc"] == out
    kept = call(f"{server.url}/api/tunes/{tune['id']}").json()
    assert kept["abc"] == out and kept["params"] == tune["params"]


def test_composes_waiting_together_share_a_batch_and_can_be_made_again(server, capsys):
    """With one worker busy on a long request, four unseeded ones queue up and are made
    as `--num 4` makes them; each says which of the four it is. A seeded request and one
    with other options, queued between them, are made alone."""
    long = threading.Thread(target=compose, args=(server,),
                            kwargs={**JIG, "seed": 1, "num": 16, "part_bars": 16})
    long.start()
    wait_for(lambda: call(f"{server.url}/api/info").json()["waiting"] == 0, every=0.02)
    answers: list = []
    others: dict = {}  # a seeded request and other options: each in its own batch
    threads = [threading.Thread(target=lambda: answers.append(compose(server, **JIG)))
               for _ in range(4)]
    threads.insert(2, threading.Thread(target=lambda: others.update(
        seeded=compose(server, **JIG, seed=5))))
    threads.insert(3, threading.Thread(target=lambda: others.update(
        reel=compose(server, **JIG | {"meter": "2/2"}))))
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in [long, *threads]:
        t.join(timeout=300)
    assert [others[k].json()["batch"] for k in ("seeded", "reel")] == [1, 1]
    tunes = [a.json()["tunes"][0] for a in answers]
    batches = {(t["params"]["seed"], t["params"]["batch"]) for t in tunes}
    assert len(batches) == 1, batches  # all four in one batch
    seed, batch = batches.pop()
    assert batch == 4 and sorted(t["params"]["place"] for t in tunes) == [1, 2, 3, 4]
    code, out, _ = run(["generate", *JIG_OPTIONS, "--seed", str(seed), "--num", "4"], capsys)
    made = {t["title"]: t["abc"] for t in tunes}
    cli_tunes = [f"X:1\n{text.partition(chr(10))[2]}".strip() for text in out.split("X:")[1:]]
    assert code == 0
    assert [made[f"abcgen seed {seed} #{i}"].strip() for i in range(1, 5)] == cli_tunes


@pytest.mark.parametrize("fmt", ["abc", "mid", "musicxml", "svg", "wav"])
def test_each_download_is_what_abcgen_convert_writes(server, tmp_path, capsys, fmt):
    tune = compose(server, **JIG, seed=11).json()["tunes"][0]
    source = tmp_path / "tune.abc"
    source.write_bytes(call(f"{server.url}{tune['files']['abc']}").body)
    got = call(f"{server.url}{tune['files'][fmt]}")
    assert got.status == 200
    assert got.headers["content-disposition"] == f'attachment; filename="abcgen-{tune["id"]}.{fmt}"'
    code, _, err = run(["convert", str(source), "-o", str(tmp_path / f"ref.{fmt}")], capsys)
    assert code == 0, err
    assert got.body == (tmp_path / f"ref.{fmt}").read_bytes()


def test_check_and_convert_read_a_tunebook_as_the_cli_does(server, tmp_path, capsys):
    book = tmp_path / "book.abc"
    book.write_text(BOOK)
    report = call(f"{server.url}/api/check", "POST", BOOK.encode(), "text/plain").json()["tunes"]
    _, out, _ = run(["check", str(book)], capsys)
    lines = [f"{book}:{d['line']}:{d['col']}: {d['severity']}: {d['message']}"
             for t in report for d in t["diagnostics"]]
    assert lines == out.splitlines() and lines  # tune 2's short bar
    assert [(t["index"], t["line"], t["title"], t["valid"]) for t in report] == [
        (1, 1, "Good", True), (2, 8, "Bad", False)]
    got = call(f"{server.url}/api/convert?format=mid&tune=2", "POST", BOOK.encode(), "text/plain")
    run(["convert", str(book), "--tune", "2", "-o", str(tmp_path / "two.mid")], capsys)
    assert got.status == 200 and got.body == (tmp_path / "two.mid").read_bytes()


def test_the_archive_lists_searches_marks_edits_and_deletes(server):
    made = compose(server, meter="2/2", key="Ador", form="AB", seed=4).json()["tunes"][0]
    url = f"{server.url}/api/tunes/{made['id']}"
    listed = call(f"{server.url}/api/tunes?meter=2/2&key=Ador").json()
    assert [t["id"] for t in listed["tunes"]] == [made["id"]] and listed["total"] == 1
    assert call(f"{server.url}/api/tunes?q=seed%204").json()["tunes"][0]["id"] == made["id"]
    assert call(url, "PATCH", {"favourite": True}).json()["favourite"] is True
    assert [t["id"] for t in call(f"{server.url}/api/tunes?favourite=1").json()["tunes"]] == [
        made["id"]]
    edited = call(url, "PATCH", {"abc": "X:1\nT:Mine\nM:3/4\nL:1/8\nK:G\nGAB cde|d6|]\n"}).json()
    assert (edited["meter"], edited["key"], edited["abc"] != edited["generated"]) == (
        "3/4", "G", True)
    assert call(f"{url}/tune.abc").body.decode().startswith("X:1\nT:Mine\nM:3/4")
    assert call(url, "DELETE").status == 204
    assert call(url).status == 404 and call(url, "DELETE").status == 404


BAD = [
    ({"key": "H", "meter": "6/8"}, 400, "bad key 'H'"),
    ({"meter": "6/8", "key": "D", "form": "AXBB"}, 400, "form"),
    ({"meter": "6/8", "key": "D", "temperature": 0.001}, 400, "temperature"),
    ({"meter": "6/8", "key": "D", "form": "free", "part_bars": 8}, 400, "--part-bars"),
    ({"colour": "blue"}, 400, "unknown option 'colour'"),
    ({"num": 17}, 400, "num must be from 1 to 16"),
    ({"num": "2"}, 400, "num must be a whole number"),
    ({"free": 1}, 400, "free must be true or false"),
    ({"max_chars": 10**6}, 400, "max_chars must be from 1 to 4000"),
    ({"seed": -1}, 400, "seed must be 0..4294967295"),
    ({"seed": 2**40}, 400, "seed must be 0..4294967295"),
    ({"prefix": "abc|"}, 400, "a prefix of music needs --meter and --key"),
    ({"meter": "6/8", "key": "D", "prefix": "abc ☃ |"}, 422, "cannot write"),
]


@pytest.mark.parametrize(("request_", "status", "message"), BAD)
def test_a_bad_compose_gets_a_4xx_and_a_message(server, request_, status, message):
    answer = compose(server, **request_)
    assert answer.status == status and message in answer.json()["error"], answer.body


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("POST", "/api/compose", b"{not json", 400, "not JSON"),
    ("POST", "/api/compose", b"[1, 2]", 400, "JSON object"),
    ("POST", "/api/compose", b'{"temperature": NaN}', 400, "NaN is not a JSON number"),
    ("POST", "/api/check", b"no tune here", 422, "no tune"),
    ("POST", "/api/convert?format=exe", BOOK.encode(), 400, "format must be"),
    ("POST", "/api/convert?format=mid&tune=3", BOOK.encode(), 422, "has 2 tune(s)"),
    ("POST", "/api/convert?format=svg", b"X:1\nK:D\n", 422, "no notes"),
    ("GET", "/api/tunes/99999", None, 404, "no tune 99999"),
    ("GET", "/api/tunes/1/tune.exe", None, 404, "no format 'exe'"),
    ("GET", "/api/tunes?limit=x", None, 400, "whole numbers"),
    ("PATCH", "/api/tunes/1", b'{"seed": 3}', 400, "not ['seed']"),
    ("GET", "/api/nowhere", None, 404, "no such address"),
    ("DELETE", "/api/compose", None, 405, "not allowed"),
])
def test_bad_requests_get_a_4xx_and_a_json_message(server, method, path, body, status, message):
    answer = call(f"{server.url}{path}", method, body, "text/plain")
    assert answer.status == status, answer.body
    assert message in answer.json()["error"] and b"Traceback" not in answer.body


def test_an_upload_too_large_is_refused_before_it_is_read(server):
    host, port = urlsplit(server.url).netloc.split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /api/check HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                     % (MAX_BODY + 1))
        answer = b""
        while b"}" not in answer and (chunk := sock.recv(65536)):  # to the JSON's end
            answer += chunk
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 413 ") and "larger than 2 MB" in answer


def test_every_answer_forbids_other_hosts(server):
    for path in ("/", "/api/info", "/static/app.js"):
        policy = call(f"{server.url}{path}").headers["content-security-policy"]
        assert policy.startswith("default-src 'self';") and "http" not in policy


def test_a_client_that_goes_away_stops_its_tunes(server):
    """One worker: a long batch, then a queued compose; both clients hang up."""
    def hang_up_after(seconds, request):
        host, port = urlsplit(server.url).netloc.split(":")
        body = json.dumps(request).encode()
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST /api/compose HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            time.sleep(seconds)

    before = call(f"{server.url}/api/info").json()
    count = call(f"{server.url}/api/tunes").json()["total"]
    running = threading.Thread(target=hang_up_after, args=(1.0, {
        **JIG, "form": "AABBCCDD", "part_bars": 32, "max_chars": 4000, "num": 16, "seed": 2}))
    running.start()
    time.sleep(0.3)
    hang_up_after(0.5, {**JIG, "seed": 3})  # queued behind it, then gone
    running.join()
    info = wait_for(lambda: (i := call(f"{server.url}/api/info").json())["stopped"] >
                    before["stopped"] and i)
    assert info["waiting"] == 0
    assert call(f"{server.url}/api/tunes").json()["total"] == count  # nothing kept


def test_serve_refuses_a_busy_port_and_a_missing_model(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run(["serve", "--port", str(port), "--db", str(tmp_path / "a.sqlite")],
                           capsys)
    assert code == 2 and err.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    code, _, err = run(["serve", "--port", "0", "--model", str(tmp_path / "none.onnx"),
                        "--db", str(tmp_path / "a.sqlite")], capsys)
    assert code == 2 and "model file not found" in err
    code, _, err = run(["serve", "--port", "0", "--db", str(tmp_path)], capsys)
    assert code == 2 and "cannot open the archive" in err


def test_serve_without_its_extra_names_it(tmp_path):
    done = abcgen_without({"starlette", "uvicorn"}, "serve", "--port", "0",
                          "--db", str(tmp_path / "a.sqlite"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "comes with the [serve] extra: pip install 'abcgen[serve]'" in done.stderr


def test_without_a_soundfont_the_page_is_told_why_and_audio_is_a_409(tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    env = {"HOME": str(empty), "XDG_DATA_HOME": str(empty), "XDG_DATA_DIRS": str(empty)}
    with serving(tmp_path / "a.sqlite", env=env) as server:
        info = call(f"{server.url}/api/info").json()
        assert info["soundfont"] is None and "needs a General MIDI SoundFont" in info["no_sound"]
        tune = compose(server, **JIG, seed=1).json()["tunes"][0]
        got = call(f"{server.url}{tune['files']['wav']}")
        assert got.status == 409 and got.json()["error"] == info["no_sound"]
        assert call(f"{server.url}{tune['files']['mid']}").status == 200
