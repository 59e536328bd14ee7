"""The scheduler, timeline and note bookkeeping, on an injected clock.

The clock is a parameter of the scheduler (as `now=` is of mido's playback), so
these tests run in no time and check exact deadlines. The port is a small real
class that records what reaches it, with a switch to make it vanish.
"""

from __future__ import annotations

import itertools
import math
import os

import mido
import pytest

from abcgen.runtime.live.playback import (
    CLOCK,
    LOOKAHEAD,
    STALE_INPUT,
    START,
    STOP,
    InputTimes,
    Player,
    Scheduler,
    Timeline,
    keep_ahead,
    whole_note_seconds,
)
from abcgen.runtime.live.recording import Recorder


class Clock:
    """Time that passes only when the scheduler waits."""

    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t

    def wait(self, timeout: float) -> None:
        assert timeout > 0
        self.t += timeout


class ListPort:
    """An output that keeps what it receives, and can disappear."""

    def __init__(self, clock: Clock, log: list) -> None:
        self.clock, self.log = clock, log
        self.present = True
        self.closed = False

    def send(self, data: bytes) -> None:
        self.log.append((self.clock.t, data))

    def healthy(self, now: float) -> bool:
        return self.present

    def close(self) -> None:
        self.closed = True

    def release(self) -> None:
        self.closed = True


class Rig:
    def __init__(self, bpm: float = 120.0, **scheduler_opts: object) -> None:
        self.clock = Clock()
        self.received: list[tuple[float, bytes]] = []
        self.available = True
        self.ports: list[ListPort] = []
        self.player = Player(self.connect, retry=0.5)
        self.timeline = Timeline(bpm)
        self.scheduler = Scheduler(self.player, self.timeline, now=self.clock.now,
                                   wait=self.clock.wait, **scheduler_opts)

    def connect(self) -> ListPort:
        if not self.available:
            raise OSError("not there")
        self.ports.append(ListPort(self.clock, self.received))
        return self.ports[-1]

    def run_until(self, t: float) -> None:
        self.scheduler.run(lambda: self.clock.t < t)


def on(note: int, channel: int = 0, velocity: int = 90) -> bytes:
    return bytes([0x90 | channel, note, velocity])


def off(note: int, channel: int = 0) -> bytes:
    return bytes([0x80 | channel, note, 0])


def test_messages_leave_at_their_deadlines():
    rig = Rig(bpm=90)
    items = [(k / 8, on(60 + k)) for k in range(16)] + [((k + 1) / 8, off(60 + k))
                                                         for k in range(16)]
    rig.scheduler.add(items)
    t0 = rig.clock.t + 0.05
    rig.timeline.start(t0)
    rig.run_until(t0 + 10)
    spw = whole_note_seconds(90)
    sent = {data: t for t, data in rig.received}
    assert len(sent) == 32
    for pos, data in items:
        assert sent[data] == pytest.approx(t0 + pos * spw, abs=1e-9)


def test_a_release_goes_out_before_a_strike_at_the_same_position():
    rig = Rig()
    rig.scheduler.add([(0.25, on(62)), (0.0, on(62)), (0.25, off(62))])
    rig.timeline.start(rig.clock.t)
    rig.run_until(rig.clock.t + 2)
    assert [d for _, d in rig.received] == [on(62), off(62), on(62)]


def test_tempo_change_reanchors_without_drift():
    rig = Rig(bpm=120)
    rig.scheduler.add([(k / 4, on(60)) for k in range(8)] + [(k / 4 + 0.1, off(60))
                                                             for k in range(8)])
    rig.scheduler.add([(1.0, 60.0)])  # from bar 2 on, half the speed
    t0 = rig.clock.t
    rig.timeline.start(t0)
    rig.run_until(t0 + 20)
    onsets = [t for t, d in rig.received if d == on(60)]
    fast, slow = whole_note_seconds(120), whole_note_seconds(60)
    expected = [t0 + k / 4 * fast if k < 4 else t0 + fast + (k - 4) / 4 * slow for k in range(8)]
    assert onsets == pytest.approx(expected, abs=1e-9)


def test_tempo_of_the_tune_is_ignored_once_the_user_set_one():
    rig = Rig(bpm=100, follow_tempo=False)
    rig.scheduler.add([(0.5, 200.0), (1.0, on(60)), (1.25, off(60))])
    t0 = rig.clock.t
    rig.timeline.start(t0)
    rig.run_until(t0 + 5)
    assert rig.received[0][0] == pytest.approx(t0 + whole_note_seconds(100))


