"""MIDI ports through python-rtmidi, with the API chosen explicitly.

rtmidi's default API on Linux is ALSA, which fails outright on a machine
without sound support, and mido does not fall back: `auto` tries every API
compiled in, in the platform's order, and says why each one failed. Ports are
found by exact name or by a unique substring.

A JACK server can die under a running client. libjack does not tell rtmidi, so
an output on JACK listens to itself: it sends Active Sensing (which receivers
may also use to silence notes if we stop) and a second client checks that it
arrives. A client of a dead server must never be closed (libjack frees it when
the next client opens, and rtmidi's close then crashes), so it is abandoned:
kept alive, untouched, for the rest of the process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from typing import Any

from abcgen.runtime.errors import AbcgenError

APIS = {"alsa": "API_LINUX_ALSA", "jack": "API_UNIX_JACK", "coremidi": "API_MACOSX_CORE",
        "winmm": "API_WINDOWS_MM"}
_ORDER = {"darwin": ("coremidi", "jack"), "win32": ("winmm",)}
_ORDER_DEFAULT = ("alsa", "jack")
ACTIVE_SENSING = bytes([0xFE])
HEARTBEAT_EVERY = 0.2  # seconds; receivers expect Active Sensing at least every 0.3 s
# Seconds without hearing ourselves before the port counts as gone: longer than the
# stalls a busy machine gives JACK, since a live client that is given up stays behind.
HEARTBEAT_LOST = 3.0


def _rtmidi() -> Any:
    try:
        import rtmidi
    except ImportError:
        raise AbcgenError("MIDI ports need python-rtmidi: pip install 'abcgen[live]'") from None
    return rtmidi


def apis(choice: str = "auto") -> list[str]:
    """The APIs to try for `--api choice`, in order."""
    rt = _rtmidi()
    compiled = {api for api, const in APIS.items() if getattr(rt, const) in rt.get_compiled_api()}
    if choice == "auto":
        return [api for api in _ORDER.get(sys.platform, _ORDER_DEFAULT) if api in compiled]
    if choice not in APIS:
        raise AbcgenError(f"--api must be auto, {', '.join(APIS)}; got {choice!r}")
    if choice not in compiled:
        raise AbcgenError(f"python-rtmidi here has no {choice} support "
                          f"(it has: {', '.join(sorted(compiled)) or 'none'})")
    return [choice]


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """ALSA and libjack print their own failure lines; ours say more, once."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _client(kind: str, api: str, name: str) -> Any:
    """A MidiOut or MidiIn client on `api`; OSError when the API is unusable."""
    rt = _rtmidi()
    cls = rt.MidiOut if kind == "out" else rt.MidiIn
    with _quiet_stderr():
        try:
            return cls(getattr(rt, APIS[api]), name)
        except rt.RtMidiError as err:  # SystemError/DriverError derive from OSError too
            raise OSError(f"{api}: {err}") from None


def _abandon(client: Any) -> None:
    # One reference that is never released: the client's memory may already be
    # freed by libjack, and deallocating the Python object would close it.
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(client))


def find(names: list[str], wanted: str, what: str) -> int | None:
    """Index of the port named `wanted`, else of the one port containing it
    (ignoring case); None when none does, an error when several do."""
    if wanted in names:
        return names.index(wanted)
    hits = [i for i, name in enumerate(names) if wanted.lower() in name.lower()]
    if len(hits) > 1:
        raise AbcgenError(f"{what} {wanted!r} matches several ports: "
                          f"{', '.join(names[i] for i in hits)}; give more of the name")
    return hits[0] if hits else None


def list_ports(choice: str = "auto") -> dict[str, dict[str, list[str]]]:
    """{api: {"outputs": [...], "inputs": [...]}} for every API that works."""
    found: dict[str, dict[str, list[str]]] = {}
    errors = []
    for api in apis(choice):
        try:
            out, inp = _client("out", api, "abcgen-list"), _client("in", api, "abcgen-list")
        except OSError as err:
            errors.append(str(err))
            continue
        found[api] = {"outputs": out.get_ports(), "inputs": inp.get_ports()}
        out.delete()
        inp.delete()
    if not found:
        raise AbcgenError(_no_api(choice, errors))
    return found


class PortNotFound(OSError):
    """The API works, the port named is not there (yet)."""


def _no_api(choice: str, errors: list[str]) -> str:
    tried = "; ".join(errors) or "none compiled in"
    hint = " (is a JACK server running? is the sound system up?)"
    return f"no MIDI API works with --api {choice}: {tried}{hint}"


