"""Tune -> sound (.wav, .flac, .ogg): our own MIDI played by FluidSynth through a
General MIDI SoundFont.

FluidSynth (pyfluidsynth, over the system's libfluidsynth) rather than
TinySoundFont: the `tinysoundfont` package requires PyAudio, which has no Linux
wheel and builds against PortAudio's headers, while pyfluidsynth is plain
Python over the reference SoundFont synthesiser, the same one the live tests
already play through. The MIDI is played offline, message by message, so the
sound follows our file exactly and renders far faster than real time.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import io
import os
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import mido
import numpy as np

from abcgen.runtime.abc.events import Tune
from abcgen.runtime.abc.limits import check_seconds
from abcgen.runtime.atomic import write_atomic
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.formats.extra import EXTRA, require
from abcgen.runtime.formats.midi import tune_to_midi

RATE = 44100
TAIL = 1.5  # seconds after the last note_off, for the release and the reverb
PEAK = 0.89  # loudest sample after normalising (-1 dBFS)
BLOCK = 4096  # frames per call into the synthesiser
FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}  # suffix -> libsndfile format
LIBRARY_HINT = ("audio needs the FluidSynth library: apt install fluidsynth (Debian/Ubuntu), "
                "brew install fluid-synth (macOS), or FluidSynth's Windows build on PATH")


def _fluidsynth():
    if importlib.util.find_spec("fluidsynth") is None:
        raise AbcgenError(f"audio needs pyfluidsynth: {EXTRA}")
    try:
        # pyfluidsynth prints where it found the library when CI is set: keep stdout clean.
        with contextlib.redirect_stdout(io.StringIO()):
            import fluidsynth
    except (ImportError, OSError):
        raise AbcgenError(LIBRARY_HINT) from None
    return fluidsynth


def check_audio(path: Path) -> None:
    """Fail before any work when `path`'s format cannot be written here."""
    _fluidsynth()
    if path.suffix.lower() != ".wav":
        require("soundfile", f"{path.suffix} audio")


def _write_float(fluidsynth):
    """fluid_synth_write_float, which pyfluidsynth leaves out: float frames can be
    normalised without clipping."""
    c = ctypes
    return fluidsynth.cfunc(
        "fluid_synth_write_float", c.c_int, ("synth", c.c_void_p, 1), ("len", c.c_int, 1),
        ("lout", c.c_void_p, 1), ("loff", c.c_int, 1), ("lincr", c.c_int, 1),
        ("rout", c.c_void_p, 1), ("roff", c.c_int, 1), ("rincr", c.c_int, 1))


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """FluidSynth and the libraries under it print their complaints about a SoundFont
    to the process's stderr; ours say the same in one line."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def render_midi(midi: mido.MidiFile, soundfont: Path, rate: int = RATE) -> np.ndarray:
    """Stereo float32 frames, shape (n, 2), of `midi` played through `soundfont`."""
    fluidsynth = _fluidsynth()
    write_float = _write_float(fluidsynth)
    synth = fluidsynth.Synth(gain=0.5, samplerate=float(rate))
    try:
        with _quiet_stderr():
            font = synth.sfload(str(soundfont), update_midi_preset=1)
        if font == -1:
            raise AbcgenError(f"cannot load SoundFont {soundfont}: not a readable .sf2/.sf3")
        blocks: list[np.ndarray] = []

        def advance(frames: int) -> None:
            while frames > 0:
                n = min(frames, BLOCK)
                block = np.zeros((n, 2), np.float32)
                address = block.ctypes.data
                write_float(synth.synth, n, address, 0, 2, address, 1, 2)
                blocks.append(block)
                frames -= n

        now, done = 0.0, 0
        for msg in midi:  # merged tracks, times in seconds
            now += msg.time
            target = round(now * rate)
            advance(target - done)
            done = max(done, target)
            if msg.type == "note_on" and msg.velocity:
                synth.noteon(msg.channel, msg.note, msg.velocity)
            elif msg.type in ("note_on", "note_off"):
                synth.noteoff(msg.channel, msg.note)
            elif msg.type == "program_change":
                synth.program_change(msg.channel, msg.program)
            elif msg.type == "control_change":
                synth.cc(msg.channel, msg.control, msg.value)
        advance(round(TAIL * rate))
    finally:
        synth.delete()
    return np.concatenate(blocks) if blocks else np.zeros((0, 2), np.float32)


def encode(frames: np.ndarray, suffix: str, rate: int = RATE) -> bytes:
    """`frames` normalised to PEAK, as a .wav, .flac or .ogg file's bytes."""
    peak = float(np.abs(frames).max(initial=0.0))
    scaled = frames * (PEAK / peak) if peak > 0 else frames
    pcm = np.round(scaled * 32767).astype("<i2")
    buffer = io.BytesIO()
    if suffix == ".wav":  # the standard library's writer: WAV needs no extra package
        with wave.open(buffer, "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(pcm.tobytes())
    else:
        soundfile = require("soundfile", f"{suffix} audio")
        with soundfile.SoundFile(buffer, "w", rate, 2, format=FORMATS[suffix]) as out:
            # in small writes: libvorbis puts a whole write's frames on the stack and
            # overflows it on a long tune (libsndfile issue 1095)
            for start in range(0, len(pcm), BLOCK):
                out.write(pcm[start:start + BLOCK])
    return buffer.getvalue()


def write_audio(
    tune: Tune,
    path: str | os.PathLike[str],
    *,
    soundfont: Path,
    bpm: float | None = None,
    program: int = 0,
    chords: bool = False,
) -> None:
    """The tune's MIDI (as `formats.midi` writes it) rendered to `path`, in the format
    its suffix names, atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise AbcgenError(f"cannot write audio as {suffix or '(no suffix)'}: use .wav, .flac or "
                          ".ogg")
    midi = tune_to_midi(tune, bpm=bpm, program=program, chords=chords)
    check_seconds(midi.length)  # the frames are held in memory: bounded before they are made
    write_atomic(path, encode(render_midi(midi, soundfont), suffix))
