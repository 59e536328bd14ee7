"""Playback: timed MIDI messages out to a port, on absolute deadlines.

The only module that reads the clock playback runs by and waits on it: the
timings of a live session (how far ahead the composer writes, how soon the
first note sounds, how input messages are timed) are here, and the session
only asks. The clock is injected into `Scheduler` (`now`, `wait`), as mido's
playback takes `now=`, so scheduling is tested without sleeping. Messages
stand at positions in whole notes; a `Timeline` maps positions to seconds, so
every deadline is computed from one anchor (per-note sleeps drift) and a tempo
change, or an external MIDI clock, just re-anchors it. Ports are opened by
ports.py and written only through `Player`, which keeps every note_on paired
with a note_off whatever happens to the port; `Scheduler` is the sending loop.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from abcgen.runtime.live.recording import Recorder

LEAD = 0.02  # seconds from the arrival of the first bar to its first note
NEXT_LEAD = 0.15  # seconds from "next tune" to the first note of the next
LOOKAHEAD = 2.0  # seconds of music the composer keeps ready
INPUT_POLL = 0.005  # seconds between reads of the control and clock inputs
STALE_INPUT = 0.05  # an input message computed to be older than this is timed "now"
TICKS_PER_QUARTER = 24  # MIDI clock
CLOCK, START, CONTINUE, STOP = 0xF8, 0xFA, 0xFB, 0xFC
ALL_SOUND_OFF, ALL_NOTES_OFF = 120, 123


def realtime_priority(priority: int = 20) -> bool:
    """Try to run the calling thread at realtime (FIFO) priority, below JACK's own.

    On a busy machine a normally scheduled sender wakes milliseconds late; a
    realtime one preempts ordinary work. It only ever sleeps until a deadline,
    so it cannot starve the machine. False where the system does not allow it.
    """
    if not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError:
        return False
    return True


def keep_ahead(ahead: Callable[[], float], dropped: Callable[[], bool]) -> bool:
    """Wait while the music written is more than LOOKAHEAD seconds (`ahead()`) ahead
    of the music played; False as soon as `dropped()` says to stop writing it."""
    while ahead() > LOOKAHEAD:
        if dropped():
            return False
        time.sleep(0.02)
    return not dropped()


class InputTimes:
    """When each input's messages arrived: the API's time since the input's previous
    message (exact even when read late), resynchronised to now when that chain is
    lost or stale."""

    def __init__(self, inputs: int) -> None:
        self.last: list[float | None] = [None] * inputs

    def arrival(self, i: int, delta: float, now: float) -> float:
        last = self.last[i]
        t = now if last is None or last + delta < now - STALE_INPUT else min(last + delta, now)
        self.last[i] = t
        return t


def whole_note_seconds(bpm: float) -> float:
    """Seconds per whole note at `bpm` quarter notes per minute."""
    return 240.0 / bpm


class Timeline:
    """Position (whole notes) <-> time (seconds), anchored at one point.

    Paused (or not started yet) every deadline is infinite. `scale` stretches
    time (below 1 it compresses a session, for tests and soaks).
    """

    def __init__(self, bpm: float, scale: float = 1.0) -> None:
        self.scale = scale
        self.spw = whole_note_seconds(bpm) * scale
        self.t0 = math.inf
        self.p0 = 0.0

    @property
    def running(self) -> bool:
        return self.t0 != math.inf

    @property
    def bpm(self) -> float:
        return 240.0 * self.scale / self.spw

    def time_of(self, pos: float) -> float:
        return self.t0 + (pos - self.p0) * self.spw if self.running else math.inf

    def position(self, t: float) -> float:
        return self.p0 + (t - self.t0) / self.spw if self.running else self.p0

    def start(self, t: float, pos: float | None = None) -> None:
        self.p0 = self.p0 if pos is None else pos
        self.t0 = t

    def pause(self, t: float) -> None:
        self.p0 = self.position(t)
        self.t0 = math.inf

    def set_tempo(self, bpm: float, t: float) -> None:
        if self.running:
            self.p0, self.t0 = self.position(t), t
        self.spw = whole_note_seconds(bpm) * self.scale

    def anchor(self, t: float, pos: float, spw: float) -> None:
        """Follow an external clock: position `pos` is at time `t`, at `spw` s per whole note."""
        self.t0, self.p0, self.spw = t, pos, spw


class ClockFollower:
    """Drives a timeline from incoming MIDI clock (24 per quarter note) and
    Start, Continue and Stop. Each clock re-anchors the timeline; the tempo is
    the mean interval over the last quarter note's clocks."""

    def __init__(self, timeline: Timeline, on_stop: Callable[[float], None]) -> None:
        self.timeline, self.on_stop = timeline, on_stop
        self.running = False
        self.times: deque[float] = deque(maxlen=TICKS_PER_QUARTER + 1)
        self.base = 0.0  # position of the first clock after Start or Continue
        self.count = -1

    def receive(self, status: int, t: float) -> None:
        if status in (START, CONTINUE):
            self.running, self.base, self.count = True, self.timeline.position(t), -1
            self.times.clear()
        elif status == STOP and self.running:
            self.running = False
            self.timeline.pause(t)
            self.on_stop(t)
        elif status == CLOCK and self.running:
            self.count += 1
            self.times.append(t)
            spw = self.timeline.spw
            if len(self.times) > 1:
                spw = (self.times[-1] - self.times[0]) / (len(self.times) - 1) \
                    * 4 * TICKS_PER_QUARTER
            self.timeline.anchor(t, self.base + self.count / (4 * TICKS_PER_QUARTER), spw)