class Output:
    """One open output port: `send` raw bytes; `healthy` says whether it is still there."""

    def __init__(self, api: str, client: str, port: str | None, virtual: str | None) -> None:
        self.api, self.target = api, port
        self.midi = self.monitor = None
        self.lost = False  # no longer hears itself: the server is gone
        self._heard = self._beat = 0.0
        try:
            if api == "jack":  # made first, so that it can tell our new port from the others
                self.monitor = _client("in", api, f"{client}-monitor")
                self.monitor.ignore_types(sysex=True, timing=True, active_sense=False)
                before = set(self.monitor.get_ports())
            self.midi = _client("out", api, client)
            if port is not None:
                names = self.midi.get_ports()
                index = find(names, port, "output port")
                if index is None:
                    raise PortNotFound(f"no output port matches {port!r} "
                                       f"(ports: {', '.join(names) or 'none'})")
                self.name = names[index]
                self.midi.open_port(index, "out")
            else:
                self.name = f"{client}:{virtual or 'out'}"
                self.midi.open_virtual_port(virtual or "out")
            if self.monitor is not None:
                self._listen_to_self(before, virtual or "out")
        except Exception:
            self.close()
            raise

    def _listen_to_self(self, before: set[str], port_name: str) -> None:
        names = self.monitor.get_ports()
        ours = [i for i, name in enumerate(names)
                if name not in before and name.endswith(f":{port_name}")]
        if len(ours) != 1:
            raise OSError("cannot find our own JACK port to watch it")
        self.monitor.open_port(ours[0], "monitor")

    def send(self, data: bytes) -> None:
        self.midi.send_message(data)

    def healthy(self, now: float) -> bool:
        if self.monitor is not None:
            while self.monitor.get_message() is not None:
                self._heard = now
            if not self._heard:
                self._heard = now  # count from the first check
            if now - self._beat >= HEARTBEAT_EVERY:
                self._beat = now
                self.send(ACTIVE_SENSING)
            if now - self._heard > HEARTBEAT_LOST:
                self.lost = True
                return False
        if self.target is not None:
            return self.name in self.midi.get_ports()
        return True

    def close(self) -> None:
        for client in (self.midi, self.monitor):
            if client is not None:
                client.close_port()
                client.delete()

    def release(self) -> None:
        """Give the port up: close it, unless its server is gone (then never touch it)."""
        if not self.lost:
            self.close()
            return
        for client in (self.midi, self.monitor):
            if client is not None:
                _abandon(client)


class Input:
    """One open input port, read by polling (`pending`), so no Python code runs
    in the MIDI API's own (possibly realtime) thread."""

    def __init__(self, api: str, client: str, port: str) -> None:
        self.midi = _client("in", api, client)
        names = self.midi.get_ports()
        index = find(names, port, "input port")
        if index is None:
            self.midi.delete()
            raise AbcgenError(f"no input port matches {port!r} "
                              f"(ports: {', '.join(names) or 'none'})")
        self.name = names[index]
        self.midi.ignore_types(sysex=False, timing=False, active_sense=False)
        self.midi.open_port(index, "in")
        self._delta = 0.0

    def pending(self) -> Iterator[tuple[bytes, float]]:
        """Messages received since the last call, each with the seconds since the one before.

        Nothing is filtered inside rtmidi: its time deltas would skip what it drops."""
        while (event := self.midi.get_message()) is not None:
            message, step = event
            self._delta += step
            if message[0] not in (0xF0, 0xFE):
                yield bytes(message), self._delta
                self._delta = 0.0

    def close(self) -> None:
        self.midi.close_port()
        self.midi.delete()


def open_output(choice: str, port: str | None = None, virtual: str | None = None,
                client: str = "abcgen-live") -> Output:
    """The first API (of `choice`) on which the port opens; AbcgenError if none."""
    errors, missing = [], []
    for api in apis(choice):
        try:
            return Output(api, client, port, virtual)
        except PortNotFound as err:
            missing.append(f"{api}: {err}")
        except OSError as err:
            errors.append(f"{api}: {err}" if not str(err).startswith(api) else str(err))
    if missing:
        raise AbcgenError(f"{'; '.join(missing)}; --list-ports lists them")
    raise AbcgenError(_no_api(choice, errors))


def open_input(choice: str, port: str, client: str = "abcgen-live-in") -> Input:
    errors = []
    for api in apis(choice):
        try:
            return Input(api, client, port)
        except OSError as err:
            errors.append(str(err))
    raise AbcgenError(_no_api(choice, errors))
