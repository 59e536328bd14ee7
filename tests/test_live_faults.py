"""`abcgen-live` under faults, against a real JACK server (dummy driver) and a
real receiver: outputs that are no regular file or are one file, a tune beyond
the limits, the terminal closing (SIGHUP), a signal while the ports open, and a
disk that fills mid-session. Each test is a row of docs/bad-input.md.
"""

from __future__ import annotations

import os
import pty
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import mido
import pytest
from faults import ROOT, one_error_line
from jack import JackServer, Receiver, jack_available
from test_live_jack import assert_paired, daemon_setup, note_ons, wait_until

pytestmark = pytest.mark.skipif(not jack_available(), reason="needs jackd and python-rtmidi")

TUNE = "X:{n}\nT:Tune {n}\nM:4/4\nL:1/8\nK:G\nGABc dedB|dedB A4|]\n"


@pytest.fixture(scope="module")
def server():
    with JackServer() as jack:
        yield jack


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_daemon_left():
    """A daemon that a failed test leaves playing would play into the next test's
    receiver (the same port name) and fail it too: kill what is left, group and all."""
    yield
    while STARTED:
        daemon = STARTED.pop()
        if daemon.poll() is not None:
            continue
        if os.getpgid(daemon.pid) == daemon.pid:  # its own session: the composer too
            os.killpg(daemon.pid, signal.SIGKILL)
        else:
            daemon.kill()
        daemon.wait(10)


def start(server: JackServer, tmp_path: Path, *args: object, **popen) -> subprocess.Popen:
    """The daemon as a subprocess, its stdout and stderr in live.log (unless given),
    started as from a terminal (unless `preexec_fn` says otherwise)."""
    popen.setdefault("stdout", (tmp_path / "live.log").open("w"))
    popen.setdefault("stderr", subprocess.STDOUT)
    popen.setdefault("preexec_fn", daemon_setup)
    cmd = [sys.executable, "-m", "abcgen.runtime.cli.live", "--api", "jack", *map(str, args)]
    daemon = subprocess.Popen(cmd, env=server.env, stdin=subprocess.DEVNULL, **popen)
    STARTED.append(daemon)
    return daemon


def book(tmp_path: Path, *tunes: str) -> Path:
    path = tmp_path / "book.abc"
    path.write_text("\n".join(tunes or [TUNE.format(n=1)]))
    return path


def log(tmp_path: Path) -> str:
    return (tmp_path / "live.log").read_text()


@pytest.mark.parametrize("kind", ["fifo", "device", "link"])
def test_a_recording_onto_no_regular_file_is_refused_before_a_note(server, tmp_path, kind):
    target = tmp_path / "take.mid"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        if not ROOT:
            pytest.skip("making a device node needs root")
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a null device of our own
    else:
        (tmp_path / "old.mid").write_bytes(b"mine")
        target.symlink_to("old.mid")
    receiver = Receiver(server, tmp_path / "received.txt")
    try:
        daemon = start(server, tmp_path, "--abc", book(tmp_path), "--tunes", 1, "--port",
                       receiver.port, "--abc-log", tmp_path / "played.abc", "--record", target)
        assert daemon.wait(60) == 2
    finally:
        receiver.stop()
    one_error_line(log(tmp_path), f"cannot write {target}: it is a")
    assert not note_ons(receiver.messages())
    mode = os.lstat(target).st_mode
    assert {"fifo": stat.S_ISFIFO, "device": stat.S_ISCHR, "link": stat.S_ISLNK}[kind](mode)


@pytest.mark.parametrize(("args", "message"), [
    (["--abc-log", "s.mid", "--record", "s.mid"], "cannot write s.mid twice"),
    (["--abc-log", "s.mid", "--record", "hard.mid"], "cannot write both s.mid and hard.mid: "
                                                     "they are one file"),
    (["--abc-log", "played.abc", "--record", "book.abc"], "cannot write book.abc: it is the "
                                                          "same file as the input book.abc"),
])
def test_outputs_that_are_one_file_or_the_input_are_refused(server, tmp_path, args, message):
    source = book(tmp_path)
    (tmp_path / "s.mid").write_text("the log so far\n")
    os.link(tmp_path / "s.mid", tmp_path / "hard.mid")
    daemon = start(server, tmp_path, "--abc", "book.abc", "--tunes", 1, *args, cwd=tmp_path)
    assert daemon.wait(60) == 2
    one_error_line(log(tmp_path), message)
    assert source.read_text() == TUNE.format(n=1)
    assert (tmp_path / "s.mid").read_text() == "the log so far\n"


def test_a_tune_beyond_the_limits_is_skipped_and_the_session_goes_on(server, tmp_path):
    huge = TUNE.format(n=1).replace("GABc dedB|dedB A4|]", "A9999|]")
    wide = TUNE.format(n=2).replace("M:4/4", "M:256/4")  # a meter no MIDI time signature holds
    receiver = Receiver(server, tmp_path / "received.txt")
    try:
        daemon = start(server, tmp_path, "--abc", book(tmp_path, huge, wide, TUNE.format(n=3)),
                       "--tunes", 3, "--gap", 0, "--time-scale", 0.25, "--port", receiver.port,
                       "--abc-log", tmp_path / "played.abc")
        assert daemon.wait(60) == 0, log(tmp_path)
        time.sleep(0.3)
    finally:
        receiver.stop()
    assert "warning: tune 1 skipped: a note in bar 1 lasts 1,250 whole notes" in log(tmp_path)
    received = receiver.messages()
    assert len(note_ons(received)) == 26  # tunes 2 and 3, thirteen notes each
    assert_paired(received)


