"""Where output goes, tried on the installed commands: only regular files are
replaced, never an input, and an interrupted write leaves no hidden file.

Device nodes, FIFOs and links are made in a temporary folder (never the
machine's own /dev/null); a full disk behind stdout is the real /dev/full.
Each test is a row of docs/bad-input.md.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from faults import BIN, ROOT, abcgen, as_a_shell_starts_it, command, one_error_line

TUNE = "X:1\nT:One\nM:4/4\nL:1/8\nK:G\nGABc dedB|dedB A4|]\n"
BOOK = TUNE + "\nX:2\nT:Two\nM:6/8\nL:1/8\nK:D\nFAd fed|cBA A3|]\n"


def node(path: Path, kind: str) -> Path:
    """A FIFO, a character device (a null device of our own), or a symbolic link to a
    file holding `mine`, at `path`."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        if not ROOT:
            pytest.skip("making a device node needs root")
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    else:
        target = path.with_name("target" + path.suffix)
        target.write_bytes(b"mine")
        path.symlink_to(target.name)
    return path


def unchanged(path: Path, kind: str) -> bool:
    mode = os.lstat(path).st_mode
    if kind == "link":
        return stat.S_ISLNK(mode) and path.with_name("target" + path.suffix).read_bytes() == b"mine"
    return stat.S_ISFIFO(mode) if kind == "fifo" else stat.S_ISCHR(mode)


