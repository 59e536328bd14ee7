"""Seeded mutations of real tunes, and one pass of a mutated tune through the parser,
every writer and the ABC round trip, for tests/test_parser_fuzz.py.

A mutation is what a hurried editor, a broken download or a hostile user makes:
characters and tokens inserted, deleted, swapped and doubled, odd bytes and
control characters, huge numbers, stray fields and directives. `exercise` says
what went wrong, if anything: every failure must be an AbcgenError with a
message; any other exception, or a writer running past its time, is a finding.
"""

from __future__ import annotations

import io
import random
import signal
import time
import traceback
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from abcgen.runtime.abc.abc_file import read_tunes
from abcgen.runtime.abc.corpus import default_corpus_paths
from abcgen.runtime.abc.events import Note, Tune
from abcgen.runtime.abc.lexer import BODY
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.abc.writer import format_abc
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.formats.midi import tune_to_midi
from abcgen.runtime.formats.musicxml import tune_to_musicxml

HELD_OUT = Path(__file__).parent / "data" / "heldout"
# ABC's own characters, weighted toward music, and some it does not use
ALPHABET = "ABCDEFGabcdefgzxZ,'^_=/23|:[]{}()<>-!+\"%.~HTuv \n\\K:M&$y`#;1\t\u00e9"
ODD = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x0e", "\x1b", "\x1c", "\x1f", "\x7f",
       "\x85", "\x92", "\u2028", "\u2029", "\ufeff", "\ufffd", "\u202e", "\U0001f3bb", "\r",
       "\r\n", "\t"]  # fmt: skip
TOKENS = ["|:", ":|", "::", "|]", "[|", "||", "[1", "|2", ":|2", "[K:Bb]", "[M:3/4]",
          "[L:1/16]", "[Q:1/4=90]", "[P:B]", "(3", "(5:4:5", "{g}", "{/ag}", "[CEG]", "[ee]2",
          "&", "(&", "&)", "!trill!", "+fermata+", '"Am"', '"^text"', "~", "A>", "<B", "-",
          "z", "Z4", "y", "$", "*", "\\\n", "\n", "\n\n", "%comment\n", "`", "#"]  # fmt: skip
LINES = ["\nK:D\n", "\nT:Title\n", "\nP:ABA\n", "\nM:C|\n", "\nL:1/4\n", "\nQ:3/8=120\n",
         "\nV:2\n", "\nw:la la\n", "\n%%MIDI ratio 2 1\n", "\n%%propagate-accidentals octave\n",
         "\nI:MIDI ratio 5 3\n", "\n+:more\n", "\nX:2\n", "\nK:Hb\n", "\nM:none\n"]
NUMBERS = ["0", "9999", "99999999", "/9999", "//////", "3/0", "0/0", "1/99999",
           "\nL:1/999\n", "\nM:99/1\n", "\nQ:1/4=99999\n", "\nM:256/4\n", "\nQ:1/4=3\n",
           "\nL:99999/1\n", "\nP:((AB)99)99\n"]  # fmt: skip
WRITER_SECONDS = 20  # far beyond what any writer takes on a real tune


def source_tunes(per_file: int = 3) -> list[str]:
    """Real tunes to mutate: a few from each corpus file and every held-out one."""
    tunes: list[str] = []
    for folder in default_corpus_paths():
        for path in sorted(folder.glob("*.abc")):
            tunes += [text for _, text in read_tunes(path)[:per_file]]
    return tunes + [text for p in sorted(HELD_OUT.glob("*.abc")) for _, text in read_tunes(p)]


def mutate(text: str, rng: random.Random) -> str:
    """1 to 6 edits of `text`."""
    for _ in range(rng.randint(1, 6)):
        at = rng.randint(0, len(text))
        kind = rng.random()
        if kind < 0.25:
            piece = rng.choice([rng.choice(ALPHABET), rng.choice(ODD), rng.choice(TOKENS)])
            text = text[:at] + piece + text[at:]
        elif kind < 0.4:
            text = text[:at] + text[at + rng.randint(1, 8):]
        elif kind < 0.5:
            text = text[:at] + rng.choice(NUMBERS) + text[at:]
        elif kind < 0.6:
            text = text[:at] + rng.choice(LINES) + text[at:]
        elif kind < 0.8:
            text = _token_edit(text, rng)
        elif kind < 0.9 and len(text) > 1:
            i, j = sorted(rng.sample(range(len(text)), 2))
            text = text[:i] + text[j] + text[i + 1 : j] + text[i] + text[j + 1 :]
        else:
            span = text[at : at + rng.randint(1, 40)]
            text = text[:at] + span * rng.randint(2, 30) + text[at:]
    return text


