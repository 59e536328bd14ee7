"""The tune normaliser on real corpus tunes, on nasty input, and against abc2midi."""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections import Counter

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcgen.runtime.abc import normalise as normaliser
from abcgen.runtime.abc.corpus import raw_tunes
from abcgen.runtime.abc.header import canonical_key, header_text
from abcgen.runtime.abc.normalise import BOS, EOS, normalise, split_of, split_tunebook
from abcgen.runtime.errors import AbcgenError

# What may stand in a canonical body line once inline K:/M:/L: fields are taken out.
MUSIC_CHARS = set("ABCDEFGabcdefgzxZX^_=,'0123456789/|:[]{}()<>-~ ")
FINAL_BAR = re.compile(r"(\|\]|\|\||:[|:\]]*|:\|\d+)$")


@pytest.fixture(scope="module")
def real_tunes() -> list[str]:
    """Every third raw tune of the default corpus (about 4,300)."""
    return list(raw_tunes())[::3]


@pytest.fixture(scope="module")
def normalised(real_tunes) -> list[tuple[str, str, Counter[str]]]:
    """(raw, canonical text, steps) of the tunes kept."""
    kept = []
    for raw in real_tunes:
        result = normalise(raw)
        if result.text is not None:
            kept.append((raw, result.text, result.steps))
    return kept


def _body(text: str) -> list[str]:
    return text.split("\n")[3:]


def test_real_tunes_are_mostly_kept_and_canonical(real_tunes, normalised):
    assert len(normalised) > 0.97 * len(real_tunes)
    for _, text, _ in normalised:
        lines = text.split("\n")
        assert [line[:2] for line in lines[:3]] == ["M:", "L:", "K:"], text
        assert text.isascii() and BOS not in text and EOS not in text
        assert "" not in lines and all(line == line.strip() for line in lines), text
        assert FINAL_BAR.search(lines[-1]), lines[-1]
        for line in _body(text):
            if re.fullmatch(r"[KLM]:.*", line):  # a field line inside the body
                continue
            music = re.sub(r"\[[KLM]:[^\]]*\]", "", line)
            assert set(music) <= MUSIC_CHARS, line
            assert "  " not in music


def test_real_tunes_lose_text_fields_comments_strings(normalised):
    for raw, text, _ in normalised:
        assert not re.search(r"^[A-JN-Za-z+]:", text, re.M), text  # only K: L: M: lines
        assert "%" not in text and '"' not in text and "!" not in text
        title = re.search(r"^T:\s*(\S.{6,})$", raw, re.M)
        if title:
            assert title[1].strip() not in text


def test_normalise_is_idempotent_on_real_tunes(normalised):
    for _, text, _ in normalised:
        again = normalise(text)
        assert again.text == text, text
        assert again.drop is None


def test_chord_symbols_kept_only_on_request():
    raw = 'X:1\nM:4/4\nK:G\n"G"GABc "^slowly"d2 "Em7"e2|"D/F#"f4 "Coda"g4|]\n'
    plain = normalise(raw).text
    chords = normalise(raw, keep_chords=True).text
    assert '"' not in plain and "slowly" not in plain
    assert re.findall(r'"([^"]*)"', chords) == ["G", "Em7", "D/F#"]
    assert normalise(chords, keep_chords=True).text == chords
    assert chords.replace('"G"', "").replace('"Em7"', "").replace('"D/F#"', "") == plain


def _midi_pitches(abc: str, tmp_path) -> list[int]:
    """Melody pitches in time order, as abc2midi plays the tune."""
    src, mid = tmp_path / "t.abc", tmp_path / "t.mid"
    src.write_text(abc + "\n")
    mid.unlink(missing_ok=True)
    subprocess.run(["abc2midi", str(src), "-o", str(mid)], capture_output=True, check=True)
    events = []
    for track in mido.MidiFile(mid).tracks:
        now = 0
        for msg in track:
            now += msg.time
            if msg.type == "note_on" and msg.velocity and msg.channel == 0:
                events.append((now, msg.note))
    return [note for _, note in sorted(events)]


