"""The ABC parser against the ABC 2.1 rules it implements, one feature at a time.

Expected values are worked out from the standard in each test (C is MIDI 60,
an eighth note is 1/8 of a whole note...), not copied from the parser's output.
Agreement with abc2midi on real tunes is tests/test_abc2midi_agreement.py.
"""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from abcgen.runtime.abc.corpus import default_corpus_paths
from abcgen.runtime.abc.events import Bar, ChordSymbol, FieldChange, Note
from abcgen.runtime.abc.meter import parse_meter, parse_tempo
from abcgen.runtime.abc.parser import Parser, parse

HEAD = "X:1\nM:4/4\nL:1/8\nK:C\n"


def notes(body: str, head: str = HEAD) -> list[Note]:
    return parse(head + body).notes


def midi(body: str, head: str = HEAD) -> list[int]:
    return [n.pitch.midi for n in notes(body, head) if n.pitch is not None]


def errors(text: str) -> list[str]:
    return [d.message for d in parse(text).diagnostics if d.severity == "error"]


# -- pitch ---------------------------------------------------------------------


def test_octave_marks_and_accidentals():
    assert midi("C, C c c' ^C _C =C ^^C __C | c,, C''|") == [
        48, 60, 72, 84, 61, 59, 60, 62, 58, 48, 84,
    ]  # fmt: skip


def test_accidental_lasts_to_the_bar_line_in_every_octave_like_abc2midi():
    # ^F makes every later F of the bar sharp, in any octave; the bar line ends it
    assert midi("^F F f F | F") == [66, 66, 78, 66, 65]


def test_propagate_accidentals_directive_chooses_how_far_an_accidental_reaches():
    body = "^F F f | F ^f F f|"
    assert midi(body, "%%propagate-accidentals octave\nK:C\n") == [66, 66, 77, 65, 78, 65, 78]
    assert midi(body, "%%propagate-accidentals not\nK:C\n") == [66, 65, 77, 65, 78, 65, 77]
    # in the body it takes effect from there on
    assert midi("^F f|\n%%propagate-accidentals octave\n^F f|", "K:C\n") == [66, 78, 66, 77]
    assert errors("%%propagate-accidentals sideways\nK:C\nF|") == [
        "%%propagate-accidentals must be one of not, octave, pitch"
    ]


def test_natural_cancels_the_key_signature_until_the_bar_line():
    assert midi("F =F F | F", "K:G\n") == [66, 65, 65, 66]


def test_tied_note_keeps_its_accidental_over_the_bar_line():
    ns = notes("^F2-|F2 F2")
    assert [n.pitch.midi for n in ns] == [66, 66, 65]
    assert [n.tie for n in ns] == [True, False, False]


def test_a_chord_symbol_does_not_detach_a_tie_from_its_note():
    # `G4|"G"-G4`: the tie is written after the next bar's chord symbol
    ns = notes('G4|"G"-G4|')
    assert [(n.tie, n.duration) for n in ns] == [(True, F(1, 2)), (False, F(1, 2))]
    assert not parse(HEAD + 'G4|"G"-G4|').diagnostics


C_MAJOR = {"C": 60, "D": 62, "E": 64, "F": 65, "G": 67, "A": 69, "B": 71}


@pytest.mark.parametrize(
    ("key", "altered"),
    [
        ("G", {"F": 1}),
        ("F", {"B": -1}),
        ("Em", {"F": 1}),
        ("Ador", {"F": 1}),  # A dorian has G major's signature
        ("Dmix", {"F": 1}),  # D mixolydian: one sharp, C natural
        ("E Minor", {"F": 1}),
        ("F#m", {"F": 1, "C": 1, "G": 1}),
        ("Bb", {"B": -1, "E": -1}),
        ("Dphr", {"B": -1, "E": -1}),  # D phrygian has B flat major's signature
        ("Flyd", {}),
        ("Bloc", {}),
        ("Glydian", {"F": 1, "C": 1}),
        ("C#", {s: 1 for s in "FCGDAEB"}),
        ("Cb", {s: -1 for s in "BEADGCF"}),
        ("HP", {"F": 1, "C": 1}),  # Highland pipes: F# C#, G natural
        ("D exp ^c", {"C": 1}),  # only the accidentals given
        ("Dmix ^g", {"F": 1, "G": 1}),
        ("none", {}),
    ],
)
def test_key_signatures_of_all_modes(key, altered):
    expected = [C_MAJOR[s] + altered.get(s, 0) for s in "CDEFGAB"]
    assert midi("CDEFGAB|", f"M:4/4\nL:1/8\nK:{key}\n") == expected


