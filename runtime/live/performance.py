"""A tune played as its text arrives: feed text, get the MIDI messages whose time is certain.

Live playback starts a tune before the model has finished writing it, yet
must sound exactly like the tune's MIDI file. So each time a bar line arrives
the tune so far is rendered by the same code that writes MIDI files
(`midi.tune_to_midi`: repeats, ties, grace notes, accents, chords), and the
messages before the end of that rendering are handed out, once. They cannot
change later: a prefix of a tune expands to a prefix of its played order, and
a note still open at the end (a tie, a chord held until the next symbol) ends
exactly there and is handed out only when a later rendering decides it.

The first note goes out as soon as it is certain, not at the first bar line,
so a tune sounds within milliseconds of its first characters. Its accent is
then unknown (whether the first bar is a pickup shows only at its bar line),
so it gets a plain on-the-beat velocity.

Live-only touches go on top: swing of off-beat eighths, and a little seeded
velocity humanisation that depends only on the note, not on the rendering.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

import mido

from abcgen.runtime.abc.events import Bar, Event, Meter, Note
from abcgen.runtime.abc.parser import Parser
from abcgen.runtime.formats.midi import TICKS_PER_BEAT, VELOCITY, tune_to_midi

WHOLE = 4 * TICKS_PER_BEAT  # ticks per whole note
Item = tuple[float, bytes | float]  # (position in whole notes, MIDI bytes or a tempo in bpm)


@dataclass(frozen=True)
class Style:
    """How tunes are played; the defaults suit a solo folk instrument."""

    bpm: float | None = None  # quarter notes per minute; None: Q: of the tune, else a dance tempo
    channel: int = 0
    program: int = 0  # General MIDI program (0: piano; 22: harmonica, 40: violin, 73: flute)
    chords: bool = False  # accompaniment from chord symbols, when the tune has them
    chord_channel: int | None = None
    chord_program: int | None = None
    swing: float = 0.5  # share of a pair of eighths the first one takes: 0.5 straight, ~0.67 swung
    humanise: int = 6  # velocities vary by up to this much either way
    seed: int = 0


def _compound(meter: Meter | None) -> bool:
    return meter is not None and meter.denominator == 8 and meter.numerator % 3 == 0 \
        and meter.numerator > 3


class Performance:
    """One tune, rendered bar by bar as its text streams in (its first note at once)."""

    def __init__(self, style: Style, tune_seed: int = 0) -> None:
        self.style, self.tune_seed = style, tune_seed
        self.parser = Parser()
        self.events: list[Event] = []
        self.cut = 0  # events up to here are rendered
        self.done = 0  # ticks before this were handed out
        self.programs: set[bytes] = set()  # program changes handed out
        self.started = False  # a note went out
        self.length = 0.0  # whole notes, once closed

    def feed(self, text: str) -> list[Item]:
        """Messages made certain by `text` (positions in whole notes from the tune's start)."""
        new = self.parser.feed(text)
        self.events += new
        for i in range(len(self.events) - 1, len(self.events) - len(new) - 1, -1):
            if isinstance(self.events[i], Bar):
                self.cut = i + 1
                return self._render(final=False)
        if not self.started and any(isinstance(e, Note) for e in new):
            self.cut = len(self.events)
            return self._render(final=False, early=True)
        return []

    def close(self) -> list[Item]:
        """The rest of the tune; `length` is then its played length in whole notes."""
        self.events += self.parser.close()
        self.cut = len(self.events)
        items = self._render(final=True)
        self.length = max(self.done, 0) / WHOLE
        return items

    def _render(self, final: bool, early: bool = False) -> list[Item]:
        tune = dataclasses.replace(self.parser.tune, events=self.events[: self.cut])
        s = self.style
        midi = tune_to_midi(tune, bpm=s.bpm, program=s.program, channel=s.channel,
                            chords=s.chords, chord_channel=s.chord_channel,
                            chord_program=s.chord_program)
        timed = []
        for track in midi.tracks:
            tick = 0
            for msg in track:
                tick += msg.time
                timed.append((tick, msg))
        ends = [tick for tick, msg in timed if msg.type in ("note_off", "note_on")]
        horizon = max(ends, default=0) + 1 if final else max(ends, default=0)
        swing = s.swing != 0.5 and not _compound(tune.meter)
        items = []
        for tick, msg in timed:
            if msg.type == "program_change":  # a chord track appears with its first symbol
                data = bytes(msg.bin())
                if data not in self.programs:
                    self.programs.add(data)
                    items.append((max(tick, self.done) / WHOLE, data))
                continue
            if not self.done <= tick < horizon:
                continue
            if msg.type == "set_tempo":
                if s.bpm is None:
                    items.append((tick / WHOLE, mido.tempo2bpm(msg.tempo)))
                continue
            if msg.is_meta:
                continue
            if msg.type == "note_on" and msg.velocity > 0:
                self.started = True
                if early:
                    msg = msg.copy(velocity=VELOCITY["beat"])
            if msg.type == "note_on" and msg.velocity > 0 and s.humanise:
                rng = random.Random(f"{s.seed}:{self.tune_seed}:{tick}:{msg.channel}:{msg.note}")
                velocity = msg.velocity + rng.randint(-s.humanise, s.humanise)
                msg = msg.copy(velocity=min(127, max(1, velocity)))
            at = self._swung(tick) if swing else tick
            items.append((at / WHOLE, bytes(msg.bin())))
        self.done = max(self.done, horizon if not final else max(ends, default=0))
        return items

    def _swung(self, tick: int) -> float:
        """Delay the second eighth of each quarter so the first takes `swing` of the pair."""
        pair = TICKS_PER_BEAT
        base, x = divmod(tick, pair)
        half = pair / 2
        first = 2 * self.style.swing * half
        warped = x * first / half if x <= half else first + (x - half) * (pair - first) / half
        return base * pair + warped
