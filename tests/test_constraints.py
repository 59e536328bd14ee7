"""The constraint mask: its rules on hand-written prefixes, and the property that
tunes sampled from a random (untrained) model under it are valid for our parser
and for the real abc2midi."""

from __future__ import annotations

import itertools
import shutil

import numpy as np
import pytest
from cli import app
from tiny_models import exported, real_tunes, vocab_of
from typer.testing import CliRunner

from abcgen.exported import DEFAULT_MODEL
from abcgen.runtime.abc.normalise import BOS, EOS, split_tunebook
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.constrain.mask import Constraint
from abcgen.runtime.constrain.rules import Rules
from abcgen.runtime.evaluate.abc2midi import run_abc2midi
from abcgen.runtime.generate.generator import Generator, generate
from abcgen.runtime.generate.onnx_model import Model
from abcgen.runtime.generate.params import GeneratorParams

VOCAB = vocab_of(real_tunes())
JIG = "M:6/8\nL:1/8\nK:G\n"


@pytest.fixture(scope="module")
def rules():
    return Rules(VOCAB)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    # scale 3: peaked logits, like a trained model's, yet no training at all
    return exported(tmp_path_factory.mktemp("cmodel"), layers=1, hidden=64, scale=3.0)


@pytest.fixture(scope="module")
def model(model_path):
    return Model(model_path)


def written(rules: Rules, text: str) -> Constraint:
    """A constraint that has followed `text` as generation would write it."""
    c = Constraint(rules)
    c.feed(BOS)
    for i, ch in enumerate(text):
        assert c.allowed()[VOCAB.index(ch)], f"{ch!r} refused after {text[:i]!r}"
        c.advance(VOCAB.index(ch))
    return c


def allowed(rules: Rules, text: str) -> set[str]:
    mask = written(rules, text).allowed()
    return {VOCAB[i] for i in np.flatnonzero(mask)}


# -- rules -------------------------------------------------------------------

TUNES = [
    # pickup, a short last bar before :| that the pickup completes, first and second endings
    JIG + "|:A|dfe dcB|AFA DFA|1 G3 G2:|2 G3 G2|]",
    # AABB: each part ends short; the next part opens its repeat, then its pickup completes it
    JIG + "|:A|dfe dcB|AFA DF:|\n|:g|fed cBA|dBG A2:|",
    # ... or leave the `|:` out: the second part repeats from the first `:|`
    JIG + "A|dfe dcB|AFA DF:|\ng|fed cBA|dBG A2:|",
    JIG + "A|dfe dcB|AFA DF||\n||g|fed cBA|dBG A2|]",
    # broken rhythm, triplet, chord, grace note, tie across the bar, slur
    "M:4/4\nL:1/8\nK:D\nA>B (3cBA [d2f2] {g}f2|e4- e2 (de)|f8|]",
    # free meter
    "M:none\nL:1/4\nK:Ador\nA B c2 | d e c A |]",
]


@pytest.mark.parametrize("text", TUNES)
def test_tunes_as_musicians_write_them_are_accepted(rules, text):
    c = written(rules, text)
    assert c.allowed()[VOCAB.index(EOS)]
    assert parse(text).valid


def test_bar_lines_and_note_lengths_follow_the_meter(rules):
    start = JIG + "GAB cde|dBG"  # second bar: 3 of 6 eighths
    assert "|" not in allowed(rules, start)  # without a pickup no bar closes short
    assert allowed(rules, JIG + "A|dfe dcB|AFA D2|") == {"|", "]"}  # the pickup completes it
    assert allowed(rules, JIG + "A|dfe dcB|AFA DF|") == {"|"}  # (an end lands on a beat)
    assert "|" not in allowed(rules, JIG + "A|dfe dcB|AFA D")  # it does not: no closing
    # nor does a full one, once a pickup stands: a plain `|` only
    assert not allowed(rules, JIG + "A|dfe dcB|AFA DFA|") & set("|]:")
    # abc2midi joins a short bar to the next part's pickup across `:|`, not `:||`
    assert "|" not in allowed(rules, JIG + "A|dfe dcB|AFA DF:|")
    assert "|" in allowed(rules, JIG + "dfe dcB|AFA DFA:|")
    # a part may close `:|` without its `|:` after a plain `:|` (abc2midi repeats from
    # there), not after endings (abc2midi then moves the repeat and miscounts bars)
    assert ":" in allowed(rules, JIG + "A|dfe dcB|AFA DF:|\ng|fed cBA|dBG AF")
    assert ":" not in allowed(rules, JIG + "|:dfe dcB|1 AFA DFA:|2 AFA DFA||\ndfe dcB|AFA DFA")
    # the pickup into a part ends at a plain `|` (abc2midi counts it alone before `[|`)
    pickup = JIG + "A|dfe dcB|AFA DF:|g"
    assert "|" in allowed(rules, pickup) and "[" not in allowed(rules, pickup)
    assert "|" not in allowed(rules, pickup + "|")
    after_b = allowed(rules, start + " B")
    assert {"2", "3"} <= after_b and not {"4", "6"} & after_b  # B4 would overfill the bar
    full = allowed(rules, start + " B2A")
    assert "|" in full and not set("ABCDEFGabcdefgz^_=") & full  # nothing more fits
    assert "|" in allowed(rules, JIG + "A")  # a first bar may be short (a pickup)