def test_unknown_mode_is_an_error_and_reads_the_tonic_as_major():
    # abc2midi: "Unknown mode", and it plays the tonic's major scale
    tune = parse("M:4/4\nL:1/8\nK:Es\nF|")
    assert [n.pitch.midi for n in tune.notes] == [66]  # E major has F#
    assert errors("M:4/4\nL:1/8\nK:Es\nF|") == ["K: unknown mode 's', read as major"]


@pytest.mark.parametrize(
    ("key", "midis", "problem"),
    [("Dm^c", [61, 62, 64, 65], None),  # accidentals glued to the mode, as abc2midi reads them
     ("D ^c^g", [61, 62, 64, 66], None),
     ("A^E2", [61, 62, 64, 66], "error"),  # the key line ran into the music
     ("Am^E2", [60, 62, 64, 65], "warning"),
     ("C xyz", [60, 62, 64, 65], "warning")],
)  # fmt: skip
def test_key_lines_read_as_abc2midi_reads_them(key, midis, problem):
    tune = parse(f"M:4/4\nL:1/8\nK:{key}\nCDEF|")
    assert [n.pitch.midi for n in tune.notes] == midis
    assert [d.severity for d in tune.diagnostics] == ([problem] if problem else [])


def test_a_header_line_ending_in_a_backslash_goes_on_and_a_spacer_takes_a_width():
    header = "X:1\nZ:licensed under Creative Commons Licens\\\ne.\nM:3/4\nL:1/8\nK:A\n"
    tune = parse(header + "y0 EA|]\n")
    assert tune.fields["Z"] == "licensed under Creative Commons License."
    assert [n.pitch.midi for n in tune.notes] == [64, 69] and not tune.diagnostics


def test_spelled_pitch_and_written_accidental():
    a, b = notes("^c _B|")
    assert (a.pitch.step, a.pitch.octave, a.pitch.alter, a.accidental) == ("C", 5, 1, "sharp")
    assert (b.pitch.step, b.pitch.octave, b.pitch.alter, b.accidental) == ("B", 4, -1, "flat")


# -- time ----------------------------------------------------------------------


def test_lengths():
    durations = [n.duration for n in notes("A2 A/2 A/ A// A3/2 A3/ A A4|")]
    assert durations == [
        F(2, 8),
        F(1, 16),
        F(1, 16),
        F(1, 32),
        F(3, 16),
        F(3, 16),
        F(1, 8),
        F(4, 8),
    ]


def test_onsets_accumulate_exactly():
    ns = notes("A2 B/ c/ d3/ e/|")
    ends = [n.onset + n.duration for n in ns]
    assert [n.onset for n in ns] == [F(0), *ends[:-1]]


@pytest.mark.parametrize(
    ("meter", "unit"),
    [("2/4", F(1, 16)), ("3/4", F(1, 8)), ("6/8", F(1, 8)), ("C|", F(1, 8)), ("none", F(1, 8))],
)
def test_default_unit_length_follows_the_meter(meter, unit):
    tune = parse(f"M:{meter}\nK:C\nA|")
    assert tune.unit == unit
    assert tune.notes[0].duration == unit


def test_unit_length_without_meter_is_an_eighth():
    assert parse("K:C\nA|").notes[0].duration == F(1, 8)