def test_normalising_keeps_every_note_abc2midi(normalised, tmp_path):
    # Skip what legitimately changes playback: trills (T, !..!, +..+ play extra
    # notes), parts (P: replays sections) and repaired bar lines (which end an
    # accidental's reach where the transcriber meant a bar).
    plain = [
        (raw, text)
        for raw, text, steps in normalised[::7]
        if not re.search(r"T|^P:|\[P:|!|\+", raw.split("\nK:", 1)[1], re.M)
        and not steps["bar-repaired"]
    ][:60]
    assert len(plain) == 60
    for raw, text in plain:
        expected = _midi_pitches(raw if raw.startswith("X:") else "X:1\n" + raw, tmp_path)
        assert expected
        assert _midi_pitches("X:1\n" + text, tmp_path) == expected, text


def test_canonical_keys_sound_the_same_abc2midi(real_tunes, tmp_path):
    values = {m[1].strip() for raw in real_tunes for m in re.finditer(r"^K:(.*)$", raw, re.M)}
    values |= {"A Dorian", "E minor", "Amin", "D mixolydian", "EM", "HP", "Hp", "C Ionian",
               "A aeolian", "G clef=treble", "Dmix=c", "F# Minor", "Ebmix", "Bloc"}  # fmt: skip
    scale = "M:4/4\nL:1/8\nK:{}\nCDEFGABc defgabc'|]"
    checked = 0
    for value in sorted(values):
        result = normalise("X:1\n" + scale.format(value))
        if result.drop:
            assert result.drop in ("bad-key", "no-key"), value
            continue
        key = result.text.split("\n")[2][2:]
        assert re.fullmatch(r"[A-G][#b]?(m|mix|dor|phr|lyd|loc)?( [_^=]{1,2}[a-g])*", key), key
        assert _midi_pitches("X:1\n" + scale.format(key), tmp_path) == _midi_pitches(
            "X:1\n" + scale.format(value.split("%")[0]), tmp_path
        ), value
        checked += 1
    assert checked > 40


def test_repaired_bar_lines_agree_with_abc2midi(normalised, tmp_path, monkeypatch):
    """abc2midi flags fewer bar-length faults with the repair than without it."""

    def faults(text: str) -> int:
        src = tmp_path / "t.abc"
        src.write_text("X:1\n" + text + "\n")
        out = subprocess.run(
            ["abc2midi", str(src), "-o", str(tmp_path / "t.mid")], capture_output=True, text=True
        ).stdout
        return sum("time units while the time signature" in line for line in out.splitlines())

    repaired = [(raw, text) for raw, text, steps in normalised if steps["bar-repaired"]]
    repaired = repaired[::10][:60]
    assert len(repaired) == 60
    with_repair = [faults(text) for _, text in repaired]
    monkeypatch.setattr(normaliser, "repair_bars", lambda *args: None)
    without = [faults(normalise(raw).text) for raw, _ in repaired]
    # abc2midi skips some bars (the first, the last): a repair can expose a
    # fault it hid, so a rare tune shows one more; overall there are far fewer.
    worse = sum(a > b for a, b in zip(with_repair, without, strict=True))
    assert worse <= 2
    assert sum(with_repair) < sum(without) / 2


@pytest.mark.parametrize(
    ("fields", "header"),
    [
        ("M:C\nL:1/8\nK:G", "M:4/4\nL:1/8\nK:G"),
        ("M:C|\nK:D", "M:2/2\nL:1/8\nK:D"),
        ("M: none\nK:Ador", "M:none\nL:1/8\nK:Ador"),
        ("K:E minor", "M:none\nL:1/8\nK:Em"),
        ("M:2/4\nK:A Dorian", "M:2/4\nL:1/16\nK:Ador"),
        ("M:5/8\nK:D mixolydian", "M:5/8\nL:1/16\nK:Dmix"),
        ("M:3/4\nK:Amin", "M:3/4\nL:1/8\nK:Am"),
        ("L: 1/16\nM:6/8\nK:Gm", "M:6/8\nL:1/16\nK:Gm"),
        ("L:1/4\nM: 2 + 3 / 8\nK:HP", "M:2+3/8\nL:1/4\nK:Amix"),
        ("M:4/4\nK:Bb Lydian clef=bass", "M:4/4\nL:1/8\nK:Bblyd"),
    ],
)
def test_header_is_canonical(fields, header):
    text = normalise(f"X:1\nT:t\n{fields}\nABcd|\n").text
    assert text.rsplit("\n", 1)[0] == header
    lines = header.split("\n")
    assert header_text(lines[0][2:], lines[2][2:], lines[1][2:]) == header + "\n"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("X:1\nT:no key\nM:4/4\nABcd|\n", "no-key"),
        ("X:1\nK:none\nABcd|\n", "no-key"),
        ("X:1\nK:H\nABcd|\n", "bad-key"),
        ("X:1\nM:7\nK:G\nABcd|\n", "bad-meter"),
        ("X:1\nL:1/0\nK:G\nABcd|\n", "bad-unit"),
        ("X:1\nT:only a title\nK:G\n", "empty-body"),
        ("X:1\nK:G\n%just a comment\nw:words\n", "empty-body"),
        ("X:1\nV:1\nV:2\nK:G\n[V:1]ABcd|\n[V:2]cdef|\n", "multi-voice"),
        ("X:1\nK:G\nABcd & cdef|\n", "multi-voice"),
        ("X:1\nK:G\nAB\ufffdcd|\n", "undecodable"),
        ("X:1\nK:G\nAB\x00cd|\n", "undecodable"),
        ("X:1\nK:G\n" + "ABcd|" * 400_000 + "\n", "too-long-line"),
    ],
)
def test_bad_tunes_are_dropped_with_a_reason(raw, reason):
    result = normalise(raw)
    assert result.text is None
    assert result.drop == reason


