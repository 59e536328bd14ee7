"""A real JACK server (dummy driver) and a real MIDI receiver, for tests that
carry MIDI between processes on a machine without a sound card.

`JackServer` starts `jackd` under a unique name, realtime if the system allows
it (without realtime a busy CPU drops messages), and cleans the server's
/dev/shm files, which would otherwise block a restart after a kill.

The receiver runs as its own process (`python tests/jack.py receive NAME FILE`)
because a process that held a client of a JACK server that died must not make a
new client: libjack frees the dead clients then, and closing one crashes. It
writes one line per message, `seconds hex`, where seconds are JACK's own clock
(the process cycle in which the message arrived), flushed as they come.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve()


def die_with_parent() -> None:
    """preexec_fn: SIGTERM this child when the test process dies, even by SIGKILL,
    so that no server or endless daemon outlives an interrupted test run."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def jack_available() -> bool:
    if not (shutil.which("jackd") and shutil.which("jack_wait")):
        return False
    try:
        import rtmidi
    except ImportError:
        return False
    return rtmidi.API_UNIX_JACK in rtmidi.get_compiled_api()


@dataclass
class JackServer:
    """`jackd -d dummy` under a unique name; `env` points subprocesses at it."""

    # Frames per cycle, the grain of MIDI timing: 128 at 48 kHz is 2.7 ms (timing noise
    # std 0.8 ms). Shorter cycles miss more deadlines (xruns) on a busy machine.
    period: int = 128
    rate: int = 48000
    name: str = field(default_factory=lambda: f"abcgen-test-{uuid.uuid4().hex[:8]}")
    realtime: bool | None = None  # None: try realtime, fall back
    process: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return Path(tempfile.gettempdir()) / f"{self.name}.jackd.log"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "JACK_DEFAULT_SERVER": self.name, "JACK_NO_AUDIO_RESERVATION": "1"}

    def start(self, timeout: float = 20.0) -> JackServer:
        modes = [self.realtime] if self.realtime is not None else [True, False]
        errors = []
        for realtime in modes:
            self._clean_shm()
            cmd = ["jackd", *(["--realtime", "-P", "70"] if realtime else ["--no-realtime"]),
                   "-n", self.name, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
            with self.log.open("a") as log:  # a file: a pipe nobody reads would block jackd
                self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                                stderr=subprocess.STDOUT, env=self.env,
                                                preexec_fn=die_with_parent)
            ready = subprocess.run(["jack_wait", "-w", "-t", str(int(timeout)), "-s", self.name],
                                   capture_output=True, text=True, env=self.env)
            if ready.returncode == 0 and self.process.poll() is None:
                self.realtime = realtime
                return self
            self.stop()
            errors.append(f"realtime={realtime}: {ready.stdout.strip()} {ready.stderr.strip()}")
        raise RuntimeError(f"jackd did not start: {'; '.join(errors)}")

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
        self._clean_shm()

    def xruns(self) -> int:
        """Cycles in which some client did not finish in time (messages may be lost then)."""
        return self.log.read_text(errors="replace").count("XRun")

    def late_clients(self) -> dict[str, int]:
        """How often each client was reported not finished in its cycle."""
        found = re.findall(r"client = (\S+) was not finished", self.log.read_text(errors="replace"))
        return dict(Counter(found))

    def ports(self) -> list[str]:
        out = subprocess.run(["jack_lsp", "-s", self.name], capture_output=True, text=True,
                             env=self.env, timeout=20)
        return out.stdout.split("\n") if out.returncode == 0 else []

    def wait_for_port(self, name: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while name not in self.ports():
            if time.monotonic() > deadline:
                raise TimeoutError(f"port {name!r} did not appear; ports: {self.ports()}")
            time.sleep(0.1)

    def _clean_shm(self) -> None:
        for path in glob.glob(f"/dev/shm/jack*{self.name}*"):
            with contextlib.suppress(OSError):
                os.unlink(path)

    def __enter__(self) -> JackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log.unlink(missing_ok=True)


class Receiver:
    """A MIDI input port `CLIENT:in` in its own process, logging to a file."""

    def __init__(self, server: JackServer, path: Path, client: str = "receiver") -> None:
        self.server, self.path, self.client = server, path, client
        self.port = f"{client}:in"
        self.process = subprocess.Popen(
            [sys.executable, str(HERE), "receive", client, str(path)],
            env=server.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        server.wait_for_port(self.port)

    def messages(self) -> list[tuple[float, bytes]]:
        """(JACK time in seconds, raw message) for every complete line so far."""
        if not self.path.exists():
            return []
        text = self.path.read_text()
        lines = text.split("\n")[:-1]  # the last piece may still be being written
        return [(float(t), bytes.fromhex(h)) for t, h in (line.split() for line in lines)]

    def stop(self, kill: bool = False) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(20)


class Sender:
    """A MIDI output port `CLIENT:out` in its own process, driven by lines on its stdin:
    `HEX` sends one message; `clock BPM SECONDS` sends Start, 24 clocks per quarter
    note on absolute deadlines, then Stop. It answers each line with `ok`."""

    def __init__(self, server: JackServer, client: str = "sender") -> None:
        self.port = f"{client}:out"
        self.process = subprocess.Popen(
            [sys.executable, str(HERE), "send", client], env=server.env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent)
        server.wait_for_port(self.port)

    def command(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok"

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(20)
        self.process.stdout.close()


def _send(client: str) -> None:
    import rtmidi

    midi_out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, client)
    midi_out.open_virtual_port("out")
    for line in sys.stdin:
        words = line.split()
        if words and words[0] == "clock":
            bpm, seconds = float(words[1]), float(words[2])
            interval = 60.0 / bpm / 24
            midi_out.send_message([0xFA])
            start = time.monotonic()
            for k in range(int(seconds / interval)):
                time.sleep(max(0.0, start + k * interval - time.monotonic()))
                midi_out.send_message([0xF8])
            midi_out.send_message([0xFC])
        elif words:
            midi_out.send_message(list(bytes.fromhex(words[0])))
        print("ok", flush=True)
    midi_out.close_port()


def _receive(client: str, path: str) -> None:
    import rtmidi

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, client)
    # nothing ignored inside rtmidi: its time deltas skip what it ignores
    midi_in.ignore_types(sysex=False, timing=False, active_sense=False)
    midi_in.open_virtual_port("in")
    clock = 0.0
    # Polled, not a callback: a callback runs Python in JACK's realtime thread, which
    # then misses its cycle on a busy machine. rtmidi stamps each message in that thread.
    with open(path, "w") as out:
        while True:
            done = bool(stop)  # asked to stop: write what has arrived, then stop
            while (event := midi_in.get_message()) is not None:
                message, delta = event
                clock += delta
                if message != [0xFE]:  # Active Sensing: a keep-alive, not music
                    out.write(f"{clock:.6f} {bytes(message).hex()}\n")
            out.flush()
            if done:
                break
            time.sleep(0.002)
    midi_in.close_port()


if __name__ == "__main__" and sys.argv[1:2] == ["receive"]:
    _receive(sys.argv[2], sys.argv[3])
elif __name__ == "__main__" and sys.argv[1:2] == ["send"]:
    _send(sys.argv[2])