@pytest.mark.parametrize(
    ("body", "first", "second"),
    [("A>B", F(3, 2), F(1, 2)), ("A<B", F(1, 2), F(3, 2)), ("A>>B", F(7, 4), F(1, 4)),
     ("A<<B", F(1, 4), F(7, 4)), ("A>>>B", F(15, 8), F(1, 8)), ("A > B", F(3, 2), F(1, 2)),
     ("[CE]>[DF]", F(3, 2), F(1, 2))],
)  # fmt: skip
def test_broken_rhythm(body, first, second):
    ns = [n for n in notes(body + "|") if n.chord_index == 0]
    assert [n.duration for n in ns] == [first / 8, second / 8]
    assert ns[1].onset == first / 8


def test_broken_rhythm_reaches_over_a_chord_symbol():
    # `B>"F"cA2 z2|`: the symbol sits on c; B is still dotted and the bar is full
    tune = parse("M:3/4\nL:1/8\nK:F\n" + 'B>"F"cA2 z2|')
    assert [n.duration for n in tune.notes] == [F(3, 16), F(1, 16), F(1, 4), F(1, 4)]
    assert [(e.text, e.onset) for e in tune.events if isinstance(e, ChordSymbol)] == [
        ("F", F(3, 16))]
    assert tune.valid


def test_triplet_takes_the_time_of_two():
    ns = notes("(3ABc d|")
    assert [n.duration for n in ns] == [F(1, 12)] * 3 + [F(1, 8)]
    assert [n.tuplet for n in ns] == [(3, 2, 0), (3, 2, 1), (3, 2, 2), None]
    assert ns[3].onset == F(1, 4)
    assert all(n.written == F(1, 8) for n in ns)


def test_tuplet_p_q_r():
    ns = notes("(3:2:2A2B c|")  # two notes in the time of two of three
    assert [n.duration for n in ns] == [F(2, 8) * F(2, 3), F(1, 8) * F(2, 3), F(1, 8)]


@pytest.mark.parametrize(("meter", "q"),
                         [("6/8", 3), ("4/4", 2), ("3/4", 3), ("15/8", 3), ("2+3/8", 2)])
def test_quintuplet_default_follows_the_meter_as_abc2midi_reads_it(meter, q):
    ns = parse(f"M:{meter}\nL:1/8\nK:C\n(5ABcde f|").notes
    assert [n.duration for n in ns[:5]] == [F(1, 8) * F(q, 5)] * 5


def test_chord_notes_share_onset_and_take_the_first_notes_length():
    tune = parse(HEAD + "[CEG]2 [C2E] A|")
    ns = tune.notes
    assert [n.pitch.midi for n in ns] == [60, 64, 67, 60, 64, 69]
    assert [n.chord_index for n in ns] == [0, 1, 2, 0, 1, 0]
    assert [n.onset for n in ns] == [0, 0, 0, F(1, 4), F(1, 4), F(1, 2)]
    assert [n.duration for n in ns[:5]] == [F(1, 4)] * 5  # [C2E]: E sounds as long as C2
    assert any("chord" in d.message for d in tune.diagnostics)


def test_grace_notes_take_no_time():
    ns = notes("{ga}A {/g}B|")
    assert [(n.grace, n.onset) for n in ns] == [(True, 0), (True, 0), (False, 0), (True, F(1, 8)),
                                                (False, F(1, 8))]  # fmt: skip
    assert "acciaccatura" in ns[3].decorations


def test_decorations_are_recorded_not_played():
    ns = notes("~A .B !trill!c +fermata+d TA uB|")
    assert [n.decorations for n in ns] == [("~",), (".",), ("trill",), ("fermata",), ("T",), ("u",)]
    assert [n.onset for n in ns] == [F(i, 8) for i in range(6)]