def test_clock_master_sends_24_clocks_per_quarter_after_start():
    bpm = 132.0
    rig = Rig(bpm=bpm, clock_master=True)
    rig.scheduler.add([(0.0, on(60)), (2.0, off(60))])
    t0 = rig.clock.t
    rig.timeline.start(t0)
    rig.run_until(t0 + 3)
    rig.scheduler.finish()
    kinds = [d[0] for _, d in rig.received]
    assert kinds[0] == START
    assert kinds.count(STOP) == 1
    assert CLOCK not in kinds[kinds.index(STOP):]
    clocks = [t for t, d in rig.received if d[0] == CLOCK]
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(clocks)}
    assert gaps == {round(60 / bpm / 24, 9)}
    assert len(clocks) == math.floor(3 / (60 / bpm / 24)) + 1


def test_time_scale_compresses_every_deadline():
    rig = Rig(bpm=120)
    rig.timeline = rig.scheduler.timeline = Timeline(120, scale=0.1)
    rig.scheduler.add([(1.0, on(60)), (2.0, off(60))])
    t0 = rig.clock.t
    rig.timeline.start(t0)
    rig.run_until(t0 + 1)
    assert [t - t0 for t, _ in rig.received] == pytest.approx([0.2, 0.4])


def test_silence_releases_sounding_notes_then_both_controllers_on_used_channels():
    rig = Rig()
    rig.scheduler.add([(0.0, on(60)), (0.0, on(64, channel=3)), (0.1, off(60)),
                       (0.2, on(67)), (5.0, off(67)), (5.0, off(64, channel=3))])
    rig.timeline.start(rig.clock.t)
    rig.run_until(rig.clock.t + 1)
    rig.scheduler.finish()
    tail = [d for _, d in rig.received][4:]
    assert set(tail[:2]) == {off(64, channel=3), off(67)}
    assert tail[2:] == [bytes([0xB0, 123, 0]), bytes([0xB0, 120, 0]),
                        bytes([0xB3, 123, 0]), bytes([0xB3, 120, 0])]
    assert rig.ports[0].closed


def test_a_vanished_port_is_retried_and_no_note_is_left_unpaired():
    rig = Rig()
    # a note every eighth, each held for a sixteenth, for 4 bars
    rig.scheduler.add([(k / 8, on(60 + k % 12)) for k in range(32)]
                      + [(k / 8 + 1 / 16, off(60 + k % 12)) for k in range(32)])
    spw = whole_note_seconds(120)
    t0 = rig.clock.t
    rig.timeline.start(t0)
    rig.run_until(t0 + 1 / 8 * spw * 5 + 0.01)  # mid-note: the sixth note is sounding
    rig.ports[0].present = False
    rig.available = False
    rig.run_until(t0 + 3)
    assert len(rig.ports) == 1
    rig.available = True
    rig.run_until(t0 + 10)
    rig.scheduler.finish()
    assert len(rig.ports) == 2
    by_port: list[list[bytes]] = [[], []]
    for t, data in rig.received:
        by_port[t > t0 + 3].append(data)
    ons, offs = ([d[1] for d in by_port[0] if d[0] == status] for status in (0x90, 0x80))
    assert sorted(ons) == sorted([*offs, 60 + 5])  # only the note sounding as it vanished
    ons, offs = ([d[1] for d in by_port[1] if d[0] == status] for status in (0x90, 0x80))
    assert ons and sorted(ons) == sorted(offs)
    # the second connection picked the music up where the timeline was, not from the start
    first_new = next(t for t, d in rig.received if t > t0 + 3 and d[0] == 0x90)
    assert first_new < t0 + 3 + 0.5 + spw / 8


def test_drop_forgets_older_epochs_and_ignores_late_arrivals():
    rig = Rig()
    rig.scheduler.add([(1.0, on(60)), (1.5, off(60))], epoch=0)
    rig.scheduler.drop(1)
    rig.scheduler.add([(1.2, on(61))], epoch=0)
    rig.scheduler.add([(1.1, on(62)), (1.3, off(62))], epoch=1)
    rig.timeline.start(rig.clock.t)
    rig.run_until(rig.clock.t + 5)
    assert [d for _, d in rig.received] == [on(62), off(62)]


