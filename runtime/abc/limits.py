"""What one tune may ask of the writers and of playback: bounds that no real tune
comes near, so that a typo or junk gets a message instead of minutes of work and
gigabytes (`A9999|` rendered 41 minutes of audio, 4.4 GB; `L:99999/1` split each
note into 50,000 tied ones; a P: order `((AB)999)999` plays 16 million notes).

Measured on the default corpus (12,947 tunes) and tests/data/heldout (257 tunes):
the longest note is 13.9 whole notes, the longest tune plays 176 whole notes and
5.3 minutes of audio, the longest P: order 5 parts, the fullest measure holds
252 notes, tempi run from 15 to 360 quarter notes a minute. Each cap leaves a
margin of three times or more. A tune beyond one raises BeyondLimits: `convert`
and `abcgen-live` skip that tune and go on, `check` warns (docs/bad-input.md).
"""

from __future__ import annotations

from fractions import Fraction

from abcgen.runtime.abc.events import FieldChange, Note, Tune
from abcgen.runtime.abc.repeats import MAX_PARTS, part_order, play_order
from abcgen.runtime.errors import BeyondLimits

MAX_NOTE = Fraction(64)  # whole notes in one note (a multi-measure rest: per measure)
MAX_PLAYED = 2500  # whole notes a tune plays, repeats and P: order expanded
MAX_MEASURE_NOTES = 1000  # notes in one engraved measure (verovio's time grows ~ cubically)
MAX_AUDIO_MINUTES = 15  # of rendered sound: 160 MB of WAV
TEMPO = (4.0, 1000.0)  # quarter notes a minute; a MIDI file holds 3.6 at the slowest


def check_tune(tune: Tune) -> None:
    """BeyondLimits unless every note is at most MAX_NOTE long, every Q: within TEMPO,
    the P: order at most MAX_PARTS parts and the played length at most MAX_PLAYED."""
    lo, hi = TEMPO
    for e in tune.events:
        if isinstance(e, FieldChange) and e.tempo and not lo <= e.tempo <= hi:
            raise BeyondLimits(f"Q:{e.value.strip()} asks for {e.tempo:g} quarter notes a "
                               f"minute, and abcgen plays {lo:g} to {hi:g}")
        if isinstance(e, Note) and e.duration / max(e.measures, 1) > MAX_NOTE:
            raise BeyondLimits(f"a note in bar {e.bar + 1} lasts {float(e.duration):,.0f} whole "
                               f"notes, and abcgen plays notes of up to {MAX_NOTE} (is L: or a "
                               "length mistyped?)")
    order = part_order(tune.fields["P"]) if "P" in tune.fields else None
    if order is not None and len(order) > MAX_PARTS:
        raise BeyondLimits(f"its P: order plays more than {MAX_PARTS} parts")
    played = sum((b - a for a, b in play_order(tune)), Fraction(0))
    if played > MAX_PLAYED:
        raise BeyondLimits(f"it plays {float(played):,.0f} whole notes, and abcgen plays tunes "
                           f"of up to {MAX_PLAYED:,}")


def check_measure(number: int, notes: int) -> None:
    """BeyondLimits when an engraved measure would hold more than MAX_MEASURE_NOTES notes."""
    if notes > MAX_MEASURE_NOTES:
        raise BeyondLimits(f"measure {number} holds {notes:,} notes, and abcgen engraves "
                           f"measures of up to {MAX_MEASURE_NOTES:,} (are bar lines missing?)")


def check_seconds(seconds: float) -> None:
    """BeyondLimits when rendered sound would last more than MAX_AUDIO_MINUTES."""
    if seconds > 60 * MAX_AUDIO_MINUTES:
        raise BeyondLimits(f"it plays for {seconds / 60:,.0f} minutes, and abcgen writes audio "
                           f"of up to {MAX_AUDIO_MINUTES}")