def test_rests():
    ns = notes("z2 x A|Z3|B|")
    assert [(n.pitch, n.invisible) for n in ns[:2]] == [(None, False), (None, True)]
    z = ns[3]
    assert (z.measures, z.duration, z.bar) == (3, F(3), 1)
    assert (ns[4].bar, ns[4].onset) == (4, F(1, 2) + 3)  # three bars of rest: B in bar 4


# -- other events ------------------------------------------------------------------


def test_chord_symbols_are_events_and_annotations_are_dropped():
    tune = parse(HEAD + '"Am"A "^slower"B "G7"c "(D)"d|')
    symbols = [(e.text, e.onset) for e in tune.events if isinstance(e, ChordSymbol)]
    assert symbols == [("Am", 0), ("G7", F(2, 8)), ("(D)", F(3, 8))]


def test_bar_lines_endings_and_numbers():
    tune = parse(HEAD + "|: A8 :|[1 B8 :|2 c8 || d8 |] [| e8 ::\nf8 [|]")
    bars = [(b.kind, b.ending, b.number) for b in tune.events if isinstance(b, Bar)]
    assert bars == [
        ("|:", None, 0),  # closes no bar: its number is that of the bar it opens
        (":|", "1", 0),
        (":|", "2", 1),
        ("||", None, 2),
        ("|]", None, 3),
        ("[|", None, 4),
        ("::", None, 4),
        ("[|", None, 5),
    ]
    assert [n.bar for n in tune.notes] == [0, 1, 2, 3, 4, 5]


def test_ending_after_a_space_or_line_break_belongs_to_the_bar_line():
    tune = parse(HEAD + "A8 :|\n[2 B8 | [1,3 c8|")
    assert [(b.kind, b.ending) for b in tune.events if isinstance(b, Bar)] == [
        (":|", "2"), ("|", "1,3"), ("|", None)]  # fmt: skip


def test_inline_fields_change_key_meter_and_length():
    tune = parse(HEAD + "F [K:D] F [L:1/4] F [M:3/4] F|")
    ns = tune.notes
    assert [n.pitch.midi for n in ns] == [65, 66, 66, 66]
    assert [n.duration for n in ns] == [F(1, 8), F(1, 8), F(1, 4), F(1, 4)]
    changes = [(e.name, e.onset) for e in tune.events if isinstance(e, FieldChange) and e.onset]
    assert changes == [("K", F(1, 8)), ("L", F(2, 8)), ("M", F(1, 2))]
    assert [e.meter for e in tune.events if isinstance(e, FieldChange) and e.name == "M"][
        -1
    ].numerator == 3


def test_field_lines_in_the_body():
    tune = parse(HEAD + "F8|\nK:D\nF8|\nM:3/4\nT:Second part\nF6|")
    assert [n.pitch.midi for n in tune.notes] == [65, 66, 66]
    assert tune.valid


def test_header_values():
    tune = parse(
        "X:7\nT:The Tune\nT:Other title\nC:Trad\nR:reel\nM:C|\nL:1/8\nQ:1/2=90\nK:Ador\nA|"
    )
    assert tune.title == "The Tune"
    assert (tune.meter.numerator, tune.meter.denominator, tune.meter.symbol) == (2, 2, "cut")
    assert tune.tempo == 180  # half notes at 90: 180 quarter notes a minute
    assert (tune.key.tonic, tune.key.mode, tune.key.fifths) == ("A", "dor", 1)
    assert tune.fields["C"] == "Trad" and tune.fields["R"] == "reel"


@pytest.mark.parametrize(("value", "quarters"), [("1/4=120", 120), ("3/8=80", 120), ("120", 120),
                                                  ('"Allegro" 1/4=100', 100)])  # fmt: skip
def test_tempo(value, quarters):
    assert parse(f"M:6/8\nL:1/8\nQ:{value}\nK:C\nA|").tempo == pytest.approx(quarters * (
        0.5 if value == "120" else 1))  # fmt: skip  # a bare 120 counts L: eighths


