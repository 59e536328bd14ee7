"""Notes found again in rendered sound, with numpy alone: onsets where the
spectrum's energy rises (spectral flux), pitches from the harmonics that a note
adds to the spectrum, and the pitch that sounds loudest at each moment. Made for
one melody line, as `abcgen` renders a tune.

Onsets need notes that strike (a piano). A bowed violin swells into each note over
a quarter of a second, with vibrato: in a reel its notes run together and no
onset stands out (FluidR3_GM's violin, as FluidSynth itself plays our MIDI), so
such notes are judged by the pitch that holds while they sound (`pitch_track`)."""

from __future__ import annotations

import numpy as np

WINDOW = 2048
HOP = 256


def mono(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float64).mean(axis=1) if frames.ndim == 2 else frames.astype(float)


def _spectra(signal: np.ndarray) -> np.ndarray:
    """Magnitude spectra of windows HOP samples apart, window i centred on sample
    i * HOP - WINDOW / 2 of the signal."""
    peak = np.abs(signal).max(initial=0.0)
    signal = signal / peak if peak > 0 else signal  # the same loudness whatever the file's
    signal = np.concatenate([np.zeros(WINDOW), signal])  # a note at 0 s rises from silence
    count = 1 + (len(signal) - WINDOW) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(signal, WINDOW)[::HOP][:count]
    return np.abs(np.fft.rfft(frames * np.hanning(WINDOW), axis=1))


def onsets(signal: np.ndarray, rate: int, *, gap: float = 0.07) -> np.ndarray:
    """Times (s) where the log-magnitude spectrum rises most, at least `gap` apart."""
    spectrum = np.log1p(100 * _spectra(signal))
    flux = np.maximum(spectrum[1:] - spectrum[:-1], 0).sum(axis=1)
    flux = np.concatenate([[0.0], flux])
    # a peak stands well above its surroundings' median and is the largest near it
    near = max(1, round(gap * rate / HOP))
    padded = np.pad(flux, near, mode="edge")
    local = np.lib.stride_tricks.sliding_window_view(padded, 2 * near + 1)
    threshold = np.median(local, axis=1) + 0.3 * np.percentile(flux, 95)
    peaks = [i for i in range(len(flux))
             if flux[i] >= threshold[i] and flux[i] == local[i].max() and flux[i] > 0]
    # a frame's window starts HOP * i samples in; the energy it gains is a note whose
    # start lies near the window's middle
    return np.array([(i * HOP - WINDOW / 2) / rate for i in peaks])


def pitch_at(signal: np.ndarray, rate: int, start: float, end: float,
             low: int = 36, high: int = 100) -> int:
    """MIDI pitch of the note starting at `start`: the candidate whose harmonics gained
    the most energy against the sound just before the onset."""
    length = max(0.04, min(end - start - 0.02, 0.15))
    n = round(length * rate)
    after = signal[round((start + 0.02) * rate):][:n]
    stop = round((start - 0.01) * rate)
    before = signal[max(0, stop - n):max(0, stop)]  # silence before the first note
    size = 1 << 16
    window = np.hanning(n)
    gain = np.maximum(_magnitude(after, window, size) - _magnitude(before, window, size), 0)
    freqs = np.fft.rfftfreq(size, 1 / rate)
    best, score = low, -1.0
    for midi in range(low, high + 1):
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        total = 0.0
        for h in range(1, 7):
            if h * f0 >= freqs[-1]:
                break
            # the strongest bin within a quarter tone of the harmonic
            lo, hi = np.searchsorted(freqs, [h * f0 * 2 ** (-1 / 24), h * f0 * 2 ** (1 / 24)])
            total += gain[lo:hi + 1].max(initial=0.0) / h
        if total > score:
            best, score = midi, total
    return best


def _magnitude(chunk: np.ndarray, window: np.ndarray, size: int) -> np.ndarray:
    if len(chunk) < len(window):
        chunk = np.pad(chunk, (len(window) - len(chunk), 0))
    return np.abs(np.fft.rfft(chunk * window, size))


def notes(frames: np.ndarray, rate: int) -> list[tuple[float, int]]:
    """(onset in seconds, MIDI pitch) of each note heard."""
    signal = mono(frames)
    times = onsets(signal, rate)
    ends = [*times[1:], len(signal) / rate]
    return [(float(t), pitch_at(signal, rate, t, e)) for t, e in zip(times, ends, strict=True)]


HARMONICS = [round(12 * np.log2(h)) for h in range(1, 7)]  # semitones above the fundamental


def pitch_track(frames: np.ndarray, rate: int, low: int = 36, high: int = 96
                ) -> tuple[np.ndarray, np.ndarray]:
    """(times in seconds, MIDI pitch) of the pitch that sounds loudest in each window:
    the candidate whose first six harmonics, each the loudest bin within its semitone
    (so vibrato stays inside) on a log scale and weighted 1/h, add up to most."""
    spectra = _spectra(mono(frames))
    freqs = np.fft.rfftfreq(WINDOW, 1 / rate)
    semitones = np.arange(low, high + HARMONICS[-1] + 2) - 0.5  # band edges
    edges = np.searchsorted(freqs, 440.0 * 2 ** ((semitones - 69) / 12))
    edges = np.minimum(edges, len(freqs) - 1)
    # an empty band (below the bin spacing) takes the bin at its edge
    bands = np.log1p(10 * np.maximum.reduceat(spectra, edges, axis=1)[:, :-1])
    count = high - low + 1
    salience = sum(bands[:, h:h + count] / (i + 1) for i, h in enumerate(HARMONICS))
    times = (np.arange(len(spectra)) * HOP - WINDOW / 2) / rate
    return times, low + salience.argmax(axis=1)