class Port(Protocol):
    """What `Player` needs from an open output (see `abcgen.runtime.live.ports`)."""

    def send(self, data: bytes) -> None: ...
    def healthy(self, now: float) -> bool: ...
    def close(self) -> None: ...
    def release(self) -> None: ...


class Player:
    """Sends to an output that may vanish, and keeps note_on and note_off paired.

    `connect()` opens the port (or raises OSError while it is unavailable).
    While the port is away messages are dropped and the connection is retried;
    after a reconnection only notes struck on the new connection are released,
    so the receiver never gets an orphan note_off nor keeps a stuck note.
    """

    def __init__(self, connect: Callable[[], Port], *, retry: float = 0.5,
                 recorder: Recorder | None = None,
                 on_change: Callable[[str], None] = lambda _: None) -> None:
        self.connect, self.retry, self.recorder = connect, retry, recorder
        self.on_change = on_change
        self.port: Port | None = None
        self.sounding: dict[tuple[int, int], int] = {}  # (channel, note) -> count
        self.channels: set[int] = set()
        self.sent = 0
        self._next_try = -math.inf
        self._status = ""

    def open(self, now: float) -> bool:
        if self.port is None and now >= self._next_try:
            try:
                self.port = self.connect()
            except OSError as err:
                self._next_try = now + self.retry
                self._report(f"output unavailable ({err}); retrying")
                return False
            self._report("output connected")
        return self.port is not None

    def send(self, data: bytes, now: float) -> None:
        if self.recorder is not None:
            self.recorder.add(now, data)
        status = data[0] & 0xF0
        if status in (0x80, 0x90):
            key = (data[0] & 0x0F, data[1])
            if status == 0x90 and data[2] > 0:
                if self.port is None:
                    return
                self.sounding[key] = self.sounding.get(key, 0) + 1
                self.channels.add(key[0])
            elif self.sounding.get(key, 0) > 0:  # a release of a note struck on this connection
                self.sounding[key] -= 1
                if not self.sounding[key]:
                    del self.sounding[key]
            else:
                return
        elif data[0] < 0xF0:
            self.channels.add(data[0] & 0x0F)
        self._write(data, now)

    def silence(self, now: float) -> None:
        """Release every sounding note, then All Notes Off and All Sound Off on every
        channel used: the first for receivers that ignore the controllers, the
        controllers for receivers that lost a note_off."""
        for (channel, note), count in sorted(self.sounding.items()):
            for _ in range(count):
                self._write(bytes([0x80 | channel, note, 0]), now)
        self.sounding.clear()
        for channel in sorted(self.channels):
            self._write(bytes([0xB0 | channel, ALL_NOTES_OFF, 0]), now)
            self._write(bytes([0xB0 | channel, ALL_SOUND_OFF, 0]), now)

    def check(self, now: float) -> None:
        """Notice a vanished port (and drop it), or retry opening one; write the recording."""
        if self.port is not None and not self.port.healthy(now):
            self.port.release()
            self._lost(now, "output lost; retrying")
        self.open(now)
        if self.recorder is not None:
            self.recorder.flush()

    def close(self, now: float) -> None:
        if self.port is not None:
            self.silence(now)
            self.port.close()  # closing flushes what is still queued in the port
            self.port = None
        if self.recorder is not None:
            self.recorder.close()

    def _write(self, data: bytes, now: float) -> None:
        if self.port is None:
            return
        try:
            self.port.send(data)
            self.sent += 1
        except OSError as err:
            self.port.release()
            self._lost(now, f"output failed ({err}); retrying")

    def _lost(self, now: float, why: str) -> None:
        self.port = None
        self.sounding.clear()
        self.channels.clear()
        self._next_try = now + self.retry
        self._report(why)

    def _report(self, status: str) -> None:
        if status != self._status:  # once per change, not once per retry
            self._status = status
            self.on_change(status)