def test_closing_the_terminal_releases_every_note_and_finishes_the_recording(server, tmp_path):
    """SIGHUP, sent to the daemon's process group as a shell does when its terminal
    closes, with the terminal already gone (writing to it fails)."""
    receiver = Receiver(server, tmp_path / "received.txt")
    record = tmp_path / "take.mid"
    master, slave = pty.openpty()
    try:
        daemon = start(server, tmp_path, "--abc", book(tmp_path), "--bpm", 60, "--port",
                       receiver.port, "--abc-log", tmp_path / "played.abc", "--record", record,
                       stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        wait_until(lambda: len(note_ons(receiver.messages())) >= 3, what="three notes")
        time.sleep(0.1)  # mid-note: at 60 bpm an eighth lasts 0.5 s
        os.close(master)
        os.killpg(daemon.pid, signal.SIGHUP)
        assert daemon.wait(30) == 0
        time.sleep(0.3)
    finally:
        receiver.stop()
    received = receiver.messages()
    assert_paired(received)
    recorded = mido.MidiFile(record)
    assert recorded.tracks[0][-1].type == "end_of_track"
    assert len([m for m in recorded if m.type == "note_on" and m.velocity]) == \
        len(note_ons(received))


def test_a_daemon_started_under_nohup_plays_on_when_its_terminal_closes(server, tmp_path):
    """SIGHUP ignored on entry (nohup, a service manager) stays ignored: the music goes
    on, and SIGTERM still stops it cleanly."""
    def nohup() -> None:
        daemon_setup()
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    receiver = Receiver(server, tmp_path / "received.txt")
    try:
        daemon = start(server, tmp_path, "--abc", book(tmp_path), "--bpm", 240, "--port",
                       receiver.port, "--abc-log", tmp_path / "played.abc", preexec_fn=nohup)
        wait_until(lambda: len(note_ons(receiver.messages())) >= 3, what="three notes")
        daemon.send_signal(signal.SIGHUP)
        heard = len(note_ons(receiver.messages()))
        wait_until(lambda: len(note_ons(receiver.messages())) >= heard + 4, what="more notes")
        assert daemon.poll() is None
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
        time.sleep(0.3)
    finally:
        receiver.stop()
    assert_paired(receiver.messages())


def test_a_signal_while_the_ports_open_is_a_clean_stop(tmp_path):
    """A stopped JACK server holds the daemon inside opening its port; SIGTERM then
    made that opening fail, and the daemon blamed every MIDI API."""
    with JackServer() as jack:
        jack.process.send_signal(signal.SIGSTOP)
        try:
            daemon = start(jack, tmp_path, "--abc", book(tmp_path), "--seed", 1, "--abc-log",
                           tmp_path / "played.abc")
            wait_until(lambda: "seed 1" in log(tmp_path), what="the options checked")
            time.sleep(1.0)  # the daemon waits for the server
            daemon.send_signal(signal.SIGTERM)
            time.sleep(0.5)
        finally:
            jack.process.send_signal(signal.SIGCONT)
        assert daemon.wait(60) == 0, log(tmp_path)
    assert "stopped while the ports opened" in log(tmp_path)
    assert "no MIDI API works" not in log(tmp_path) and "error:" not in log(tmp_path)


@pytest.fixture
def small_disk(tmp_path):
    """A 64 kB tmpfs: a disk that fills (mounting needs root)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path) -> None:
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"x" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_disk_that_fills_mid_session_keeps_the_recording_written(server, tmp_path, small_disk):
    record = small_disk / "take.mid"
    fast = TUNE.format(n=1).replace("L:1/8", "L:1/16")
    receiver = Receiver(server, tmp_path / "received.txt")
    try:
        daemon = start(server, tmp_path, "--abc", book(tmp_path, fast), "--gap", 0,
                       "--time-scale", 0.1, "--port", receiver.port,
                       "--abc-log", tmp_path / "played.abc", "--record", record)
        wait_until(lambda: record.exists() and record.stat().st_size > 100, what="a recording")
        fill(small_disk)  # after the check at start-up, as a disk fills
        wait_until(lambda: "cannot write the recording" in log(tmp_path), what="a full disk")
        time.sleep(0.5)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 2
    finally:
        receiver.stop()
    one_error_line(log(tmp_path), f"the recording {record} keeps the first")
    assert "could not be written (No space left on device)" in log(tmp_path)
    kept = [m for m in mido.MidiFile(record) if m.type == "note_on" and m.velocity]
    assert 0 < len(kept) < len(note_ons(receiver.messages()))
    assert_paired(receiver.messages())
