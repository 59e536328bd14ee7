"""Voice overlay (`&`, ABC 2.1 section 7.4) as abc2midi plays it.

`A2B2 c2d2 & F4 G4|`: the music after `&` sounds with the bar, as a second voice
(a third after another `&`), and ends at the bar line; `(& ... & ... &)` lets the
voices run over bar lines. abc2midi starts every overlaid voice at the start of
the bar holding the `&` (or the `(&`), lets it run on at its own pace (it does
not wait at bar lines, and may end short or long), and gives it accidentals,
ties and broken rhythm of its own. Only the first voice fills bars, so `check`
measures bars by it, and play goes on after the bar where it left off.

The overlaid notes are `Note`s with `voice` 2, 3...: MIDI, audio and live
playback sound them; the score (MusicXML, SVG) shows the first voice only.
`OverlayTokens` holds the parser's handlers for `&`, `(&` and `&)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from abcgen.runtime.abc.lexer import Token
from abcgen.runtime.abc.note_tokens import Accidentals


@dataclass
class Overlay:
    """Voices laid over the first from `start` (the start of bar `bar`) on."""

    start: Fraction
    bar: int
    spans: bool  # `(&`: the voices run over bar lines until `&)`
    voice: int = 1  # the voice being read: 1 until the first `&`
    voice_bar: int = 0  # the bar an overlaid voice has reached
    main: tuple | None = None  # the first voice's time and state, while another is read


class OverlayTokens:
    """The parser's handlers for overlay tokens (a mixin of `Parser`, whose time,
    accidentals, ties and broken rhythm they set aside and give back)."""

    @property
    def voice(self) -> int:
        return self.overlay.voice if self.overlay else 1

    def _on_overlay(self, t: Token) -> None:
        if t.text == "(&":
            if self.overlay is not None:
                return self._warn(t, "'(&' inside a voice overlay ignored")
            self.overlay = Overlay(self.bars.start, self.bars.index, spans=True)
        elif t.text == "&":
            if self.overlay is None:
                self.overlay = Overlay(self.bars.start, self.bars.index, spans=False)
            self._next_voice()
        elif self.overlay is None or not self.overlay.spans:
            self._warn(t, "'&)' without '(&' ignored")
        else:
            self._end_overlay()

    def _next_voice(self) -> None:
        """The next voice, from the overlay's start, with a clean slate."""
        o = self.overlay
        if o.main is None:
            o.main = (self.time, self._accidentals, self._tied, self._tie_heads, self._broken,
                      self.tuplet_left)  # fmt: skip
        else:
            self._voice_ends(o)
        o.voice, o.voice_bar = o.voice + 1, o.bar
        self.time = o.start
        self._accidentals = Accidentals(self._accidentals.mode)
        self._tied, self._tie_heads, self._broken, self.tuplet_left = {}, [], None, 0

    def _end_overlay(self) -> None:
        """Back to the first voice where it left off (what was held is released)."""
        o, self.overlay = self.overlay, None
        if o.main is None:
            return
        self._voice_ends(o)
        (self.time, self._accidentals, self._tied, self._tie_heads, self._broken,
         self.tuplet_left) = o.main  # fmt: skip

    def _voice_ends(self, o: Overlay) -> None:
        """An overlaid voice is done: its ties must have found their notes, and a voice
        shorter or longer than the first is worth a word (abc2midi warns too)."""
        self._ties_end(set())
        diff = self.time - o.main[0]
        if diff:
            what = "longer" if diff > 0 else "shorter"
            self._warn(Token("", "", None, *self._last),
                       f"voice {o.voice} of the overlay is {abs(diff) / self.unit} units {what} "
                       "than the first; played as written, as abc2midi does")

    def _overlay_bar(self) -> bool:
        """At a bar line: True if it belongs to an overlaid voice (`(&`: no bar of the
        tune ends there). It ends a plain `&` overlay: the first voice goes on, its
        accidentals ended by the bar line. What the voice held is released first."""
        o = self.overlay
        if o is None or o.voice == 1:
            return False
        self._release()
        if o.spans:
            o.voice_bar += 1
            self._accidentals.clear()
            return True
        self._end_overlay()
        return False
