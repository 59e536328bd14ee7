"""`abcgen-live` against real MIDI: a JACK server (dummy driver), a receiver in
its own process, the daemon as a subprocess, abc2midi as the score's oracle.

Timing is measured at the receiver on JACK's clock, relative to the first note.
Every wait is for an event (a port, a message, a log line, audio written) under a
deadline, so a busy machine makes the tests slower, not flaky.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import mido
import pytest
from faults import as_a_shell_starts_it, locked, one_error_line, protect
from jack import JackServer, Receiver, Sender, die_with_parent, jack_available

from abcgen.runtime.abc.form import parse_form, read_form
from abcgen.runtime.abc.normalise import split_tunebook
from abcgen.runtime.abc.parser import parse

pytestmark = pytest.mark.skipif(not jack_available(), reason="needs jackd and python-rtmidi")

# Repeats with endings, a tie over the bar line, broken rhythm, a triplet, a pickup:
# what abc2midi plays without its quirks (no chords, graces, ornaments).
TUNE = """X:1
T:Timing test
M:4/4
L:1/8
Q:1/4=120
K:G
D|:G2 BG dGBG|A>B cA (3FGA DF|G2 BG dGBg|f2 d2-d2 cA|1 BGAF G3D:|2 BGAF G4||
"""


HIGH_TUNE = """X:2
T:High
M:4/4
L:1/8
K:C
c'd'e'f' g'f'e'd'|c'8|]
"""  # every note at MIDI 84 or above


@pytest.fixture(scope="module")
def server():
    with JackServer() as jack:
        yield jack


def daemon_setup() -> None:
    """preexec_fn of a daemon under test: started as from a terminal, and gone with
    the test process."""
    as_a_shell_starts_it()
    die_with_parent()


def live(server: JackServer, tmp_path: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "abcgen.runtime.cli.live", "--api", "jack",
           "--abc-log", str(tmp_path / "played.abc"), *args]
    log = (tmp_path / "live.log").open("w")
    return subprocess.Popen(cmd, env={**server.env, "PYTHONFAULTHANDLER": "1"},
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=daemon_setup)


def live_without_log(server: JackServer, tmp_path: Path, cwd: Path, *args: str
                     ) -> subprocess.Popen:
    """The daemon as a service starts it: in `cwd`, its ABC log where it chooses."""
    cmd = [sys.executable, "-m", "abcgen.runtime.cli.live", "--api", "jack", *args]
    log = (tmp_path / "live.log").open("w")
    return subprocess.Popen(cmd, env=server.env, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=daemon_setup)


def stop(daemon: subprocess.Popen, tmp_path: Path, sig: int = signal.SIGTERM) -> int:
    if daemon.poll() is None:
        daemon.send_signal(sig)
    try:
        return daemon.wait(30)
    finally:
        print((tmp_path / "live.log").read_text())


def shut_down(daemon: subprocess.Popen, tmp_path: Path, *clients) -> None:
    """However a scenario ends: the daemon first, then its peers, each receiver once it
    has the daemon's last word (a daemon that leaves by itself ends with All Sound Off)."""
    stop(daemon, tmp_path)
    for client in clients:
        if isinstance(client, Receiver) and daemon.returncode >= 0:
            with contextlib.suppress(TimeoutError):  # the scenario's checks say what is missing
                wait_until(lambda c=client: said_goodbye(c.messages()), timeout=10,
                           what="the daemon's All Sound Off")
        client.stop()


def wait_until(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.02)


def log_says(tmp_path: Path, text: str) -> bool:
    return text in (tmp_path / "live.log").read_text()


def note_ons(messages) -> list[tuple[float, int]]:
    return [(t, d[1]) for t, d in messages if d[0] & 0xF0 == 0x90 and d[2] > 0]


def all_notes_off(messages) -> list[float]:
    return [t for t, d in messages if d[0] & 0xF0 == 0xB0 and d[1:] == bytes([123, 0])]


def said_goodbye(messages) -> bool:
    """Nothing was played, or the last message is All Sound Off (CC 120)."""
    return not note_ons(messages) or (messages[-1][1][0] & 0xF0 == 0xB0
                                      and messages[-1][1][1:] == bytes([120, 0]))


def sounding(messages) -> Counter:
    """(channel, pitch) of the notes struck and not yet released."""
    notes: Counter = Counter()
    for _, d in messages:
        status = d[0] & 0xF0
        if status == 0x90 and d[2] > 0:
            notes[(d[0] & 0x0F, d[1])] += 1
        elif status in (0x80, 0x90):
            key = (d[0] & 0x0F, d[1])
            assert notes[key] > 0, f"note_off without note_on: {d.hex()}"
            notes[key] -= 1
    return +notes


def assert_paired(messages) -> None:
    """Every note_on has its note_off, and no note_off comes without one."""
    left = sounding(messages)
    assert not left, f"left sounding: {dict(left)}"


def tune_file(tmp_path: Path) -> Path:
    path = tmp_path / "tune.abc"
    path.write_text(TUNE)
    return path


def reference_onsets(tmp_path: Path) -> list[tuple[float, int]]:
    """(seconds, pitch) of each note as abc2midi plays the tune."""
    out = tmp_path / "reference.mid"
    subprocess.run(["abc2midi", str(tune_file(tmp_path)), "-o", str(out)], check=True,
                   capture_output=True, timeout=60)
    t, onsets = 0.0, []
    for msg in mido.MidiFile(out):
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            onsets.append((t, msg.note))
    return onsets


def clean_run(server: JackServer, scenario, attempts: int = 4):
    """Run `scenario()` until it passes. In a cycle that some client missed (an xrun,
    which a busy machine causes) JACK itself may drop or repeat MIDI, so a failure
    during which the server reported xruns is tried again; after `attempts` of them
    the test fails, naming the xruns (a skip would hide it). A failure without xruns
    fails at once."""
    failures = []
    for attempt in range(1, attempts + 1):
        before = server.xruns()
        try:
            return scenario(attempt)
        except (AssertionError, TimeoutError) as err:
            missed = server.xruns() - before
            if not missed:
                raise
            failures.append(f"attempt {attempt}: {missed} JACK xruns, then: {err}")
            print(failures[-1])
    pytest.fail(f"JACK missed cycles (xruns) in all {attempts} attempts "
                f"(late clients: {server.late_clients()}):\n" + "\n".join(failures))


@pytest.mark.skipif(not shutil.which("abc2midi"), reason="needs abc2midi")
def test_onsets_match_the_score_at_the_tempo(server, tmp_path):
    want = reference_onsets(tmp_path)

    def scenario(attempt: int) -> None:
        receiver = Receiver(server, tmp_path / f"received-{attempt}.txt")
        daemon = live(server, tmp_path, "--abc", str(tune_file(tmp_path)), "--tunes", "1",
                      "--bpm", "120", "--humanise", "0", "--port", receiver.port)
        try:
            assert daemon.wait(60) == 0
        finally:
            shut_down(daemon, tmp_path, receiver)
        received = receiver.messages()
        assert_paired(received)
        got = note_ons(received)
        assert [p for _, p in got] == [p for _, p in want]
        errors = [(tg - got[0][0]) - (tw - want[0][0])
                  for (tg, _), (tw, _) in zip(got, want, strict=True)]
        std, worst = statistics.pstdev(errors), max(map(abs, errors))
        print(f"{len(errors)} onsets at 120 bpm: jitter std {std * 1e3:.2f} ms, "
              f"max {worst * 1e3:.2f} ms (JACK period {server.period / server.rate * 1e3:.1f} ms)")
        assert worst < 0.02
        assert std <= 0.002

    clean_run(server, scenario)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_note_releases_every_note(server, tmp_path, sig):
    def scenario(attempt: int) -> None:
        receiver = Receiver(server, tmp_path / f"received-{attempt}.txt")
        record = tmp_path / f"take-{attempt}.mid"
        log = tmp_path / f"played-{attempt}.abc"
        daemon = live(server, tmp_path, "--abc", str(tune_file(tmp_path)), "--bpm", "60",
                      "--chords", "--port", receiver.port, "--record", str(record),
                      "--abc-log", str(log))
        try:
            wait_until(lambda: len(note_ons(received := receiver.messages())) >= 5
                       and sounding(received), what="five notes, one of them sounding")
            assert stop(daemon, tmp_path, sig) == 0  # mid-note: at 60 bpm an eighth is 0.5 s
        finally:
            shut_down(daemon, tmp_path, receiver)
        received = receiver.messages()
        assert_paired(received)
        controllers = [d for _, d in received if d[0] == 0xB0]
        assert bytes([0xB0, 123, 0]) in controllers and bytes([0xB0, 120, 0]) in controllers
        played = [m for m in mido.MidiFile(record) if m.type == "note_on" and m.velocity > 0]
        assert len(played) == len(note_ons(received))
        assert log.read_text().count("K:G") == 1

    clean_run(server, scenario)


def test_clock_rate_matches_bpm(server, tmp_path):
    bpm = 137.0

    def scenario(attempt: int) -> None:
        receiver = Receiver(server, tmp_path / f"received-{attempt}.txt")
        daemon = live(server, tmp_path, "--abc", str(tune_file(tmp_path)), "--bpm", str(bpm),
                      "--clock", "master", "--port", receiver.port)
        try:
            wait_until(lambda: sum(d == b"\xf8" for _, d in receiver.messages()) > 24 * 12,
                       what="12 quarter notes of clock")
            assert stop(daemon, tmp_path) == 0
        finally:
            shut_down(daemon, tmp_path, receiver)
        received = receiver.messages()
        kinds = [d[0] for _, d in received if d[0] >= 0xF8]
        assert kinds[0] == 0xFA and kinds[-1] == 0xFC
        clocks = [t for t, d in received if d == b"\xf8"]
        # Least-squares slope of clock time against clock number. Each clock is numbered
        # by the nominal interval, so a clock JACK lost or repeated cannot shift the rest.
        nominal = 60.0 / bpm / 24
        ks = [round((t - clocks[0]) / nominal) for t in clocks]
        mean_k, mean_t = statistics.fmean(ks), statistics.fmean(clocks)
        slope = sum((k - mean_k) * (t - mean_t) for k, t in zip(ks, clocks, strict=True)) / sum(
            (k - mean_k) ** 2 for k in ks)
        rate_bpm = 60.0 / (slope * 24)
        print(f"{len(clocks)} clocks: {rate_bpm:.4f} bpm for --bpm {bpm}")
        assert abs(rate_bpm / bpm - 1) < 0.001

    clean_run(server, scenario)


def test_daemon_plays_on_after_the_server_goes_away_and_returns(tmp_path):
    with JackServer() as jack:

        def scenario(attempt: int) -> None:
            receiver = Receiver(jack, tmp_path / f"before-{attempt}.txt")
            daemon = live(jack, tmp_path, "--abc", str(tune_file(tmp_path)), "--bpm", "240",
                          "--port", receiver.port, "--gap", "0")
            try:
                wait_until(lambda: len(note_ons(receiver.messages())) >= 5, what="five notes")
                jack.stop()
                receiver.stop(kill=True)
                wait_until(lambda: log_says(tmp_path, "output lost") or daemon.poll() is not None,
                           what="the daemon to notice")
                assert daemon.poll() is None, "the daemon exited when its server went away"
                jack.start()
                receiver = Receiver(jack, tmp_path / f"after-{attempt}.txt")
                wait_until(lambda: len(note_ons(receiver.messages())) >= 10,
                           what="notes again")
                assert stop(daemon, tmp_path) == 0
            finally:
                shut_down(daemon, tmp_path, receiver)
            assert_paired(receiver.messages())
            assert log_says(tmp_path, "output lost")

        clean_run(jack, scenario)


def test_daemon_reconnects_when_the_synth_comes_back(server, tmp_path):
    def scenario(attempt: int) -> None:
        receiver = Receiver(server, tmp_path / f"first-{attempt}.txt")
        daemon = live(server, tmp_path, "--abc", str(tune_file(tmp_path)), "--bpm", "240",
                      "--port", receiver.port, "--gap", "0")
        try:
            wait_until(lambda: len(note_ons(receiver.messages())) >= 5, what="five notes")
            receiver.stop()
            wait_until(lambda: log_says(tmp_path, "output lost"), what="the daemon to notice")
            receiver = Receiver(server, tmp_path / f"second-{attempt}.txt")
            wait_until(lambda: len(note_ons(receiver.messages())) >= 5, what="notes again")
            assert stop(daemon, tmp_path) == 0
        finally:
            shut_down(daemon, tmp_path, receiver)
        assert_paired(receiver.messages())
        assert log_says(tmp_path, "output connected")

    clean_run(server, scenario)


def test_controllers_change_tempo_panic_and_skip_to_the_next_tune(server, tmp_path):
    tunes = tmp_path / "two.abc"
    tunes.write_text(TUNE + "\n" + HIGH_TUNE)

    def scenario(attempt: int) -> None:
        receiver = Receiver(server, tmp_path / f"received-{attempt}.txt")
        sender = Sender(server, client="knobs")
        log = tmp_path / f"played-{attempt}.abc"
        daemon = live(server, tmp_path, "--abc", str(tunes), "--bpm", "60", "--humanise", "0",
                      "--port", receiver.port, "--control-in", sender.port, "--abc-log",
                      str(log), "--cc", "tempo=30", "--cc", "panic=31", "--cc", "next=32")
        try:
            wait_until(lambda: len(note_ons(receiver.messages())) >= 3, what="three notes")
            slow = len(note_ons(receiver.messages()))
            sender.command("b01e7f")  # tempo controller to the top: 240 bpm
            wait_until(lambda: min(_gaps(note_ons(receiver.messages())[slow:]), default=1) < 0.2,
                       what="notes at the new tempo")
            silenced = len(all_notes_off(receiver.messages()))
            sender.command("b01f7f")  # panic
            wait_until(lambda: len(all_notes_off(receiver.messages())) > silenced,
                       what="the panic's All Notes Off")
            before = len(receiver.messages())
            sender.command("b0207f")  # next tune
            wait_until(lambda: any(p >= 84 for _, p in note_ons(receiver.messages()[before:])),
                       what="the next tune")
            assert stop(daemon, tmp_path) == 0
        finally:
            shut_down(daemon, tmp_path, sender, receiver)
        received = receiver.messages()
        assert_paired(received)
        gaps = _gaps([(t, p) for t, p in note_ons(received) if p < 84])
        # the first tune moves in eighths: 0.5 s at 60 bpm, 0.125 s at 240
        assert min(gaps[:2]) > 0.25 and min(gaps[-4:]) < 0.2
        assert len(all_notes_off(received)) >= 3  # panic, next, and on the way out
        first, second = log.read_text().split("X:2")
        assert "% interrupted here" in first and "K:G" in first
        assert "T:High" in second

    clean_run(server, scenario)


QUIET = 1.0  # seconds of watching for notes that must not come (more than a long note)


@pytest.mark.skipif(not shutil.which("abc2midi"), reason="needs abc2midi")
def test_clock_follow_takes_tempo_and_start_stop_from_the_input(server, tmp_path):
    def scenario(attempt: int) -> None:
        receiver = Receiver(server, tmp_path / f"received-{attempt}.txt")
        sender = Sender(server, client="drummachine")
        daemon = live(server, tmp_path, "--abc", str(tune_file(tmp_path)), "--humanise", "0",
                      "--port", receiver.port, "--clock", "follow", "--clock-in", sender.port)
        try:
            server.wait_for_port("abcgen-live-in:in")
            # the receiver hears the clock too, on the same JACK clock as the notes
            subprocess.run(["jack_connect", sender.port, receiver.port], env=server.env,
                           check=True, timeout=20)
            time.sleep(QUIET)  # a window, not a wait: the daemon is ready and must not play
            assert not note_ons(receiver.messages()), "played before the clock started"
            sender.command("clock 90 4")  # returns after Stop
            wait_until(lambda: any(d == b"\xfc" for _, d in receiver.messages()), what="Stop")
            stopped_at = next(t for t, d in receiver.messages() if d == b"\xfc")
            wait_until(lambda: any(t >= stopped_at for t in all_notes_off(receiver.messages())),
                       what="the silence after Stop")
            time.sleep(QUIET)  # a window: no note may follow that silence
            assert stop(daemon, tmp_path) == 0
        finally:
            shut_down(daemon, tmp_path, sender, receiver)
        received = receiver.messages()
        assert_paired(received)
        got = note_ons(received)
        assert len(got) > 8
        started_at = next(t for t, d in received if d == b"\xfa")
        silenced_at = min(t for t in all_notes_off(received) if t >= stopped_at)
        assert got[0][0] >= started_at, "played before the clock started"
        assert all(t <= silenced_at for t, _ in got), "played on after the clock stopped"
        want = [(t * 120 / 90, pitch) for t, pitch in reference_onsets(tmp_path)][: len(got)]
        assert [p for _, p in got] == [p for _, p in want]
        errors = [(tg - got[0][0]) - (tw - want[0][0])
                  for (tg, _), (tw, _) in zip(got, want, strict=True)]
        print(f"{len(got)} onsets following a 90 bpm clock: worst error "
              f"{max(map(abs, errors)) * 1e3:.1f} ms")
        assert max(map(abs, errors)) < 0.025

    clean_run(server, scenario)


def test_ports_are_listed_and_a_virtual_port_can_be_connected_to(server, tmp_path):
    receiver = Receiver(server, tmp_path / "received.txt")
    listing = subprocess.run([sys.executable, "-m", "abcgen.runtime.cli.live", "--list-ports",
                              "--api", "jack"], env=server.env, capture_output=True, text=True,
                             timeout=120)
    assert listing.returncode == 0
    assert "jack:" in listing.stdout and f"output  {receiver.port}" in listing.stdout
    daemon = live(server, tmp_path, "--abc", str(tune_file(tmp_path)), "--bpm", "240",
                  "--virtual", "tunes")
    try:
        server.wait_for_port("abcgen-live:tunes")
        subprocess.run(["jack_connect", "abcgen-live:tunes", receiver.port], env=server.env,
                       check=True, timeout=20)
        wait_until(lambda: len(note_ons(receiver.messages())) >= 3, what="notes")
        assert stop(daemon, tmp_path) == 0
    finally:
        shut_down(daemon, tmp_path, receiver)


@pytest.mark.parametrize(("args", "message"), [
    (["--port", "no-such-synth"], "no output port matches 'no-such-synth'"),
    (["--port", "receiver", "--model", "missing.onnx"], "model file not found: missing.onnx"),
    (["--port", "receiver", "--control-in", "nothing-here"], "no input port matches"),
])
def test_a_missing_port_or_model_is_a_message_not_a_traceback(server, tmp_path, args, message):
    receiver = Receiver(server, tmp_path / "received.txt")
    try:
        daemon = live(server, tmp_path, *args)
        assert daemon.wait(60) == 2
    finally:
        receiver.stop()
    text = (tmp_path / "live.log").read_text()
    assert "error: " in text and message in text and "Traceback" not in text


@pytest.mark.parametrize("fault", ["log in a locked folder", "read-only log",
                                   "record into a missing folder", "read-only record"])
def test_a_file_the_daemon_cannot_write_stops_it_before_the_first_note(server, tmp_path,
                                                                        fault):
    service = tmp_path / "service"  # where a service manager starts the daemon
    service.mkdir()
    kept = tmp_path / "kept.abc"
    kept.write_text("X:1\nK:G\nGABc|]\n")
    args, message = {
        "log in a locked folder": ([], f"cannot write abcgen-live.abc: folder {service} takes "
                                       "no new file"),
        "read-only log": (["--abc-log", str(protect(kept))], "kept.abc is read-only"),
        "record into a missing folder": (["--abc-log", str(tmp_path / "log.abc"), "--record",
                                          "/nonexistent/take.mid"],
                                         "folder /nonexistent does not exist"),
        "read-only record": (["--abc-log", str(tmp_path / "log.abc"), "--record",
                              str(protect(kept))], "kept.abc is read-only"),
    }[fault]
    receiver = Receiver(server, tmp_path / "received.txt")
    try:
        with locked(service) if fault == "log in a locked folder" else contextlib.nullcontext():
            daemon = live_without_log(server, tmp_path, service, "--abc",
                                      str(tune_file(tmp_path)), "--port", receiver.port, *args)
            assert daemon.wait(60) == 2
    finally:
        receiver.stop()
    one_error_line((tmp_path / "live.log").read_text(), message)
    assert not note_ons(receiver.messages())
    assert kept.read_text() == "X:1\nK:G\nGABc|]\n"


def test_the_recording_keeps_what_was_played_when_the_daemon_is_killed(server, tmp_path):
    def scenario(attempt: int) -> None:
        receiver = Receiver(server, tmp_path / f"received-{attempt}.txt")
        record = tmp_path / f"take-{attempt}.mid"
        daemon = live(server, tmp_path, "--abc", str(tune_file(tmp_path)), "--bpm", "240",
                      "--humanise", "0", "--port", receiver.port, "--record", str(record))
        try:
            wait_until(lambda: len(note_ons(receiver.messages())) >= 12, what="twelve notes")
            composer = _composer(daemon.pid)
            daemon.kill()  # no clean exit: no End of Track, nothing saved on the way out
            daemon.wait(30)
            for pid in composer:  # orphaned by the kill, it may wait on forever
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        finally:
            shut_down(daemon, tmp_path, receiver)
        heard = [p for _, p in note_ons(receiver.messages())]
        kept = [m.note for m in mido.MidiFile(record) if m.type == "note_on" and m.velocity]
        print(f"{len(heard)} notes heard, {len(kept)} in the recording")
        assert kept == heard[:len(kept)] and len(kept) >= len(heard) - 2  # 0.1 s of notes

    clean_run(server, scenario)


def test_a_log_that_fails_mid_session_is_named_and_its_tune_kept(server, tmp_path):
    log = tmp_path / "played.abc"
    log.write_text("")
    receiver = Receiver(server, tmp_path / "received.txt")
    daemon = live(server, tmp_path, "--abc", str(tune_file(tmp_path)), "--tunes", "1",
                  "--bpm", "400", "--port", receiver.port, "--abc-log", str(log))
    try:
        wait_until(lambda: log_says(tmp_path, "playing tune 1"), what="the first tune")
        with locked(log):  # the log goes read-only while the tune plays
            assert daemon.wait(60) == 0
    finally:
        shut_down(daemon, tmp_path, receiver)
    output = (tmp_path / "live.log").read_text()
    assert f"warning: cannot append tune 1 to {log}" in output and "Traceback" not in output
    assert "T:Timing test\nM:4/4" in output.split("here it is instead:")[1]  # the tune itself
    assert log.read_text() == ""


def test_a_composer_that_dies_is_reported_after_the_music_queued(server, tmp_path):
    def scenario(attempt: int) -> None:
        receiver = Receiver(server, tmp_path / f"received-{attempt}.txt")
        daemon = live(server, tmp_path, "--abc", str(tune_file(tmp_path)), "--bpm", "240",
                      "--port", receiver.port)
        try:
            wait_until(lambda: len(note_ons(receiver.messages())) >= 3, what="three notes")
            for pid in _composer(daemon.pid):
                os.kill(pid, signal.SIGKILL)
            assert daemon.wait(60) == 2
        finally:
            shut_down(daemon, tmp_path, receiver)
        assert_paired(receiver.messages())
        one_error_line((tmp_path / "live.log").read_text(),
                       "the composer stopped unexpectedly (exit code -9)")

    clean_run(server, scenario)


def test_generated_tunes_play_as_they_are_written(server, tmp_path):
    pytest.importorskip("torch")
    from tiny_models import exported

    model = exported(tmp_path, "tiny")

    def scenario(attempt: int) -> None:
        receiver = Receiver(server, tmp_path / f"received-{attempt}.txt")
        sender = Sender(server, client="knobs")
        log, record = tmp_path / f"played-{attempt}.abc", tmp_path / f"take-{attempt}.mid"
        daemon = live(server, tmp_path, "--model", str(model), "--tunes", "2", "--seed", "1",
                      "--meter", "6/8", "--key", "Ador", "--bpm", "300", "--gap", "0.2",
                      "--form", "AABB", "--part-bars", "2",
                      "--max-chars", "200", "--time-scale", "0.5",
                      "--port", receiver.port, "--control-in", sender.port,
                      "--abc-log", str(log), "--record", str(record))
        try:
            server.wait_for_port("abcgen-live-in:in")
            sender.command("b0147f")  # temperature controller (20) to the top
            assert daemon.wait(120) == 0
        finally:
            shut_down(daemon, tmp_path, sender, receiver)
        received = receiver.messages()
        assert_paired(received)
        played = [m.note for m in mido.MidiFile(record) if m.type == "note_on" and m.velocity]
        assert played and [p for _, p in note_ons(received)] == played
        texts = log.read_text()
        assert texts.count("M:6/8\nL:1/8\nK:Ador\n") == 2
        for tune in split_tunebook(texts):  # a set in one steady form
            assert read_form(parse(tune)).matches(parse_form("AABB", 2)), tune
        output = (tmp_path / "live.log").read_text()
        assert "temperature 2.00" in output and "playing tune 2" in output

    clean_run(server, scenario)


SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")


@pytest.mark.skipif(not (shutil.which("fluidsynth") and SOUNDFONT.exists()),
                    reason="needs fluidsynth and the timgm6mb soundfont")
def test_a_synth_falls_silent_after_sigterm_mid_note(server, tmp_path):
    """FluidSynth renders what arrives to a WAV. An organ holds a note as long as it is
    not released, so a stuck note would sound to the end of the file."""
    tune = tmp_path / "long.abc"
    tune.write_text("X:1\nM:4/4\nL:1/1\nK:C\nc|e|g|c'|]\n")  # whole notes: 4 s each at 60

    def scenario(attempt: int) -> None:
        wav = tmp_path / f"heard-{attempt}.wav"

        def written_after(start: int, seconds: float) -> bool:
            """FluidSynth writes the WAV in real time: wait on the audio written, the time
            the checks below count in, not on the wall clock of a busy machine."""
            return wav.stat().st_size - start >= seconds * 48000 * 4  # 16-bit stereo

        synth = subprocess.Popen(
            ["fluidsynth", "-a", "file", "-m", "jack", "-r", "48000", "-o",
             f"audio.file.name={wav}", "-o", "midi.jack.id=synth", str(SOUNDFONT)],
            env=server.env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, text=True, preexec_fn=die_with_parent)
        try:
            server.wait_for_port("synth:midi_00")
            daemon = live(server, tmp_path, "--abc", str(tune), "--bpm", "60", "--program",
                          "19", "--port", "synth")
            try:
                wait_until(lambda: log_says(tmp_path, "playing tune 1"), what="the first note")
                size = wav.stat().st_size
                wait_until(lambda: written_after(size, 1.5), what="1.5 s of the first note")
                assert stop(daemon, tmp_path) == 0
            finally:
                stop(daemon, tmp_path)
            size = wav.stat().st_size
            wait_until(lambda: written_after(size, 2.0), what="2 s of audio after the daemon")
        finally:
            synth.communicate("quit\n", timeout=30)  # SIGTERM would leave a header of 0 samples
        loudness = _loudness(wav, 0.1)
        loud = max(loudness)
        assert loud > 50 * min(loudness)  # an organ note, and the silence before it
        last_sound = max(i for i, v in enumerate(loudness) if v > loud / 100)
        assert len(loudness) - last_sound > 1.5 / 0.1, "sound went on after the daemon left"
        first_sound = min(i for i, v in enumerate(loudness) if v > loud / 100)
        assert (last_sound - first_sound) * 0.1 > 1.0  # it sounded until the signal

    clean_run(server, scenario)


def _loudness(wav: Path, window: float) -> list[float]:
    """RMS of the left channel over consecutive windows of `window` seconds."""
    import wave

    import numpy as np

    with wave.open(str(wav)) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        left = frames.reshape(-1, w.getnchannels())[:, 0].astype(float)
        step = int(w.getframerate() * window)
    return [float(np.sqrt(np.mean(left[i:i + step] ** 2)) + 1.0)
            for i in range(0, len(left) - step, step)]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["abc", "model"])
