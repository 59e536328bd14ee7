"""The vocabulary: ids 0/1 are BOS/EOS, every corpus character has an id, and
encode/decode are inverse on real tunes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abcgen.runtime.abc.corpus import default_corpus_paths
from abcgen.runtime.abc.normalise import BOS, EOS, normalise, split_tunebook
from abcgen.runtime.errors import AbcgenError
from abcgen.trainer.vocab import Vocab


@pytest.fixture(scope="module")
def tunes() -> list[str]:
    raw = (default_corpus_paths()[0] / "0001-0050.abc").read_text(encoding="latin-1")
    texts = [normalise(t).text for t in split_tunebook(raw)]
    return [t for t in texts if t]


def test_ids_are_bos_eos_then_sorted_characters(tunes):
    vocab = Vocab.from_texts(tunes)
    assert vocab.tokens[:2] == [BOS, EOS]
    assert (vocab.bos, vocab.eos) == (0, 1)
    rest = vocab.tokens[2:]
    assert rest == sorted(rest)
    assert set(rest) == set("".join(tunes))


def test_round_trip_on_real_tunes(tunes):
    vocab = Vocab.from_texts(tunes)
    for tune in tunes:
        ids = vocab.encode_tune(tune)
        assert ids[0] == vocab.bos and ids[-1] == vocab.eos
        assert vocab.decode(ids) == BOS + tune + EOS
        assert vocab.decode(vocab.encode(tune)) == tune


@given(st.text(alphabet="ABCabc|:/2 \n^_=", min_size=0, max_size=200))
def test_round_trip_any_text_over_the_alphabet(text):
    vocab = Vocab.from_texts(["ABCabc|:/2 \n^_="])
    assert vocab.decode(vocab.encode(text)) == text


def test_unknown_characters_and_ids_are_errors(tunes):
    vocab = Vocab.from_texts(tunes)
    with pytest.raises(AbcgenError, match="'€' is not in the vocabulary"):
        vocab.encode("K:G\nAB€")
    with pytest.raises(AbcgenError, match="outside"):
        vocab.decode([2, len(vocab)])
    with pytest.raises(AbcgenError, match="outside"):
        vocab.decode([-1])


def test_a_stored_list_must_start_with_bos_eos():
    with pytest.raises(AbcgenError):
        Vocab(["a", BOS, EOS])
    with pytest.raises(AbcgenError):
        Vocab([BOS, EOS, "a", "a"])
    assert Vocab([BOS, EOS, "a"]).encode("aa").tolist() == [2, 2]