def test_eos_only_after_a_final_bar_line(rules):
    body = JIG + "GAB cde|dBG B3"
    assert EOS not in allowed(rules, body)
    assert EOS not in allowed(rules, body + "|")
    assert EOS in allowed(rules, body + "|]")
    assert EOS in allowed(rules, body + ":|")


def test_a_tune_without_a_form_ends_on_a_note_that_lands(rules):
    """On a beat, holding (or resting) most of a beat to the end: no lead-in after it."""
    assert EOS not in allowed(rules, JIG + "GAB cde|dBG B2A:|")  # A: a lead-in
    assert "]" not in allowed(rules, JIG + "GAB cde|dBG B2A|")
    assert EOS in allowed(rules, JIG + "GAB cde|dBG B2z:|")  # B on the beat, then a rest
    assert EOS in allowed(rules, JIG + "A|dfe dcB|AFA D2:|")  # the pickup's eighth short
    assert EOS not in allowed(rules, JIG + "A|dfe dcB|AFA DF:|")


def test_steering_writes_long_rests_after_the_landing_note(rules):
    """Past the steering point the tune heads for its end in long values; after the
    note that may end it, rests fill the bar in long values too, not `z/ z// ...` until
    the length cap (seen with M:9/1 L:1/32)."""
    text = JIG.replace("6/8", "6/4") + "DEF GAB cde fga|\n"
    c = Constraint(rules, steer_at=len(text))
    c.feed(BOS)
    for ch in text + "D8z":  # D lands on the bar's first beat; the next beat is passed
        c.advance(VOCAB.index(ch))
    assert c.state.steer and c.state.lands
    assert {VOCAB[i] for i in np.flatnonzero(c.allowed())} == {"2", "3", "4"}


def test_nothing_dangles(rules):
    body = JIG + "GAB "
    assert allowed(rules, body + "^") <= set("ABCDEFGabcdefg^")
    assert not {"|", EOS, " "} & allowed(rules, body + "[c")
    assert not {"|", EOS, " "} & allowed(rules, body + "c>")  # a note or rest must follow
    assert allowed(rules, body + "c-|") & set("ABCDEFGabcdefg") == {"c"}  # tied: same pitch
    assert "\n" not in allowed(rules, JIG + "GAB\n")  # a blank line would end the tune
    assert ":" not in allowed(rules, JIG + "GAB cde|\nb")  # `b:` reads as a field (abc2midi)
    assert "{" not in allowed(rules, body + "{c}(")  # abc2midi: one grace group per note


def test_header_takes_only_values_the_parser_reads(rules):
    assert allowed(rules, "") == {"M"}
    assert allowed(rules, "M:6/") == {"1", "2", "4", "8"}
    assert "\n" not in allowed(rules, "M:6/8\nL:1/8\nK:B#")  # B# major: too many sharps


def test_masks_are_shared_between_equal_states(rules):
    a, b = written(rules, JIG + "GAB cde|"), written(rules, JIG + "dcB AGF|")
    assert a.state == b.state and a.allowed() is b.allowed()


def test_cached_answers_are_those_of_the_state_asked(model):
    """can_note caches by what a note's fit depends on: an answer cached for another
    state (another L:'s shortest note, another pickup) would refuse every length or
    allow a dead end. Walk tunes under many headers and ask again with the cache empty."""
    from abcgen.runtime.constrain import note_rules

    tunes, mask = constrained(model, "", num=60, seed=4)
    rules, checked = mask.rules, 0
    for tune in tunes:
        c = Constraint(rules, steer_at=100)
        c.feed(BOS)
        for ch in tune.text:
            s = c.state
            near = (s, s._replace(fine=4 * s.fine), s._replace(lead=s.lead + s.fine),
                    s._replace(carry=not s.carry), s._replace(content=not s.content))
            for state, letter in itertools.product(near, ("", "z", "G")):
                cached = note_rules.can_note(state, letter)
                kept = dict(note_rules._FIT)
                note_rules._FIT.clear()
                assert note_rules.can_note(state, letter) == cached, (tune.text, state)
                note_rules._FIT.update(kept)
                checked += 1
            c.advance(rules.vocab.index(ch))
    assert checked > 50_000 and len({t.text.split("\n")[1] for t in tunes}) > 3


