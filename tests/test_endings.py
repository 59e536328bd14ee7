"""Endings that land and pickups that keep the beat, judged by the real abc2midi on
tunes the shipped model writes (with the copy model, as `abcgen generate` does):
every pass plays whole bars, and with a form every part lands on the tonic on a
beat and holds it, the tune's last note for most of a beat."""

from __future__ import annotations

import shutil
from fractions import Fraction

import pytest

from abcgen.exported import DEFAULT_MODEL
from abcgen.runtime.abc.form import tonic_semitone
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.evaluate.structure import tune_structure, written_bars
from abcgen.runtime.generate.generator import Generator, generate
from abcgen.runtime.generate.onnx_model import Model
from abcgen.runtime.generate.params import GeneratorParams

pytestmark = pytest.mark.skipif(shutil.which("abc2midi") is None, reason="needs abc2midi")

# Primes that open with a pickup (the model goes on after it), and headers alone.
PRIMES = [
    "M:6/8\nL:1/8\nK:D\nA|",  # a jig's eighth
    "M:2/4\nL:1/16\nK:G\nD2|",  # a polka's eighth
    "M:4/4\nL:1/8\nK:Ador\nE2|",  # a quarter
    "M:2/2\nL:1/8\nK:G\nGA|",  # a reel's two eighths
    "M:3/4\nL:1/8\nK:Em\nB,2|",
    "M:9/8\nL:1/8\nK:D\n",
    "M:6/8\nL:1/8\nK:G\n",
    "M:4/4\nL:1/8\nK:D\n",
]


@pytest.fixture(scope="module")
def model() -> Model:
    return Model(DEFAULT_MODEL)


def pulse(meter) -> Fraction:
    """Where a cadence may land: the beat, a quarter at most in simple meters."""
    return meter.beat if meter.compound else min(meter.beat, Fraction(1, 4))


def landing(text: str) -> tuple[bool, bool, Fraction]:
    """(the last note is the tonic, it starts on a beat of its bar with only rests after
    it, how long it sounds with those rests)."""
    tune = parse(text)
    last_bar = written_bars(tune)[-1]
    sounding = [n for n in last_bar.notes if not n.is_rest]
    note = sounding[-1]
    after = last_bar.notes[last_bar.notes.index(note) + 1:]
    on_beat = (note.onset - last_bar.start) % pulse(tune.meter) == 0
    tonic = note.pitch.midi % 12 == tonic_semitone(tune)
    return tonic, on_beat and all(n.is_rest for n in after), last_bar.end - note.onset


@pytest.mark.parametrize("form", ["AABB", "AB", "auto", "free"])
def test_every_pass_plays_whole_bars_in_abc2midi(model, form):
    for seed, prime in enumerate(PRIMES):
        for tune in generate(model, GeneratorParams(prefix=prime, form=form, num=4, seed=seed)):
            facts = tune_structure(tune.text, abc2midi=True)
            assert facts.whole_bars_abc2midi and facts.whole_bars, tune.text


def formed(model: Model, params: GeneratorParams) -> list[str]:
    """The tunes `params` asks for that have a form (auto leaves a share free)."""
    gen = Generator(model, params)
    gen.append(params.prime)
    while not gen.is_done():
        gen.generate_next()
    return [t.text for t, row in zip(gen.results(), gen.mask.rows, strict=True)
            if row.state.form]


@pytest.mark.parametrize("form", ["AABB", "AB", "auto"])
def test_tunes_in_a_form_land_and_hold_their_last_note(model, form):
    for seed, prime in enumerate(PRIMES):
        for text in formed(model, GeneratorParams(prefix=prime, form=form, num=4, seed=seed)):
            tonic, lands, held = landing(text)
            assert tonic and lands, text
            assert held >= Fraction(2, 3) * pulse(parse(text).meter), text
            assert tune_structure(text).lead_in is not True


def test_tunes_without_a_form_end_on_a_note_that_lands(model):
    """`--form free` (the bar rules only) and auto's free share: no tonic asked for, but
    the last note starts on a beat and sounds, with the rests after it, most of a beat
    (or the whole bar, where the bar is shorter): no lead-in after the end."""
    for seed, prime in enumerate(PRIMES):
        for tune in generate(model, GeneratorParams(prefix=prime, form="free", num=4,
                                                    seed=seed)):
            _, lands, held = landing(tune.text)
            bar = written_bars(parse(tune.text))[-1]
            assert lands, tune.text
            assert held >= min(Fraction(2, 3) * pulse(parse(tune.text).meter),
                               bar.end - bar.start), tune.text