def test_soak_ten_minutes_of_music_with_flat_memory(server, tmp_path, source):
    if source == "abc":
        corpus = tmp_path / "tunes.abc"
        corpus.write_text("\n".join(TUNE.replace("X:1", f"X:{k}").replace("K:G", key)
                                    for k, key in enumerate(["K:G", "K:D", "K:A", "K:Em"])))
        tunes = ["--abc", str(corpus)]
    else:  # generated and constrained as it plays, by a small random model
        pytest.importorskip("torch")
        from tiny_models import exported

        tunes = ["--model", str(exported(tmp_path, "tiny")), "--max-chars", "600", "--seed", "1"]
    scale = 0.05  # 10 minutes of music in 30 seconds

    def scenario(attempt: int) -> dict[str, list[int]]:
        receiver = Receiver(server, tmp_path / f"received-{attempt}.txt")
        record = tmp_path / f"take-{attempt}.mid"
        daemon = live(server, tmp_path, *tunes, "--bpm", "120", "--gap", "1",
                      "--time-scale", str(scale), "--port", receiver.port,
                      "--record", str(record))
        heap: dict[str, list[int]] = {"sender": [], "composer": []}
        try:
            wait_until(lambda: note_ons(receiver.messages()), what="the first note")
            start = time.monotonic()
            while time.monotonic() - start < 600 * scale + 2:
                heap["sender"].append(_heap(daemon.pid))
                heap["composer"].append(sum(map(_heap, _composer(daemon.pid))))
                time.sleep(1)
            assert daemon.poll() is None
            assert stop(daemon, tmp_path) == 0
        finally:
            shut_down(daemon, tmp_path, receiver)
        received = receiver.messages()
        assert_paired(received)
        played = [m for m in mido.MidiFile(record) if m.type == "note_on" and m.velocity > 0]
        assert len(note_ons(received)) == len(played)
        music = sum(m.time for m in mido.MidiFile(record)) / scale
        print(f"{music / 60:.1f} min of music, {len(played)} notes")
        assert music >= 600
        return heap

    # Memory is judged outside clean_run: a missed JACK cycle excuses lost MIDI, not growth.
    for role, sizes in clean_run(server, scenario).items():
        settled, last = sizes[len(sizes) // 4], sizes[-1]
        print(f"{role} heap: {settled / 1e6:.1f} MB after a quarter, {last / 1e6:.1f} MB "
              "at the end")
        assert last < settled * 1.10


def _gaps(onsets: list[tuple[float, int]]) -> list[float]:
    return [b - a for (a, _), (b, _) in itertools.pairwise(onsets)]


def _composer(pid: int) -> list[int]:
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(k) for k in kids
            if b"resource_tracker" not in Path(f"/proc/{k}/cmdline").read_bytes()]


def _heap(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):  # our own memory, not JACK's mapped segments
            return int(line.split()[1]) * 1024
    return 0