# Items at one position go out in this order: releases first, so a repeated
# pitch is struck again rather than cut, then everything else, then strikes.
RANK_OFF, RANK_OTHER, RANK_ON = 0, 1, 2
Data = bytes | float | str  # a MIDI message, a tempo (quarter notes per minute), or a marker


def rank(data: Data) -> int:
    if isinstance(data, bytes):
        status = data[0] & 0xF0
        if status == 0x80 or (status == 0x90 and data[2] == 0):
            return RANK_OFF
        if status == 0x90:
            return RANK_ON
    return RANK_OTHER


class Scheduler:
    """Sends each item when the timeline reaches its position.

    `wait(timeout)` blocks for at most `timeout` seconds and may return early
    (the daemon returns when new items or control messages arrive); `now()`
    is the clock (time.monotonic unless a test injects one). With `clock_master`
    it sends 24 MIDI clocks per quarter note from position 0, interleaved with
    the music. Items are tagged with an
    epoch; `drop(epoch)` discards every queued item of older epochs. A marker
    (a string) is handed to `on_marker` when its time comes.
    """

    def __init__(self, player: Player, timeline: Timeline, *, wait: Callable[[float], None],
                 now: Callable[[], float] = time.monotonic, clock_master: bool = False,
                 check_every: float = 0.1, follow_tempo: bool = True,
                 on_marker: Callable[[str], None] = lambda _: None) -> None:
        self.player, self.timeline, self.now, self.wait = player, timeline, now, wait
        self.on_marker = on_marker
        self.clock_master, self.check_every = clock_master, check_every
        self.follow_tempo = follow_tempo  # False once the user set the tempo by hand
        self.queue: list[tuple[float, int, int, int, Data]] = []
        self.epoch = 0
        self.ticks = 0  # MIDI clocks sent
        self.late_max = 0.0  # the most seconds a message went out after its deadline
        self._seq = itertools.count()
        self._next_check = -math.inf

    def add(self, items: Iterable[tuple[float, Data]], epoch: int = 0) -> None:
        if epoch < self.epoch:
            return
        for pos, data in items:
            heapq.heappush(self.queue, (pos, rank(data), next(self._seq), epoch, data))

    def drop(self, epoch: int) -> None:
        """Forget queued items of epochs before `epoch` (the daemon's "next tune")."""
        self.epoch = max(self.epoch, epoch)
        self.queue = [item for item in self.queue if item[3] >= self.epoch]
        heapq.heapify(self.queue)

    def next_position(self) -> float:
        pos = self.queue[0][0] if self.queue else math.inf
        if self.clock_master:
            pos = min(pos, self.ticks / (4 * TICKS_PER_QUARTER))
        return pos

    def step(self) -> None:
        """Send what is due, or wait until it is (or until something else happens)."""
        now = self.now()
        if now >= self._next_check:
            self._next_check = now + self.check_every
            self.player.check(now)
        deadline = self.timeline.time_of(self.next_position())
        if deadline > now:
            self.wait(min(deadline, self._next_check) - now)
            return
        self.late_max = max(self.late_max, now - deadline)
        if self.clock_master and self.ticks / (4 * TICKS_PER_QUARTER) <= (
                self.queue[0][0] if self.queue else math.inf):
            self.player.send(bytes([START if self.ticks == 0 else CLOCK]), now)
            if self.ticks == 0:
                self.player.send(bytes([CLOCK]), now)
            self.ticks += 1
            return
        _, _, _, _, data = heapq.heappop(self.queue)
        if isinstance(data, bytes):
            self.player.send(data, now)
        elif isinstance(data, str):
            self.on_marker(data)
        elif self.follow_tempo:
            self.timeline.set_tempo(data, deadline)

    def run(self, keep_going: Callable[[], bool]) -> None:
        while keep_going():
            self.step()

    def finish(self) -> None:
        """Silence, stop the clock, close: the way out after a signal or the last tune."""
        now = self.now()
        if self.clock_master and self.ticks:
            self.player.send(bytes([STOP]), now)
        self.player.close(now)
