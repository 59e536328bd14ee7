"""`abcgen-live --record FILE.mid`: everything played, written while it is played.

A live session can run for hours and end by a crash, a power cut or SIGKILL, so
the recording cannot wait for a clean exit. It is a type-0 Standard MIDI File
whose one track grows in place: each flush appends the new events, then writes
the track's new length into its chunk header. A reader stops at that length,
so at every moment the file is a complete MIDI file of everything up to the
last flush (a crash between the two writes leaves the previous one, plus bytes
no reader looks at); the End of Track event is added at the end of a clean exit.
Rewriting the whole file atomically at each bar would also keep it whole, but at
a cost that grows with the session; an append costs the same in its tenth hour.

The file appears (atomically, replacing an older one) at the first flush, with
the MIDI header and the first events in it.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable
from pathlib import Path

from abcgen.runtime.atomic import check_target, file_mode, temporary
from abcgen.runtime.errors import AbcgenError

TICKS_PER_BEAT = 480
TICKS_PER_SECOND = 2 * TICKS_PER_BEAT  # at the file's tempo, 120 quarter notes per minute
LENGTH_AT = 18  # offset of the track chunk's length: after MThd (14 bytes) and b"MTrk"
END_OF_TRACK = b"\x00\xff\x2f\x00"


def variable_length(value: int) -> bytes:
    """A MIDI variable-length quantity (7 bits a byte, high bit: more follow)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _write_all(fd: int, data: bytes, offset: int) -> None:
    """pwrite all of `data`: a full disk may take part of it, then fail on the rest."""
    while data:
        n = os.pwrite(fd, data, offset)
        if n == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        data, offset = data[n:], offset + n


class Recorder:
    """Channel messages with the time they were played, flushed to `path`.

    `add` only buffers (it runs on the sender's clock); `flush` writes, and on a
    failure keeps the events for the next try and says why through `on_error`.
    """

    def __init__(self, path: Path, on_error: Callable[[str], None] = lambda _: None) -> None:
        self.path, self.on_error = Path(path), on_error
        self.pending = bytearray()
        self.start: float | None = None  # time of the first message: tick 0
        self.last = 0  # tick of the latest message buffered
        self.length = 0  # bytes of events in the file's track
        self.kept = 0  # tick of the latest message in the file
        self.fd: int | None = None
        self.created = False  # the file is in place
        self.failing = False
        self.error = ""  # why the latest write failed

    def add(self, t: float, data: bytes) -> None:
        if data[0] >= 0xF0:  # clock, start/stop and sensing are not music
            return
        if self.start is None:
            self.start = t
        tick = max(self.last, round((t - self.start) * TICKS_PER_SECOND))
        self.pending += variable_length(tick - self.last) + data
        self.last = tick

    def flush(self) -> None:
        """Append what was played since the last flush."""
        if not self.pending:
            return
        try:
            if self.fd is None:
                self.fd = self._create()
            _write_all(self.fd, bytes(self.pending), LENGTH_AT + 4 + self.length)
            os.pwrite(self.fd, struct.pack(">I", self.length + len(self.pending)), LENGTH_AT)
        except OSError as err:
            self.error = err.strerror or str(err)
            if not self.failing:
                self.on_error(f"cannot write the recording {self.path} ({err.strerror or err}); "
                              "keeping it in memory and retrying")
            self.failing = True
            return
        if self.failing:
            self.on_error(f"recording to {self.path} again")
        self.failing = False
        self.length += len(self.pending)
        self.kept = self.last
        self.pending.clear()

    def close(self) -> None:
        """Flush, end the track and sync: the file is then a complete SMF. When the
        disk is full, the file keeps what was written (its length field counts only
        that, so it stays a MIDI file that readers open) and AbcgenError says how much."""
        self.flush()
        try:
            if self.fd is None:
                self.fd = self._create()  # nothing was played: an empty recording
            _write_all(self.fd, END_OF_TRACK, LENGTH_AT + 4 + self.length)
            os.pwrite(self.fd, struct.pack(">I", self.length + len(END_OF_TRACK)), LENGTH_AT)
            os.fsync(self.fd)
        except OSError as err:
            self.error = err.strerror or str(err)
            self.pending += END_OF_TRACK  # not written: reported below
        finally:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
        if not self.pending:
            return
        if not self.created:
            raise AbcgenError(f"cannot write the recording {self.path} ({self.error}); "
                              "nothing of it could be kept")
        kept, lost = self.kept / TICKS_PER_SECOND, (self.last - self.kept) / TICKS_PER_SECOND
        raise AbcgenError(f"the recording {self.path} keeps the first {kept:.1f} s played; the "
                          f"{lost:.1f} s after could not be written ({self.error})")

    def _create(self) -> int:
        """A new file with the header and an empty track, moved into place."""
        check_target(self.path)
        header = (b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_BEAT)
                  + b"MTrk" + struct.pack(">I", 0))
        fd, tmp = temporary(self.path)
        try:
            os.write(fd, header)
            os.fchmod(fd, file_mode(self.path))
            os.replace(tmp, self.path)
            self.created = True
        except OSError:
            os.close(fd)
            Path(tmp).unlink(missing_ok=True)
            raise
        return fd