def test_continuation_lines_comments_and_directives():
    tune = parse(HEAD + "AB\\\ncd % a comment\n%%MIDI program 1\n% whole-line comment\nef|")
    assert [n.pitch.step for n in tune.notes] == list("ABCDEF")
    assert tune.diagnostics == []


def test_positions_are_line_and_column():
    tune = parse(HEAD + "AB |\n  c")
    assert [(n.line, n.col) for n in tune.notes] == [(5, 1), (5, 2), (6, 3)]


def test_canonical_tune_without_x():
    tune = parse("M:6/8\nL:1/8\nK:Em\nEFG|]\n")
    assert tune.valid and [n.pitch.midi for n in tune.notes] == [64, 66, 67]


def test_missing_k_field_is_an_error_and_the_music_is_read_in_c():
    tune = parse("X:1\nM:4/4\nF8|")
    assert not tune.valid
    assert [n.pitch.midi for n in tune.notes] == [65]


# -- bar lengths ---------------------------------------------------------------------


def test_too_long_bar_is_an_error_at_its_bar_line():
    tune = parse(HEAD + "A8|B9|c8|")
    assert [(d.line, d.col, d.severity) for d in tune.diagnostics] == [(5, 6, "error")]
    assert tune.diagnostics[0].message == "bar has 9/2 quarter notes, M:4/4 needs 4"


def test_short_bar_mid_tune_is_an_error():
    assert len(errors(HEAD + "A8|B7|c8|")) == 1


@pytest.mark.parametrize(
    "body",
    [
        "AB|c8|d8|",  # pickup
        "c8|d8|AB|",  # last bar
        "c8|d8|AB",  # last bar without bar line
        "c8|d6:|AB|c8|d6|]",  # short before a repeat, pickup after it
        "c8|d6||AB|c8|",  # pickup into the next part after ||
        "c8|[1 d6 :|[2 d4 e2||",  # short endings
    ],
)
def test_short_bars_where_parts_begin_and_end_are_fine(body):
    assert errors(HEAD + body) == []


def test_free_meter_has_no_bar_check():
    assert parse("M:none\nL:1/4\nK:C\nA|B2|c5|").valid


def test_multi_bar_rest_fills_its_bars():
    assert parse(HEAD + "A8|Z4|B8|").valid


# -- robustness ---------------------------------------------------------------------


BAD = [
    "", "\n\n", "K:", "K:Q#", "M:x/0\nK:C\nA", "X:1\nK:C\n[[[", "K:C\n]]]}}}",
    "K:C\n(((((0:0:0", 'K:C\n"open string', "K:C\n!unclosed", "K:C\n[K:", "K:C\nA////////2",
    "K:C\nA0", "K:C\nc''''''''''", "K:C\n{", "K:C\n[CEG", "K:C\n>>>>", "K:C\n----",
    "K:C\nZ0 z0 x0", "K:C\n\x00\x01\u00e9\u266f", "K:C\n|||||:::::[1[2", "K:C\n&&&&",
    "K:C\n[M:none][L:0][Q:abc][K:]", "K:C\nA\r\nB\r\n",
]  # fmt: skip


@pytest.mark.parametrize("text", BAD)
def test_bad_input_gives_diagnostics_never_exceptions(text):
    tune = parse(text)
    assert all(n.duration > 0 for n in tune.notes if not n.grace)
    assert all(0 <= n.pitch.midi <= 127 for n in tune.notes if n.pitch)


def test_bad_input_is_reported():
    for text in ["K:C\nA ; B|", 'K:C\n"Am', "K:Q#\nA", "K:C\n[CE|"]:
        assert not parse(text).valid, text


def test_blank_line_ends_the_tune():
    tune = parse(HEAD + "A8|\n\n% between tunes\n\nX:2\nK:D\nB8|")
    assert len(tune.notes) == 1
    assert [d.line for d in tune.diagnostics if "after the end" in d.message] == [9]


def test_comments_after_the_end_are_not_reported():
    assert parse(HEAD + "A8|\n\n% notes on the source\n  \n").diagnostics == []