def test_timeline_pauses_and_follows_an_external_anchor():
    line = Timeline(120)
    assert line.time_of(1.0) == math.inf
    line.start(10.0, pos=2.0)
    assert line.time_of(3.0) == pytest.approx(12.0)
    line.pause(11.0)
    assert line.position(50.0) == pytest.approx(2.5)
    assert line.time_of(3.0) == math.inf
    line.anchor(20.0, 2.5, 4.0)
    assert line.time_of(3.0) == pytest.approx(22.0)
    assert line.bpm == pytest.approx(60.0)


def test_recorder_writes_what_was_played_with_its_timing(tmp_path):
    rig = Rig(bpm=120)
    rig.player.recorder = Recorder(tmp_path / "take.mid")
    rig.scheduler.add([(0.0, on(60)), (0.25, off(60)), (0.5, on(67)), (1.0, off(67))])
    rig.timeline.start(rig.clock.t)
    rig.run_until(rig.clock.t + 3)
    rig.scheduler.finish()
    midi = mido.MidiFile(tmp_path / "take.mid")
    notes = [(round(msg.time, 6), msg.type, msg.note) for msg in midi
             if msg.type in ("note_on", "note_off")]
    spw = whole_note_seconds(120)
    assert [n[2] for n in notes] == [60, 60, 67, 67]
    assert [t for t, _, _ in notes] == pytest.approx([0, spw / 4, spw / 4, spw / 2], abs=1e-3)


def test_a_recording_is_a_whole_midi_file_at_every_flush(tmp_path):
    """What a crash or SIGKILL leaves: every event up to the last flush, readable as is."""
    path = tmp_path / "take.mid"
    path.write_bytes(b"an older take")
    recorder = Recorder(path)
    recorder.add(10.0, on(60))
    assert path.read_bytes() == b"an older take"  # nothing written between flushes
    recorder.add(10.5, off(60))
    recorder.add(10.5, bytes([0xF8]))  # a clock: not music, not recorded
    recorder.flush()
    for k in range(1, 4):
        recorder.add(10.5 + k, on(60 + k))
        recorder.add(11.0 + k, off(60 + k))
        recorder.flush()
        midi = mido.MidiFile(path)  # as a reader finds it now, without End of Track
        assert [m.note for m in midi if m.type == "note_on"] == [60 + i for i in range(k + 1)]
        assert midi.length == pytest.approx(1.0 + k, abs=1e-3)
    recorder.add(20.0, on(70))  # played after the last flush: the only thing a crash loses
    recorder.close()
    midi = mido.MidiFile(path)
    assert [m.note for m in midi if m.type == "note_on"][-1] == 70
    assert midi.tracks[0][-1].type == "end_of_track"


def test_a_recording_that_cannot_be_written_is_kept_and_retried(tmp_path):
    said = []
    recorder = Recorder(tmp_path / "take.mid", on_error=said.append)
    recorder.add(0.0, on(60))
    recorder.flush()
    good = recorder.fd
    recorder.fd = os.open("/dev/full", os.O_WRONLY)  # a full disk: every write fails
    for k in range(3):
        recorder.add(1.0 + k, on(61 + k))
        recorder.flush()
    assert len(said) == 1 and "cannot write the recording" in said[0]
    os.close(recorder.fd)
    recorder.fd = good  # space again
    recorder.close()
    assert "again" in said[-1]
    notes = [m.note for m in mido.MidiFile(tmp_path / "take.mid") if m.type == "note_on"]
    assert notes == [60, 61, 62, 63]


def test_input_messages_are_timed_by_the_api_and_resynchronised_when_stale():
    times = InputTimes(2)
    assert times.arrival(0, 0.0, now=10.0) == 10.0  # the first one: now
    assert times.arrival(0, 0.02, now=10.03) == pytest.approx(10.02)  # read late: exact
    assert times.arrival(0, 0.5, now=10.1) == 10.1  # never in the future
    late = 10.1 + 0.01 + STALE_INPUT + 0.01
    assert times.arrival(0, 0.01, now=late) == late  # the chain is stale: now
    assert times.arrival(1, 0.3, now=11.0) == 11.0  # each input has its own chain


def test_the_composer_waits_while_it_is_far_enough_ahead():
    ahead = iter([LOOKAHEAD + 1, LOOKAHEAD + 0.5, LOOKAHEAD - 0.1])
    assert keep_ahead(lambda: next(ahead), lambda: False)
    assert next(ahead, None) is None  # asked until it was close enough
    assert not keep_ahead(lambda: LOOKAHEAD + 1, lambda: True)  # "next tune": drop it
    assert not keep_ahead(lambda: 0.0, lambda: True)