def test_prime_with_what_generation_never_writes(rules):
    c = Constraint(rules)
    c.feed(BOS + 'M:6/8\nL:1/8\nK:G\n"G"GAB [K:D]cde|')
    assert not c.lost and c.allowed()[VOCAB.index("d")]
    c.feed("[M:3/4]")  # a meter change mid-tune: the rules stop following
    assert c.lost and c.allowed().all()


# -- the property, with a real (untrained) model ------------------------------


def constrained(model: Model, prime: str, num: int, seed: int, max_chars: int = 300):
    params = GeneratorParams(prefix=prime, num=num, seed=seed, max_chars=max_chars, form="free")
    gen = Generator(model, params)
    gen.append(params.prime)
    while not gen.is_done():
        gen.generate_next()
    return gen.results(), gen.mask


@pytest.mark.parametrize("prime", ["", JIG, "M:4/4\nL:1/8\nK:Dmix\n", "M:3/4\nL:1/4\nK:Em\n"])
def test_random_model_tunes_are_all_valid_and_ended(model, prime):
    tunes, mask = constrained(model, prime, num=250, seed=11)
    invalid = [t.text for t in tunes if not parse(t.text).valid]
    assert not invalid, invalid[0]
    assert all(t.ended for t in tunes)  # the length cap steered every tune to an end
    assert mask.fallbacks == 0 and mask.lost == 0
    free = generate(model, GeneratorParams(prefix=prime, num=50, seed=11, max_chars=300,
                                           free=True))
    assert sum(parse(t.text).valid for t in free) < 25  # the model alone is hopeless


@pytest.mark.slow
def test_thousands_of_random_model_tunes_are_valid(model):
    for seed, prime in enumerate(["", JIG, "M:2/4\nL:1/16\nK:A\n", "M:9/8\nL:1/8\nK:Gdor\n"]):
        tunes, mask = constrained(model, prime, num=1500, seed=seed, max_chars=500)
        assert all(parse(t.text).valid and t.ended for t in tunes)
        assert mask.fallbacks == 0


def assert_abc2midi_agrees(tunes) -> None:
    for tune in tunes:
        ref = run_abc2midi(tune.text)
        errors = [m.text for m in ref.messages if m.severity == "error"]
        assert not errors and not ref.bar_warnings, (tune.text, errors, ref.bar_warnings)


@pytest.mark.skipif(shutil.which("abc2midi") is None, reason="abc2midi is not installed")
def test_a_sample_is_valid_for_abc2midi(model):
    assert_abc2midi_agrees(constrained(model, JIG, num=25, seed=5)[0])


# A trained model writes what a random one never does (parts, repeats, pickups): the
# guarantee is checked on the shipped model too, tunes as `abcgen generate` makes them.
@pytest.mark.skipif(shutil.which("abc2midi") is None, reason="abc2midi is not installed")
@pytest.mark.parametrize("num", [pytest.param(100), pytest.param(1000, marks=pytest.mark.slow)])
def test_shipped_model_tunes_are_valid_for_our_parser_and_abc2midi(num):
    tunes, mask = constrained(Model(DEFAULT_MODEL), "", num=num, seed=num, max_chars=2000)
    assert mask.fallbacks == 0 and all(t.ended and parse(t.text).valid for t in tunes)
    assert_abc2midi_agrees(tunes)


def test_steering_ends_tunes_before_the_cap(model):
    tunes, _ = constrained(model, "M:12/8\nL:1/16\nK:C\n", num=60, seed=3, max_chars=260)
    assert all(t.ended and len(t.text) < 260 + 20 for t in tunes)
    assert all(parse(t.text).valid for t in tunes)


def test_generate_command_constrains_unless_free(model_path):
    args = ["generate", "--model", str(model_path), "--num", "6", "--seed", "2",
            "--max-chars", "300", "--meter", "6/8", "--key", "G"]
    tunes = split_tunebook(CliRunner().invoke(app, args).stdout)
    assert len(tunes) == 6 and all(parse(t).valid for t in tunes)
    free = split_tunebook(CliRunner().invoke(app, [*args, "--free"]).stdout)
    assert len(free) == 6 and not all(parse(t).valid for t in free)