# -- incremental -----------------------------------------------------------------------


def test_events_come_out_as_soon_as_they_are_certain():
    p = Parser()
    assert [e.name for e in p.feed(HEAD)] == ["X", "M", "L", "K"]
    assert p.feed("A") == []  # may become A2, A>, A-
    assert p.feed("2 ") == []  # `A2 >B` is still broken rhythm (as in abc2midi)
    assert p.feed("B") == []  # B may become B2: A is not released until B is certain
    assert [e.duration for e in p.feed(">")] == [F(1, 4)]
    assert p.feed("c") == []
    assert [(e.onset, e.duration) for e in p.feed("|")] == [(F(1, 4), F(3, 16))]
    assert p.time - p.bar_start == F(7, 16)  # c is held, and the bar line with it
    assert p.feed("d") == []
    out = p.feed(" ")
    assert [(type(e).__name__, e.onset) for e in out] == [("Note", F(7, 16)), ("Bar", F(1, 2))]
    assert [type(e).__name__ for e in p.close()] == ["Note"]
    assert p.feed("e") == []


def test_open_syntax_is_visible_while_waiting():
    p = Parser()
    p.feed(HEAD + '[CE "Am')
    assert p.open_chord is not None and p.pending == '"Am'
    p.feed('"G] (3A ')
    assert p.open_chord is None and p.tuplet_left == 2


def _corpus_tunes(count: int) -> list[str]:
    from abcgen.runtime.abc.normalise import split_tunebook

    folder = default_corpus_paths()[0]
    text = sorted(folder.glob("*.abc"))[0].read_text(encoding="utf-8", errors="replace")
    return split_tunebook(text)[:count]


def test_one_character_at_a_time_gives_the_same_tune():
    for text in _corpus_tunes(8):
        whole = parse(text)
        p = Parser()
        events = []
        for ch in text:
            events += p.feed(ch)
        events += p.close()
        assert events == whole.events
        assert p.tune.diagnostics == whole.diagnostics
        assert p.work <= 4 * len(text)


# -- field values --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "bar"),
    [("6/8", F(3, 4)), ("C", F(1)), ("C|", F(1)), ("2+3/8", F(5, 8)), ("(3+2)/8", F(5, 8))],
)
def test_meter_values(value, bar):
    assert parse_meter(value).bar_length == bar


@pytest.mark.parametrize("value", ["FREI4/4", "3/0", "x"])
def test_unreadable_meter_is_an_error_and_the_old_meter_stays(value):
    tune = parse(f"M:3/4\nL:1/4\nK:C\nABC|[M:{value}]ABC|")
    assert [d.severity for d in tune.diagnostics] == ["error"]
    assert tune.notes[-1].bar == 1


def test_free_meter_and_bad_values():
    assert parse_meter("none") is None
    with pytest.raises(ValueError, match="tempo"):
        parse_tempo("1/4=0", F(1, 8))
    assert parse_tempo('"Allegro"', F(1, 8)) is None


def test_every_zero_length_is_reported_not_only_the_first():
    tune = parse("X:1\nM:4/4\nL:1/4\nK:G\nA0 B0 c2|\n")
    assert [(d.line, d.col) for d in tune.diagnostics if "is zero" in d.message] == [(5, 1), (5, 4)]


def test_comments_stay_out_of_field_values():
    tune = parse("X:1\nT:My Reel % from Bob\nM:4/4 % common time\nK:G\nABcd|\n")
    assert (tune.title, tune.fields["M"]) == ("My Reel", "4/4")


def test_an_ending_list_cut_between_pieces_reads_whole():
    text = HEAD + "|: A4 B4 |1,3 c8 :|2,4 d8 :|\n"
    whole = parse(text)
    for size in (1, 2, 3, 7):
        p = Parser()
        for i in range(0, len(text), size):
            p.feed(text[i : i + size])
        p.close()
        assert p.tune.events == whole.events and not p.tune.diagnostics
