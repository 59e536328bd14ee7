"""Audio: tunes played by real FluidSynth through each General MIDI SoundFont
installed, checked as sound. The notes are found again in the signal and compared
with the notes of our MIDI file, within tolerances: struck notes by their onsets
(where the spectrum gains energy) and pitches (the harmonics a note adds), every
note by the pitch that sounds loudest while it is held."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import mido
import numpy as np
import pytest
import sound
from cli import run
from test_musicxml import corpus_tune
from test_svg import FEATURES
from without import abcgen_without

from abcgen.runtime.abc.parser import parse
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.formats.audio import TAIL
from abcgen.runtime.formats.midi import tune_to_midi
from abcgen.runtime.formats.soundfonts import PREFERRED, SUFFIXES, find_soundfont, search_folders


def _system_soundfont() -> Path | None:
    try:
        return find_soundfont()
    except AbcgenError:
        return None


def _general_midi_soundfonts() -> list[Path]:
    """Every full General MIDI set installed (the names `find_soundfont` prefers), once."""
    known = {name.lower() for name in PREFERRED}
    found = [p for folder in search_folders() if folder.is_dir() for p in sorted(folder.iterdir())
             if p.suffix.lower() in SUFFIXES and p.name.lower() in known and p.is_file()]
    return list({p.resolve(): p.resolve() for p in found}.values())


SOUNDFONT = _system_soundfont()
SOUNDFONTS = _general_midi_soundfonts()
pytestmark = pytest.mark.skipif(SOUNDFONT is None, reason="needs a General MIDI SoundFont "
                                 "(apt install fluid-soundfont-gm timgm6mb-soundfont)")
# An .sf3 is compressed: FluidSynth decompresses the whole set on every load (about 5 s
# for MuseScore's), so those run with the long tests.
each_soundfont = pytest.mark.parametrize("soundfont", [
    pytest.param(p, id=p.stem, marks=pytest.mark.slow if p.suffix == ".sf3" else ())
    for p in SOUNDFONTS])
ONSET_TOLERANCE = 0.03  # seconds
LONG_NOTES = "X:1\nT:Long notes\nM:4/4\nL:1/4\nK:C\nC4|E4|G4|c4|]\n"


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2 and w.getsampwidth() == 2
        frames = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
        return frames.astype(np.float64) / 32768, w.getframerate()


def played(midi: mido.MidiFile) -> list[tuple[float, int]]:
    """(seconds, MIDI pitch) of every note our MIDI file strikes."""
    return [(start, pitch) for start, _, pitch in held(midi)]


def held(midi: mido.MidiFile) -> list[tuple[float, float, int]]:
    """(start, end in seconds, MIDI pitch) of every note our MIDI file plays."""
    now, sounding, notes = 0.0, {}, []
    for msg in midi:
        now += msg.time
        if msg.type == "note_on" and msg.velocity:
            sounding[msg.note] = now
        elif msg.type in ("note_on", "note_off") and msg.note in sounding:
            notes.append((sounding.pop(msg.note), now, msg.note))
    return sorted(notes)


def heard_held(notes: list[tuple[float, float, int]], frames: np.ndarray, rate: int) -> float:
    """The share of notes whose pitch sounds loudest through most of their second half
    (the first half may still ring with the note before, or swell into this one)."""
    times, pitches = sound.pitch_track(frames, rate)
    heard = [np.mean(pitches[(times >= (start + end) / 2) & (times < end)] == pitch) > 0.5
             for start, end, pitch in notes]
    return sum(heard) / len(notes)


def match(expected: list[tuple[float, int]], heard: list[tuple[float, int]]) -> dict:
    """Pair each expected note with the nearest unused heard onset within tolerance."""
    used: set[int] = set()
    pairs = []
    for t, pitch in expected:
        near = [i for i, (h, _) in enumerate(heard)
                if abs(h - t) <= ONSET_TOLERANCE and i not in used]
        if near:
            i = min(near, key=lambda i: abs(heard[i][0] - t))
            used.add(i)
            pairs.append((pitch, heard[i][1]))
    return {"found": len(pairs) / len(expected), "extra": len(heard) - len(pairs),
            "pitch_right": sum(a == b for a, b in pairs) / max(1, len(pairs))}


def convert(tmp_path: Path, text: str, name: str, *args: str, capsys) -> Path:
    source = tmp_path / f"{Path(name).stem}.abc"
    source.write_text(text)
    code, _, err = run(["convert", str(source), "-o", str(tmp_path / name), *args], capsys)
    assert code == 0, err
    return tmp_path / name


def tune_text(tune: str) -> str:
    return FEATURES if tune == "features" else corpus_tune("ryansMammoth/AllTheRageReel.abc#1")


@each_soundfont
@pytest.mark.parametrize(("tune", "program"), [("features", 0), ("AllTheRageReel", 40)])
def test_the_synth_plays_the_notes_of_the_tune(tune, program, soundfont, tmp_path, capsys):
    """Program 40, a violin, swells into each note: judged by pitch, not by onsets."""
    text = tune_text(tune)
    path = convert(tmp_path, text, "tune.wav", "--program", str(program),
                   "--soundfont", str(soundfont), capsys=capsys)
    frames, rate = read_wav(path)
    midi = tune_to_midi(parse(text), program=program)
    assert len(frames) / rate == pytest.approx(midi.length + TAIL, abs=0.01)
    expected = held(midi)
    # repeats are played: more notes sound than are written
    assert len(expected) > len([n for n in parse(text).notes if n.pitch])
    assert heard_held(expected, frames, rate) >= 0.95


@each_soundfont
@pytest.mark.parametrize("tune", ["features", "AllTheRageReel"])
def test_struck_notes_sound_at_their_times(tune, soundfont, tmp_path, capsys):
    """A piano strikes: every note is found again by its onset, and its pitch."""
    text = tune_text(tune)
    frames, rate = read_wav(convert(tmp_path, text, "tune.wav", "--soundfont", str(soundfont),
                                    capsys=capsys))
    expected = played(tune_to_midi(parse(text)))
    result = match(expected, sound.notes(frames, rate))
    assert result["found"] >= 0.95 and result["extra"] <= 0.05 * len(expected), result
    assert result["pitch_right"] >= 0.95, result


@each_soundfont
def test_bpm_sets_the_tempo(soundfont, tmp_path, capsys):
    onsets = {}
    for bpm in (90, 180):
        frames, rate = read_wav(convert(tmp_path, FEATURES, f"t{bpm}.wav", "--bpm", str(bpm),
                                        "--soundfont", str(soundfont), capsys=capsys))
        expected = played(tune_to_midi(parse(FEATURES), bpm=bpm))
        heard = sound.notes(frames, rate)
        assert match(expected, heard)["found"] >= 0.95
        onsets[bpm] = np.median(np.diff([t for t, _ in heard]))  # an eighth note, mostly
    assert onsets[90] / onsets[180] == pytest.approx(2, rel=0.03)


@each_soundfont
def test_program_sets_the_instrument(soundfont, tmp_path, capsys):
    """A piano note dies away; an organ note holds: the program reaches the synth."""
    kept = {}
    for program in (0, 19):
        frames, rate = read_wav(convert(tmp_path, LONG_NOTES, f"p{program}.wav", "--program",
                                        str(program), "--bpm", "60", "--soundfont",
                                        str(soundfont), capsys=capsys))
        signal = sound.mono(frames)
        ratios = []
        for bar in range(4):  # a whole note of 4 s per bar
            start = signal[round((4 * bar + 0.1) * rate):round((4 * bar + 0.6) * rate)]
            late = signal[round((4 * bar + 3.0) * rate):round((4 * bar + 3.5) * rate)]
            ratios.append(np.sqrt(np.mean(late**2) / np.mean(start**2)))
        kept[program] = float(np.median(ratios))
    assert kept[0] < 0.2 and kept[19] > 0.7, kept


def test_flac_and_ogg_hold_the_same_sound(tmp_path, capsys):
    import soundfile

    wav, _ = read_wav(convert(tmp_path, FEATURES, "t.wav", capsys=capsys))
    flac, rate = soundfile.read(convert(tmp_path, FEATURES, "t.flac", capsys=capsys))
    assert np.array_equal(flac, wav)  # lossless
    ogg, rate = soundfile.read(convert(tmp_path, FEATURES, "t.ogg", capsys=capsys))
    assert abs(len(ogg) - len(wav)) < rate // 10
    expected = played(tune_to_midi(parse(FEATURES)))
    assert match(expected, sound.notes(ogg, rate))["pitch_right"] >= 0.95
    assert (tmp_path / "t.ogg").stat().st_size < (tmp_path / "t.wav").stat().st_size / 5


def test_a_long_tune_encodes_to_ogg(tmp_path, capsys):
    """Over 96 s: one big write made libvorbis overflow the stack and crash the process."""
    import soundfile

    body = " ".join(["|:ABcd efga|bagf edcB:|"] * 15)
    text = f"X:1\nT:Long\nM:4/4\nL:1/8\nK:C\n{body}\n"
    ogg, rate = soundfile.read(convert(tmp_path, text, "long.ogg", capsys=capsys))
    length = tune_to_midi(parse(text)).length + TAIL
    assert length > 100 and len(ogg) / rate == pytest.approx(length, abs=0.1)


def test_generate_writes_audio(tmp_path, capsys):
    code, out, err = run(["generate", "--seed", "5", "--num", "2", "--bpm", "150",
                          "-o", str(tmp_path / "new.wav")], capsys)
    assert code == 0, err
    assert out == "".join(f"wrote {tmp_path / f'new-{i}.wav'}\n" for i in (1, 2))
    for i in (1, 2):
        frames, rate = read_wav(tmp_path / f"new-{i}.wav")
        assert len(frames) / rate > 3 and np.abs(frames).max() == pytest.approx(0.89, abs=0.01)


def test_soundfont_discovery_prefers_a_general_midi_set(tmp_path):
    mine, system = tmp_path / "home-fonts", tmp_path / "system-fonts"
    mine.mkdir()
    system.mkdir()
    for path in (mine / "Piano.sf2", system / "FluidR3_GM.sf2", system / "notes.txt"):
        path.write_bytes(b"RIFF")
    assert find_soundfont(folders=[mine, system]) == system / "FluidR3_GM.sf2"
    assert find_soundfont(folders=[mine]) == mine / "Piano.sf2"
    assert find_soundfont(mine / "Piano.sf2", folders=[]) == mine / "Piano.sf2"
    with pytest.raises(AbcgenError, match="no such file"):
        find_soundfont(tmp_path / "nothing.sf2")
    with pytest.raises(AbcgenError, match="apt install fluid-soundfont-gm"):
        find_soundfont(folders=[tmp_path / "empty"])


def test_discovery_finds_the_system_soundfont():
    assert SOUNDFONT.suffix in (".sf2", ".sf3")
    if sys.platform == "linux" and Path("/usr/share/sounds/sf2").is_dir():
        assert SOUNDFONT.parent in (Path("/usr/share/sounds/sf2"), Path("/usr/share/soundfonts"),
                                    Path("/usr/share/sounds/sf3"))


def test_no_soundfont_anywhere_is_one_line_before_any_work(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "share"),
           "XDG_DATA_DIRS": str(tmp_path / "share")}
    env.pop("ABCGEN_SOUNDFONT", None)
    done = subprocess.run([sys.executable, "-c", "from abcgen.runtime.cli import main; main()",
                           "generate", "--num", "50", "-o", str(tmp_path / "t.wav")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: audio needs a General MIDI SoundFont")
    assert "apt install fluid-soundfont-gm" in done.stderr and "--soundfont" in done.stderr
    assert list(tmp_path.glob("t*.wav")) == []


@pytest.mark.parametrize("content", [b"", b"RIFF\x10\x00\x00\x00sfbkLIST", b"not a soundfont"])
def test_a_broken_soundfont_is_one_line(content, tmp_path):
    font = tmp_path / "broken.sf2"
    font.write_bytes(content)
    (tmp_path / "t.abc").write_text(FEATURES)
    done = subprocess.run([sys.executable, "-c", "from abcgen.runtime.cli import main; main()",
                           "convert", str(tmp_path / "t.abc"), "-o", str(tmp_path / "t.wav"),
                           "--soundfont", str(font)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: cannot load SoundFont {font}: not a readable "
                                        ".sf2/.sf3"]
    assert not (tmp_path / "t.wav").exists()


def test_missing_packages_are_named(tmp_path):
    (tmp_path / "t.abc").write_text(FEATURES)
    args = ["convert", str(tmp_path / "t.abc"), "-o"]
    done = abcgen_without({"fluidsynth"}, *args, str(tmp_path / "t.wav"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: audio needs pyfluidsynth: pip install 'abcgen[render]'"]
    done = abcgen_without({"soundfile"}, *args, str(tmp_path / "t.ogg"))
    assert done.stderr.splitlines() == [
        "error: .ogg audio needs soundfile: pip install 'abcgen[render]'"]
    # pyfluidsynth is there but the FluidSynth library is not (as its import reports it)
    no_library = "import ctypes.util; ctypes.util.find_library = lambda name: None"
    done = abcgen_without(set(), *args, str(tmp_path / "t.wav"), extra=no_library)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert "apt install fluidsynth" in done.stderr and "brew install fluid-synth" in done.stderr
    assert list(tmp_path.glob("t.*")) == [tmp_path / "t.abc"]
