"""Generating in a form: the automaton's form rules on hand-written tunes (every layout
it lets through checked by the real abc2midi), and the property that tunes sampled
under a form from a random (untrained) model have that form, keep their cadences
and are valid for our parser and abc2midi."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from cli import run
from tiny_models import exported, real_tunes, vocab_of

from abcgen.runtime.abc.form import FIFTH, TONIC, read_form, spec_of
from abcgen.runtime.abc.normalise import BOS, EOS, split_tunebook
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.constrain.forms import form_choice
from abcgen.runtime.constrain.mask import BatchConstraint, Constraint
from abcgen.runtime.constrain.rules import Rules
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.evaluate.abc2midi import run_abc2midi
from abcgen.runtime.generate.generator import Generator
from abcgen.runtime.generate.onnx_model import Model
from abcgen.runtime.generate.params import GeneratorParams

VOCAB = vocab_of(real_tunes())
JIG = "M:6/8\nL:1/8\nK:D\n"
A7 = "dfe dcB|AFA DFA|dfe dcB|AFA DFA|dfe dcB|AFA DFA|dfe dcB|"  # seven full bars
B7 = "fed cBA|dBG AFA|fed cBA|dBG AFA|fed cBA|dBG AFA|fed cBA|"
HAS_ABC2MIDI = shutil.which("abc2midi") is not None


@pytest.fixture(scope="module")
def rules():
    return Rules(VOCAB)


def written(rules: Rules, text: str, form: str) -> Constraint:
    """A constraint that has followed `text` as generation would write it, in `form`."""
    c = Constraint(rules, form=form)
    c.feed(BOS)
    for i, ch in enumerate(text):
        assert c.allowed()[VOCAB.index(ch)], f"{ch!r} refused after {text[:i]!r}"
        c.advance(VOCAB.index(ch))
    return c


def allowed(rules: Rules, text: str, form: str = "AABB:8") -> set[str]:
    return {VOCAB[i] for i in np.flatnonzero(written(rules, text, form).allowed())}


def abc2midi_clean(text: str) -> bool:
    ref = run_abc2midi(text)
    return not ref.bar_warnings and not any(m.severity == "error" for m in ref.messages)


LAYOUTS = [
    ("AABB:8", "|:A|" + A7 + "AFA D2:|\n|:A|" + B7 + "dBG D2:|"),  # pickups, repeats opened
    ("AABB:8", "A|" + A7 + "AFA D2:|\nA|" + B7 + "dBG D2:|"),  # B repeats from A's `:|`
    ("AABB:8", A7 + "AFA D3::" + B7 + "dBG D3:|"),
    ("AABB:8", "|:A|" + A7 + "1 AFA DF:|2 AFA D2||\n|:A|" + B7 + "dBG D2:|"),  # endings
    ("AABB:8", A7 + "1 AFA DFA:|2 AFA A3|| |:" + B7 + "1 dBG A3:|2 dBG D3|]"),
    ("AB:8", "A|" + A7 + "AFA D2||\nA|" + B7 + "dBG D2|]"),
    ("ABB:8", A7 + "AFA A3|:" + B7 + "dBG D3:|"),  # once, then repeated
    ("AAB:8", "|:" + A7 + "AFA D3:|\n" + B7 + "dBG D3||"),
    ("ABC:4", "dfe dcB|AFA DFA|dfe dcB|AFA D3||\nfed cBA|dBG AFA|fed cBA|dBG D3||\n"
              "dfe dcB|AFA DFA|dfe dcB|AFA D3|]"),
    ("AABBCC:2", "dfe dcB|AFA D3::fed cBA|dBG D3::dfe dcB|AFA D3:|"),
    ("A:8", A7 + "AFA D3|]"),
]


@pytest.mark.parametrize(("form", "body"), LAYOUTS)
def test_layouts_musicians_write_are_accepted_and_valid(rules, form, body):
    c = written(rules, JIG + body, form)
    assert c.allowed()[VOCAB.index(EOS)] and not c.lost
    tune = parse(JIG + body)
    assert tune.valid and read_form(tune).matches(spec_of(form))
    if HAS_ABC2MIDI:
        assert abc2midi_clean(JIG + body), body


def test_bars_inside_a_part_are_plain_and_full(rules):
    assert allowed(rules, JIG + "dfe dcB|AFA DFA|dfe dcB") & set("|:") == {"|"}
    assert not allowed(rules, JIG + "dfe dcB|AFA DFA|dfe dcB|") & set("|:]")  # no `||` `|:`
    assert "1" not in allowed(rules, JIG + "dfe dcB|")  # endings only in a part's last bar
    assert "1" in allowed(rules, JIG + A7)


def test_a_part_ends_after_its_bars_with_its_repeat(rules):
    end = allowed(rules, JIG + A7 + "AFA D3")
    assert ":" in end and "|" not in end  # `:|`, not a plain bar line
    assert allowed(rules, JIG + A7 + "AFA D3:") == {"|", ":"}  # `:|` or `::` (B repeats)
    assert allowed(rules, JIG + A7 + "AFA D3:|" + B7 + "dBG D3:|") == {EOS}
    assert allowed(rules, JIG + A7 + "AFA D3||", "AB:8") >= {"\n", " ", "f", "z"}
    assert allowed(rules, JIG + A7 + "AFA D3|", "A:8") == {"|", "]"}  # `||` `|]` end it


def test_a_short_last_bar_only_where_the_pickup_completes_it(rules):
    assert ":" not in allowed(rules, JIG + A7 + "AFA D2")  # no pickup: the bar is full
    assert ":" in allowed(rules, JIG + "A|" + A7 + "AFA D2")
    assert ":" not in allowed(rules, JIG + "A|" + A7 + "AFA D")
    assert "|" not in allowed(rules, JIG + "A|" + A7 + "AFA D", "A:8")  # the tune's end too


def test_parts_end_on_the_tonic_the_first_also_on_the_fifth(rules):
    assert ":" in allowed(rules, JIG + A7 + "AFA E2D")  # D, the tonic
    assert ":" in allowed(rules, JIG + A7 + "AFA E2A")  # A, the fifth, ends the A part
    assert "F" not in allowed(rules, JIG + A7 + "AFA E2")  # the last unit is the cadence's
    assert ":" not in allowed(rules, JIG + A7 + "AFA EF")  # F cannot fill the bar
    assert "/" in allowed(rules, JIG + A7 + "AFA EF")  # ... a shorter F may still come
    b_end = JIG + A7 + "AFA D3:|" + B7 + "dBG E2"
    assert "D" in allowed(rules, b_end) and "A" not in allowed(rules, b_end)
    assert ":" in allowed(rules, JIG + A7 + "AFA D2z")  # rests after the tonic are fine
    assert "z" not in allowed(rules, JIG + A7 + "AFA E2")


def test_the_key_signature_spells_the_cadence(rules):
    assert not allowed(rules, JIG + A7 + "AFA ^") & set("DdAa")  # no accidental on them
    assert allowed(rules, JIG + A7 + "AFA ^") >= set("CcGg")
    assert "d" in allowed(rules, JIG + "dfe ^")  # elsewhere any accidental
    assert "-" not in allowed(rules, JIG + A7 + "AFA D")  # no tie in a part's last bar
    assert "-" in allowed(rules, JIG + A7[:-9])
    tied = allowed(rules, JIG + A7[:-8] + "dfe d3-|d")  # tied in: it may carry an
    assert "3" in tied and "6" not in tied  # accidental, so it never ends the part


def test_a_repeated_part_after_one_played_once_opens_with_its_repeat(rules):
    after = JIG + A7 + "AFA A3||"
    assert not allowed(rules, after, "ABB:8") & set("ABCDEFGabcdefgz")
    assert "|" in allowed(rules, after + " ", "ABB:8")  # `|| |:`
    assert "f" in allowed(rules, after + " |:", "ABB:8")


def test_a_form_needs_a_meter(rules):
    assert "n" not in allowed(rules, "M:", "AABB:8")
    assert "n" in allowed(rules, "M:", "")


@pytest.mark.parametrize(("prefix", "message"), [
    (A7 + "AFA DFA|", "bar 8 of part A ends here; its last bar ends with `:|`"),
    ("dfe dcB:|", "part A ends after 1 bars; it needs 8"),
    (A7 + "AFA E3:|", "part A does not end on the tonic or the fifth"),
])  # fmt: skip
def test_a_prime_that_cannot_take_the_form_is_refused_with_the_reason(prefix, message):
    mask = BatchConstraint(VOCAB, 2, form=form_choice("AABB"))
    with pytest.raises(AbcgenError, match=message.replace("|", r"\|")):
        mask.feed([BOS + JIG + prefix] * 2)


# -- the property, with a real (untrained) model ------------------------------


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    # scale 3: peaked logits, like a trained model's, yet no training at all
    return exported(tmp_path_factory.mktemp("fmodel"), layers=1, hidden=64, scale=3.0)


@pytest.fixture(scope="module")
def model(model_path):
    return Model(model_path)


def test_generate_command_in_a_form_to_musicxml(model_path, tmp_path, capsys):
    args = ["generate", "--model", str(model_path), "--meter", "6/8", "--key", "D",
            "--seed", "3", "--form", "AABB", "--part-bars", "4"]
    code, out, err = run([*args, "--num", "3"], capsys)
    assert code == 0, err
    assert all(read_form(parse(t)).matches(spec_of("AABB:4")) for t in split_tunebook(out))
    code, _, err = run([*args, "-o", str(tmp_path / "tune.musicxml")], capsys)
    assert code == 0 and (tmp_path / "tune.musicxml").read_text().count(
        '<repeat direction="backward"') == 2


@pytest.mark.parametrize(("extra", "message"), [
    (["--prefix", A7 + "AFA DFA|"], "bar 8 of part A ends here"),
    (["--free"], "needs the constraint mask"),
    (["--form", "AAA"], "parts are lettered"),
    (["--form", "auto", "--part-bars", "16"], "goes with a form such as AABB"),
])  # fmt: skip
def test_generate_command_refuses_what_cannot_take_the_form(model_path, capsys, extra, message):
    args = ["generate", "--model", str(model_path), "--meter", "6/8", "--key", "D",
            "--form", "AABB", *extra]
    code, out, err = run(args, capsys)
    assert code == 2 and err.startswith("error: ") and message in err and not out


PRIMES = ["M:6/8\nL:1/8\nK:G\n", "M:4/4\nL:1/8\nK:Dmix\n", "M:3/4\nL:1/4\nK:Em\n",
          "M:9/8\nL:1/8\nK:Ador\n", "M:2/4\nL:1/16\nK:Bb\n"]


def sampled(model: Model, form: str, prime: str, num: int, seed: int):
    gen = Generator(model, GeneratorParams(prefix=prime, num=num, seed=seed, form=form))
    gen.append(gen.params.prime)
    while not gen.is_done():
        gen.generate_next()
    assert gen.mask.fallbacks == 0 and gen.mask.lost == 0
    return gen.results()


def assert_in_form(tunes, form: str) -> None:
    spec = form_choice(form).spec
    for tune in tunes:
        parsed = parse(tune.text)
        found = read_form(parsed)
        assert tune.ended and parsed.valid, tune.text
        assert found.last == TONIC and all(found.cadences_kept(spec)), tune.text
        assert spec is None or found.matches(spec), (tune.text, found)
        assert found.parts[0].last in (TONIC, FIFTH)


@pytest.mark.parametrize(("form", "prime"), [
    ("AABB", PRIMES[0]), ("AB", PRIMES[1]), ("AABBCC", PRIMES[2]), ("ABC", PRIMES[3]),
    ("AAB", PRIMES[4]),
])  # fmt: skip
def test_random_model_tunes_take_the_form_asked_for(model, form, prime):
    tunes = sampled(model, form, prime, num=50, seed=3)
    assert_in_form(tunes, form)
    if HAS_ABC2MIDI:
        assert all(abc2midi_clean(t.text) for t in tunes[:10])


def test_auto_draws_the_corpus_forms_of_the_meter(model):
    tunes = sampled(model, "auto", PRIMES[0], num=50, seed=4)
    found = [read_form(parse(t.text)) for t in tunes]
    assert all(t.ended and parse(t.text).valid for t in tunes)
    names = {f.text for f in found}
    assert {"AABB", "A"} <= names  # the jigs' two commonest forms (generate/forms.py)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["AABB", "AB", "AABBCC", "ABC", "A", "auto"])
def test_thousands_of_random_model_tunes_per_form(model, form):
    for seed, prime in enumerate(PRIMES):
        tunes = sampled(model, form, prime, num=400, seed=seed)
        if form == "auto":
            assert all(t.ended and parse(t.text).valid for t in tunes)
        else:
            assert_in_form(tunes, form)
        if HAS_ABC2MIDI:
            assert all(abc2midi_clean(t.text) for t in tunes[:60])
