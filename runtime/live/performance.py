"""A tune played as its text arrives: feed text, get the MIDI messages whose time is certain.

Live playback starts a tune before the model has finished writing it, yet
must sound exactly like the tune's MIDI file. So each time a bar line arrives
the tune so far is rendered by the same code that writes MIDI files
(`midi.tune_to_midi`: repeats, ties, grace notes, accents, chords), and the
messages before the end of that rendering are handed out, once. They cannot
change later: a prefix of a tune expands to a prefix of its played order, and
a note still open at the end (a tie, a chord held until the next symbol) ends
exactly there and is handed out only when a later rendering decides it.

Rendering the whole tune at every bar line would cost time that grows with the
tune (quadratic in all). Only the messages from `done` on are wanted, so a
rendering starts at the latest bar line already played that play never goes
back before (`_Part`): the tune from there, shifted to where it is played,
renders exactly those messages. Whether a bar line qualifies is read from the
played order itself (`repeats.play_order`, cheap: bar lines only) and checked,
not assumed, so a later `:|` that jumps back simply moves the start back.

The first note goes out as soon as it is certain, not at the first bar line,
so a tune sounds within milliseconds of its first characters. Its accent is
then unknown (whether the first bar is a pickup shows only at its bar line),
so it gets a plain on-the-beat velocity. While a voice overlay is open (`&`,
`(& ... &)`) nothing is rendered: its later voices sound in bars already read.
(So an overlaid note that starts before the tune's first note ends is not played.)

Live-only touches go on top: swing of off-beat eighths, and a little seeded
velocity humanisation that depends only on the note, not on the rendering.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from fractions import Fraction

import mido

from abcgen.runtime.abc.chordsymbol import parse_chord
from abcgen.runtime.abc.events import Bar, ChordSymbol, Event, FieldChange, Note, Tune
from abcgen.runtime.abc.meter import Meter
from abcgen.runtime.abc.parser import Parser
from abcgen.runtime.abc.repeats import play_order
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
        self.written = _Written()

    def feed(self, text: str) -> list[Item]:
        """Messages made certain by `text` (positions in whole notes from the tune's start)."""
        new = self.parser.feed(text)
        self.written.add(new, len(self.events))
        self.events += new
        if self.parser.overlay is not None:  # voices still to come sound in bars already read
            return []
        bars = self.written.bar_events
        if bars and bars[-1][0] >= max(self.cut, self.written.overlaid):  # a bar line since
            self.cut = bars[-1][0] + 1
            return self._render(final=False)
        if not self.started and not self.written.overlaid and any(isinstance(e, Note) for e in new):
            self.cut = len(self.events)
            return self._render(final=False, early=True)
        return []

    def close(self) -> list[Item]:
        """The rest of the tune; `length` is then its played length in whole notes."""
        new = self.parser.close()
        self.written.add(new, len(self.events))
        self.events += new
        self.cut = len(self.events)
        items = self._render(final=True)
        self.length = max(self.done, 0) / WHOLE
        return items

    def _render(self, final: bool, early: bool = False) -> list[Item]:
        tune = dataclasses.replace(self.parser.tune, events=self.events[: self.cut],
                                   complete=final)
        part, shift = _Part.latest(tune, self.written, self.done, self.style.chords)
        s = self.style
        midi = tune_to_midi(part, bpm=s.bpm, program=s.program, channel=s.channel,
                            chords=s.chords, chord_channel=s.chord_channel,
                            chord_program=s.chord_program)
        timed = []
        for track in midi.tracks:
            tick = shift
            for msg in track:
                tick += msg.time
                timed.append((tick, msg))
        ends = [tick for tick, msg in timed if msg.type in ("note_off", "note_on")]
        horizon = max(ends, default=0) + 1 if final else max(ends, default=0)
        swing = s.swing != 0.5 and not (tune.meter is not None and tune.meter.compound)
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


class _Written:
    """What the written tune holds so far that `_Part` asks about, kept up as events arrive."""

    def __init__(self) -> None:
        self.bars: list[tuple[Fraction, int]] = []  # (onset, index of its first Bar event)
        self.bar_events: list[tuple[int, Bar, Fraction]] = []  # (index, bar, notes' end)
        self.end = Fraction(0)  # where the latest-ending note so far ends
        self.meters: list[tuple[int, Meter | None]] = []  # (index, meter) of M: changes
        self.tied_ends: set[Fraction] = set()  # where tied notes end
        self.first_chord: int | None = None  # index of the first playable chord symbol
        self.overlaid = 0  # index after the last overlaid note (`&`): bars before it sound on

    def add(self, events: list[Event], at: int) -> None:
        for i, e in enumerate(events, at):
            if isinstance(e, Note) and not e.grace:
                self.end = max(self.end, e.onset + e.duration)
                if e.voice > 1:
                    self.overlaid = i + 1
            if isinstance(e, Bar):
                self.bar_events.append((i, e, self.end))
                if e.onset > 0 and (not self.bars or self.bars[-1][0] != e.onset):
                    self.bars.append((e.onset, i))
            elif isinstance(e, FieldChange) and e.name == "M":
                self.meters.append((i, e.meter))
            elif isinstance(e, Note) and e.tie:
                self.tied_ends.add(e.onset + e.duration)
            elif isinstance(e, ChordSymbol) and self.first_chord is None \
                    and parse_chord(e.text) is not None:
                self.first_chord = i

    def play_order(self, tune: Tune) -> list[tuple[Fraction, Fraction]]:
        """`repeats.play_order(tune)`, from the bar lines and where the notes end: the
        notes themselves would cost time that grows with the tune."""
        cut = len(tune.events)
        bars = [(i, bar, end) for i, bar, end in self.bar_events if i < cut]
        first, end = (bars[-1][0] + 1, bars[-1][2]) if bars else (0, Fraction(0))
        for e in tune.events[first:]:  # the notes after the last bar line
            if isinstance(e, Note) and not e.grace:
                end = max(end, e.onset + e.duration)
        last = Note(onset=end, duration=Fraction(0), pitch=None, bar=0, line=0, col=0)
        return play_order(dataclasses.replace(tune, events=[*(b for _, b, _ in bars), last]))


@dataclass(frozen=True)
class _Part:
    """The tune from bar line `onset` on, first played at `played` (whole notes)."""

    onset: Fraction
    played: Fraction
    tune: Tune

    TRIES = 32  # bar lines tried per rendering before the whole tune is rendered instead

    @classmethod
    def latest(cls, tune: Tune, written: _Written, done: int, chords: bool) -> tuple[Tune, int]:
        """The part to render for every message from tick `done` on, and its shift in
        ticks: the part from the latest bar line that qualifies, else the whole tune."""
        if not done or not written.bars or written.overlaid:
            return tune, 0  # (an overlaid voice is written after bars it sounds in)
        spans = written.play_order(tune)
        tries = 0
        for onset, index in reversed(written.bars):
            if index >= len(tune.events):
                continue
            played = _first_play(spans, onset, done)
            if played is None:
                continue
            part = cls._from(tune, written, onset, index, played, spans, chords)
            if part is not None:
                shift = (part.played - part.onset) * 4 * TICKS_PER_BEAT
                return part.tune, int(shift)
            tries += 1
            if tries == cls.TRIES:
                break
        return tune, 0

    @classmethod
    def _from(cls, tune: Tune, written: _Written, onset: Fraction, index: int,
              played: Fraction, spans: list[tuple[Fraction, Fraction]], chords: bool,
              ) -> _Part | None:
        """The part from the bar line at `onset` (its first Bar event at `index`), if it
        renders what the whole tune renders from `played` on; else None."""
        if ((played - onset) * 4 * TICKS_PER_BEAT).denominator != 1:
            return None  # an odd tuplet: the shift would round differently
        if onset in written.tied_ends or _span_end_before(spans, onset, played) \
                in written.tied_ends:
            return None  # a tie into the part: its first note continues an earlier one
        events = tune.events
        start = index  # the part takes the symbols and grace notes written before the bar
        while start > 0 and not (isinstance(events[start - 1], Note)
                                 and not events[start - 1].grace):
            start -= 1
        group = [e for e in events[start:] if isinstance(e, Bar) and e.onset == onset]
        opens = any(b.kind in ("|:", "::") for b in group)
        kind = "|:" if opens else "||"
        head = dataclasses.replace(group[0], kind=kind, text=kind, ending=None)
        rest = [e for e in events[start:] if not (isinstance(e, Bar) and e.onset == onset)]
        first = next((e for e in rest if isinstance(e, Note) and not e.grace), None)
        if first is not None and first.bar == 0:
            return None  # accents of a pickup bar depend on the bar after it
        if chords and written.first_chord is not None and written.first_chord < start \
                and not _opens_with_a_chord(rest):
            return None  # a chord held from before would sound on into the part
        meter = tune.meter
        for i, m in written.meters:
            if i >= start:
                break
            meter = m
        part = dataclasses.replace(tune, events=[head, *rest], meter=meter)
        ours = play_order(part)
        if not ours or ours[0][0] != 0 or ours[0][1] <= onset:
            return None
        ours = [(onset, ours[0][1]), *ours[1:]]
        if any(a < onset for a, _ in ours) or ours != _tail(spans, onset, played):
            return None  # play differs from the part: an earlier repeat reaches into it
        return cls(onset, played, part)


def _first_play(spans: list[tuple[Fraction, Fraction]], onset: Fraction,
                done: int) -> Fraction | None:
    """When play first reaches written `onset` never to go back before it, if that is
    before tick `done`; else None."""
    clock = Fraction(0)
    lowest_after = [Fraction(0)] * len(spans)  # the lowest start of the spans after each
    low = None
    for k in range(len(spans) - 1, -1, -1):
        lowest_after[k] = low if low is not None else onset
        low = spans[k][0] if low is None else min(low, spans[k][0])
    for k, (a, b) in enumerate(spans):
        if a <= onset < b and lowest_after[k] >= onset:
            played = clock + onset - a
            return played if played * 4 * TICKS_PER_BEAT < done else None
        clock += b - a
    return None


def _span_end_before(spans: list[tuple[Fraction, Fraction]], onset: Fraction,
                     played: Fraction) -> Fraction | None:
    """Where the music played just before `played` ends, written, when play jumped to
    `onset` (else None: then it ends at `onset` itself)."""
    clock = Fraction(0)
    for k, (a, b) in enumerate(spans):
        if clock + onset - a == played and a == onset and k:
            return spans[k - 1][1]
        clock += b - a
    return None


def _tail(spans: list[tuple[Fraction, Fraction]], onset: Fraction,
          played: Fraction) -> list[tuple[Fraction, Fraction]]:
    """The spans played from `played` on, the first one starting at written `onset`."""
    clock = Fraction(0)
    for k, (a, b) in enumerate(spans):
        if a <= onset < b and clock + onset - a == played:
            return [(onset, b), *spans[k + 1:]]
        clock += b - a
    return []


def _opens_with_a_chord(events: list[Event]) -> bool:
    """Whether a playable chord symbol stands at the first note of `events`."""
    for e in events:
        if isinstance(e, ChordSymbol) and parse_chord(e.text) is not None:
            return True
        if isinstance(e, Note) and not e.grace:
            return False
    return False