MESSAGES = {"fifo": "it is a FIFO (named pipe), and abcgen writes only regular files",
            "device": "it is a character device, and abcgen writes only regular files",
            "link": "it is a symbolic link (to target"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from tiny_models import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt")


@pytest.mark.parametrize("kind", ["fifo", "device", "link"])
@pytest.mark.parametrize("argv", [["abcgen", "convert", "book.abc", "--tune", "1", "-o", "OUT.mid"],
                                  ["abcgen", "generate", "--seed", "1", "-o", "OUT.mid"],
                                  ["abcgen", "generate", "--seed", "1", "-o", "OUT.abc"],
                                  ["abcgen-export", "CKPT", "-o", "OUT.onnx"]])
def test_an_output_that_is_no_regular_file_is_refused_and_left_as_it_is(tmp_path, argv, kind,
                                                                        request):
    (tmp_path / "book.abc").write_text(BOOK)
    out = node(tmp_path / argv[-1].replace("OUT", "out"), kind)
    if "CKPT" in argv:
        argv = [str(request.getfixturevalue("checkpoint")) if a == "CKPT" else a for a in argv]
    done = command(argv[0], *argv[1:-1], out.name, cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    one_error_line(done.stderr, f"cannot write {out.name}: {MESSAGES[kind]}")
    assert unchanged(out, kind) and done.stdout == ""
    assert not [p for p in tmp_path.iterdir() if ".abcgen-tmp-" in p.name]


def test_an_output_that_is_an_input_is_refused_by_name_and_through_links(tmp_path):
    source = tmp_path / "book.abc"
    source.write_text(BOOK)
    os.link(source, tmp_path / "hard.abc")
    (tmp_path / "soft.abc").symlink_to("book.abc")
    for given, out in [("book.abc", "book.abc"), ("book.abc", "./book.abc"),
                       ("book.abc", "hard.abc"), ("soft.abc", "book.abc")]:
        done = abcgen("convert", given, "--tune", 1, "-o", out, cwd=tmp_path)
        assert done.returncode == 2, (given, out)
        one_error_line(done.stderr, f"cannot write {Path(out)}: it is the same file as the input "
                                    f"{given}, which writing would destroy")
    assert source.read_text() == BOOK


def test_export_onto_its_own_checkpoint_or_validation_file_is_refused(tmp_path, checkpoint):
    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(checkpoint.read_bytes())
    valid = tmp_path / "valid.txt"
    valid.write_text("M:4/4\nL:1/8\nK:G\nGABc dedB|]\n")
    for args in (["best.pt", "-o", "best.pt"], ["best.pt", "--valid", "valid.txt", "-o",
                                                 "valid.txt"]):
        done = command("abcgen-export", *args, cwd=tmp_path)
        assert done.returncode == 2
        one_error_line(done.stderr, f"cannot write {args[-1]}: it is the same file as the input")
    assert ckpt.read_bytes() == checkpoint.read_bytes()


# ------------------------------------------------------------------ interrupted writes


def big_tune(path: Path) -> Path:
    """A long tune (300 bars of chords): its MusicXML is 5 MB, and its write takes a while."""
    bar = "[GBd][Ace][Bdf][ceg]" * 4 + "|"
    path.write_text("X:1\nT:Long\nM:4/4\nL:1/16\nK:G\n" + bar * 300 + "]\n")
    return path


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".abcgen-tmp-" in p.name]


def holds_data(path: Path) -> bool:
    """The file has bytes in it (False once it is gone: it may be renamed any moment)."""
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def signal_during_the_write(tmp_path: Path, sig: int, attempts: int = 5
                            ) -> tuple[subprocess.Popen, str]:
    """Convert a big tune and send `sig` the moment its temporary file holds data (the
    write, not the empty probe of the folder made before the work). Retried when the
    process finished first."""
    source = big_tune(tmp_path / "long.abc")
    for _ in range(attempts):
        process = subprocess.Popen([str(BIN / "abcgen"), "convert", str(source), "-o",
                                    str(tmp_path / "long.musicxml")],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=as_a_shell_starts_it)
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            if any(holds_data(p) for p in temporaries(tmp_path)):
                process.send_signal(sig)
                break
        _, err = process.communicate(timeout=120)
        if process.returncode != 0:
            return process, err
        (tmp_path / "long.musicxml").unlink()
    pytest.skip(f"the write finished before the signal in {attempts} tries")


@pytest.mark.parametrize(("sig", "word"), [(signal.SIGINT, "interrupted"),
                                           (signal.SIGTERM, "terminated"),
                                           (signal.SIGHUP, "hung up")])
def test_a_stop_signal_during_a_write_leaves_no_temporary_file(tmp_path, sig, word):
    process, err = signal_during_the_write(tmp_path, sig)
    assert process.returncode == 128 + sig and err.splitlines()[-1] == word, err
    assert "Traceback" not in err and temporaries(tmp_path) == []
    out = tmp_path / "long.musicxml"
    assert not out.exists() or ET.parse(out).getroot().tag == "score-partwise"  # whole, or none


def test_what_a_killed_write_left_is_removed_by_the_next_write_into_that_folder(tmp_path):
    for _ in range(5):  # SIGKILL may land just after the rename: then nothing is left
        process, _ = signal_during_the_write(tmp_path, signal.SIGKILL)
        assert process.returncode == -signal.SIGKILL
        left = temporaries(tmp_path)
        if left:
            break
    ours_alive = tmp_path / f".keep.mid.x1y2z3ab.abcgen-tmp-{os.getpid()}"  # a live writer's
    ours_alive.write_bytes(b"being written")
    others = tmp_path / ".notes.mid.x1y2z3ab.tmp"  # not ours
    others.write_bytes(b"someone else's")
    (tmp_path / "book.abc").write_text(TUNE)
    done = abcgen("convert", "book.abc", "-o", "one.mid", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert left and not any(p.exists() for p in left)
    assert ours_alive.exists() and others.exists()


# ------------------------------------------------------------------ stdout


@pytest.mark.parametrize("argv", [["abcgen", "generate", "--seed", "1"],
                                  ["abcgen", "check", "bad.abc"],
                                  ["abcgen", "convert", "book.abc", "-o", "book.mid"],
                                  ["abcgen-train", "corpus", "book.abc", "--out", "data"]])
def test_a_full_disk_behind_stdout_is_one_error_line(tmp_path, argv):
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    if argv[0] == "abcgen-train":
        pytest.importorskip("torch")
    (tmp_path / "book.abc").write_text(BOOK)
    (tmp_path / "bad.abc").write_text(TUNE.replace("A4|]", "A5|]"))  # a bar too long
    with open("/dev/full", "w") as full:
        done = command(argv[0], *argv[1:], cwd=tmp_path, stdout=full)
    assert done.returncode == 2
    one_error_line(done.stderr, "cannot write to standard output: No space left on device")
    assert "Exception ignored" not in done.stderr