def test_one_declared_voice_is_kept():
    result = normalise("X:1\nV:1 clef=treble\nK:G\n[V:1]ABcd|\n")
    assert result.text == "M:none\nL:1/8\nK:G\nABcd|]"


def test_body_is_stripped_to_music():
    raw = (
        "X:1\nT:Title\nC:Composer\nM:6/8\nK:G % comment\n"
        "%%MIDI program 1\n"
        '"Am"!trill!A+fermata+B.c ~d TeuvH f|[P:B]"^ann"gfe [K:D]dcB|\\\n'
        "w:some lyrics\n"
        "(3ABc de`f g3 \\  % continued\n"
        "T:second title\n"
        "abc \t def|\n"
        "W:more words\n"
    )
    result = normalise(raw)
    assert result.text == "M:6/8\nL:1/8\nK:G\nABc ~d e f|gfe [K:D]dcB|(3ABc def g3 abc def|]"
    steps = result.steps
    assert steps["continuation"] == 2 and steps["lyrics"] == 2 and steps["directive"] == 1
    assert steps["decoration"] == 7 and steps["quoted-dropped"] == 2
    assert steps["final-bar-replaced"] == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("abc \\\ndef|", "abc def|]"),
        ("abc\\\n% comment\nw:la la\ndef|", "abcdef|]"),  # joins across dropped lines
        ('"x"\\\nM:3/4\nabc|', "M:3/4\nabc|]"),  # a field line ends the continuation
        ("abc|\\\n", "abc|]"),  # continued into the end of the tune
    ],
)
def test_continuation_lines(body, expected):
    assert normalise(f"X:1\nK:G\n{body}\n").text == "M:none\nL:1/8\nK:G\n" + expected


def test_music_that_looks_like_a_field_line():
    text = normalise("X:1\nM:2/4\nK:G\nABcd|A4\nA:|B4|\nZ:|]\nA:Ireland\n").text
    assert text == "M:2/4\nL:1/16\nK:G\nABcd|A4\nA:|B4|\nZ:|]"
    assert normalise(text).text == text


def test_body_ends_at_blank_line():
    result = normalise("X:1\nK:G\nABcd|\n\nThis is text after the tune.\n")
    assert result.text == "M:none\nL:1/8\nK:G\nABcd|]"
    assert result.steps["text-after-tune"] == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("ABc def\ngfe dcB|", "ABc def|\ngfe dcB|]"),  # full 6/8 bar: repaired
        ("ABc de\nf gfe dcB|", "ABc de\nf gfe dcB|]"),  # bar runs on: left alone
        ("ABc def\n|gfe dcB|", "ABc def\n|gfe dcB|]"),  # bar line on the next line
        ("(3ABc d2 e2\ngfe dcB|", "(3ABc d2 e2|\ngfe dcB|]"),  # 2 + 4 eighths
        ("A>Bc d2e\ngfe dcB|", "A>Bc d2e|\ngfe dcB|]"),
        ("[CEG]3 {g}A/B/c2\ngfe dcB|", "[CEG]3 {g}A/B/c2|\ngfe dcB|]"),
        ("ABc d2e>\nf gfe dcB|", "ABc d2e>\nf gfe dcB|]"),  # broken rhythm across: unsure
        ("ABc def\nM:3/4\ngfe dcB|", "ABc def|\nM:3/4\ngfe dcB|]"),
        ("AB | cde fga\ngfe | dcB |", "AB | cde fga |\ngfe | dcB |]"),  # spaced style
        ("abc def\ngfe dcB:|", "abc def|\ngfe dcB:|"),
        ("abc def\ngfe dcB||", "abc def|\ngfe dcB||"),
        ("abc def\ngfe dcB|:", "abc def|\ngfe dcB|]"),
    ],
)
def test_bar_line_repair_and_final_bar(body, expected):
    result = normalise(f"X:1\nM:6/8\nL:1/8\nK:G\n{body}\n")
    assert result.text == "M:6/8\nL:1/8\nK:G\n" + expected