def _token_edit(text: str, rng: random.Random) -> str:
    """Delete, double or swap whole tokens of the body, as the lexer cuts them."""
    start = text.find("\nK:")
    start = text.find("\n", start + 1) + 1 if start >= 0 else 0
    spans = []
    pos = start
    while pos < len(text) and len(spans) < 400:
        end = BODY.match(text, pos).end()
        spans.append((pos, end))
        pos = end
    if len(spans) < 2:
        return text
    (a, b), (c, d) = sorted(rng.sample(spans, 2))
    edit = rng.randrange(3)
    if edit == 0:
        return text[:a] + text[b:]
    if edit == 1:
        return text[:b] + text[a:b] + text[b:]
    return text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]


def mutated(count: int, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    tunes = source_tunes()
    for _ in range(count):
        yield mutate(rng.choice(tunes), rng)


# ------------------------------------------------------------------ one pass


class TooLong(Exception):
    """A writer ran past WRITER_SECONDS."""


@contextmanager
def time_limit(seconds: float):
    """TooLong if the block runs past `seconds`; an alarm set before (pytest-timeout's)
    is set again after, less the time spent."""
    def alarm(signum, frame):
        raise TooLong(f"still running after {seconds:g} s")

    handler = signal.signal(signal.SIGALRM, alarm)
    outer, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, handler)
        if outer:
            left = max(outer - (time.monotonic() - start), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


def exercise(text: str, writers: tuple[str, ...], found: Counter) -> list[str]:
    """Problems of one mutated tune through parse, the ABC round trip and `writers`
    ('midi', 'musicxml', 'svg', 'audio'); `found` counts outcomes."""
    from same_music import same_events

    problems = []
    tune = parse(text)  # never raises: problems are diagnostics
    found["parsed"] += 1
    found["valid" if tune.valid else "invalid"] += 1
    if not any(isinstance(e, Note) for e in tune.events):
        found["no notes (convert skips it)"] += 1
        return problems
    diff = same_events(tune, parse(format_abc(text)))
    if diff is not None:
        problems.append(f"abc round trip changed the music: {diff}")
    for writer in writers:
        try:
            with time_limit(WRITER_SECONDS):
                WRITERS[writer](tune)
            found[f"{writer} written"] += 1
        except AbcgenError as err:
            if not str(err).strip():
                problems.append(f"{writer}: AbcgenError without a message")
            found[f"{writer} refused"] += 1
        except Exception as err:  # any other exception is the finding
            problems.append(f"{writer}: {type(err).__name__}: {err}\n"
                            + "".join(traceback.format_exc(limit=-4)))
    return problems


def _midi(tune: Tune) -> None:
    import mido

    buffer = io.BytesIO()
    tune_to_midi(tune).save(file=buffer)
    mido.MidiFile(file=io.BytesIO(buffer.getvalue()))  # a file a reader takes


def _musicxml(tune: Tune) -> None:
    ET.fromstring(tune_to_musicxml(tune).split("\n", 2)[2])  # well-formed (past the DOCTYPE)


def _svg(tune: Tune) -> None:
    from abcgen.runtime.formats.svg import tune_to_svg

    ET.fromstring(tune_to_svg(tune))


def _audio(tune: Tune) -> None:
    from abcgen.runtime.formats.audio import encode, render_midi
    from abcgen.runtime.formats.soundfonts import find_soundfont

    encode(render_midi(tune_to_midi(tune), find_soundfont()), ".wav")


WRITERS: dict[str, Callable[[Tune], None]] = {
    "midi": _midi, "musicxml": _musicxml, "svg": _svg, "audio": _audio,
}  # fmt: skip