def test_free_meter_is_never_repaired():
    assert normalise("X:1\nM:none\nK:G\nABCD\nEFGA\n").text == "M:none\nL:1/8\nK:G\nABCD\nEFGA|]"


def test_fragment_keeps_where_the_model_continues():
    prime = normalise("M:6/8\nK:D\nABc d", fragment=True)
    assert prime.text == "M:6/8\nL:1/8\nK:D\nABc d"
    assert normalise("M:6/8\nK:D\n", fragment=True).text == "M:6/8\nL:1/8\nK:D\n"
    assert normalise("M:6/8\nK:D\nABc ", fragment=True).text.endswith("ABc ")


def test_header_text_validates_choices():
    assert header_text(None, None, None) == ""
    assert header_text("C|", None, None) == "M:2/2\nL:1/8\n"
    assert header_text("3/8", "e dorian", None) == "M:3/8\nL:1/16\nK:Edor\n"
    for meter, key, unit in [("7", None, None), ("4/4", "X", None), ("4/4", None, "1/0"),
                             (None, "G", None), ("4/4", "none", None)]:  # fmt: skip
        with pytest.raises(AbcgenError):
            header_text(meter, key, unit)
    assert canonical_key("F# Minor") == "F#m"


def test_header_text_primes_a_tune_that_normalises_to_itself():
    header = header_text("6/8", "A mixolydian", None)
    text = normalise(header + "ABc def|gfe dcB|]").text
    assert text.startswith(header) and normalise(text).text == text


def test_split_tunebook():
    book = "% preamble\nT:not a tune\n\nX:1\nK:G\nABc|\n\nX:2\nK:D\ndef|\n"
    assert split_tunebook(book) == ["X:1\nK:G\nABc|\n\n", "X:2\nK:D\ndef|\n"]
    assert split_tunebook("T:loose\nK:G\nABc|\n") == ["T:loose\nK:G\nABc|\n"]
    assert split_tunebook("just text\n") == []


def test_split_rule_recomputed(normalised):
    counts = Counter()
    for _, text, _ in normalised[::4]:
        digest = hashlib.sha256(re.sub(r"\s", "", text).encode()).hexdigest()
        bucket = int(digest[:8], 16) % 100
        expected = "train" if bucket <= 89 else "valid" if bucket <= 94 else "test"
        assert split_of(text) == expected
        assert split_of(text.replace("\n", "\n  ").replace("|", " | ")) == expected
        counts[expected] += 1
    total = sum(counts.values())
    assert 0.85 < counts["train"] / total < 0.95
    assert counts["valid"] and counts["test"]


# ---------------------------------------------------------------- fuzz

ABC_ALPHABET = st.sampled_from(
    [*"ABCDEFGabcdefgzxZyH.~TuvMK:|[]{}()<>-/23'=_^,!+\"% \\&\n", "\n\n", "X:1\n", "K:G\n"]
)


def _check(raw: str) -> None:
    result = normalise(raw)
    assert (result.text is None) != (result.drop is None)
    if result.text is not None:
        assert normalise(result.text).text == result.text
        assert result.text.split("\n")[2].startswith("K:")


@settings(max_examples=300, deadline=None)
@given(st.lists(ABC_ALPHABET, max_size=80).map("".join))
def test_fuzz_random_abc_text(body):
    _check("X:1\nM:6/8\nK:G\n" + body)
    _check(body)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fuzz_mutated_real_tunes(real_tunes, data):
    raw = data.draw(st.sampled_from(real_tunes[:400]))
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(raw)))
        if data.draw(st.booleans()):
            raw = raw[:at] + data.draw(ABC_ALPHABET) + raw[at:]
        else:
            raw = raw[:at] + raw[at + data.draw(st.integers(1, 5)) :]
    _check(raw)
