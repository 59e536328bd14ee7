"""Repeat and part layouts whose played order is known: what abc2midi 4.84 plays
(tests/test_repeats.py checks each against it), and random layouts, for the tests
of played order (test_repeats.py) and of MusicXML in MuseScore (test_musicxml.py).

Each bar holds one note, so a played order reads as a string of note names.
"""

from __future__ import annotations

import random


def tune_text(body: str, header: str = "") -> str:
    return f"X:1\nM:4/4\nL:1/2\n{header}K:C\n{body}\n"


LAYOUTS = [
    ("C2 | D2 |]", "CD"),
    ("|: C2 :| D2 |]", "CCD"),
    ("C2 :| D2 :|", "CCDD"),  # `:|` without `|:`: from the start, then from the `:|`
    ("|: C2 :: D2 :|", "CCDD"),
    ("G | C2 :| D2 |]", "GCGCD"),  # a pickup is played again with its part
    ("|: C2 |1 D2 :|2 E2 |]", "CDCE"),
    ("|: C2 [1 D2 :| [2 E2 |]", "CDCE"),
    ("|: C2 |1 D2 :|\n[2 E2 |]", "CDCE"),
    ("|: C2 [1,3 D2 :| [2 E2 :| [4 F2 |]", "CDCECDCF"),
    ("|: C2 [1-2 D2 :| [3 E2 |]", "CDCDCE"),
    ("|: C2 :| |: D2 :|", "CCDD"),
    ("|: C2 | D2", "CD"),  # an open repeat is played once
    # a last ending closed with `:|` passes the section a third time
    ("|:C2|1D2:|2E2:|", "CDCEC"),
    ("C2|:D2|[1E2:|[2F2|]G2:|", "CDEDFGDG"),
    # `:|` with no `|:` after a `||` or a last ending: from the tune's start
    ("C2 || D2 :|", "CDCD"),
    ("C2||D2:|E2:|", "CDCDEE"),
    ("C2 D2 [1 E2 :| [2 F2 || G2 | A2 :|", "CDECDFGACDGA"),
    ("|: C2 |1 D2 :|2 E2 | F2 :|", "CDCEFC"),
    # `||:` is a double bar and a dotted bar for abc2midi: no repeat starts there
    ("G2||:C2:|", "GCGC"),
    ("C2||:D2:|E2:|", "CDCDEE"),
    ("C2|:D2:|:E2:|", "CDDEE"),  # `:|:` is `:|` and a dotted bar
    ("C2|:D2:||:E2:|", "CDDEE"),
    ("[|: C2 :|] D2 |]", "CCD"),
    ("|: C2 |1,3 D2 :|2 E2 :|4 F2 |]", "CDCECDCF"),
    ("|: C2 |1 D2 |2 E2 |]", "CD"),  # an ending with no `:|` ends the playing
]
PARTS = [
    ("P:AAB\n", "P:A\nC2|]\nP:B\nD2|]", "CCD"),
    ("P:(AB)2C\n", "P:A\nC2|]\nP:B\nD2|]\nP:C\nE2|]", "CDCDE"),
    ("P:A2B\n", "P:A\nC2:|\nP:B\nD2|]", "CCCCD"),  # each time A is played, its repeat too
    ("P:A(B2C)2\n", "P:A\nC2|]\nP:B\nD2|]\nP:C\nE2|]", "CDDEDDE"),
    ("P:A.B.A\n", "[P:A] C2 :| [P:B] D2 :|", "CCDDCC"),
    ("P:BA\n", "P:A\n|:C2:|\nP:B\nD2|]", "DCC"),
    ("P:ABA\n", "G2|\nP:A\nC2|]\nP:B\nD2|]", "GCDC"),  # music before the first label first
    ("P:ABC\n", "P:A\nC2|]\nP:B\nD2|]", "CD"),  # a part the body lacks is skipped
    ("P:A\n", "P:A\nC2|]\nP:B\nD2|]", "C"),  # a one-part order is an order too
    ("P:A\n", "G2|\nP:B\nD2|]", "G"),  # ... or labels the start of the body
    ("", "P:A\nC2|]\nP:B\nD2|]\nP:A\nE2|]", "CDE"),  # no order: labels do nothing
    ("P:ABAC\n", "P:A\n|:C2|1D2:|2E2||\nP:B\n|:F2:|\nP:C\nG2|1A2:|2B2|]", "CDCEFFCDCEGAGB"),
]


NOTES = [*"CDEFGAB", *"cdefgab", *(n + "'" for n in "cdefgab"), *(n + "," for n in "CDEFGAB")]
BARS = ["|"] * 6 + ["||", "|]", "|:", ":|", "::", ":|:", "||:", ":||:", "[|", ":|]", "[|:",
                    ":||", "|:|"]  # fmt: skip
ENDINGS = ["[1", "|1", ":|2", "[2", "[1,3", "[2-3", "|3", "[1 ", ":| [2", "|2"]


def random_layout(rng: random.Random, unique_parts: bool = False) -> str:
    """Bars of one distinct note each, any bar lines and endings, and sometimes parts
    (labels as field lines or inline) with a header order."""
    parts = rng.random() < 0.3
    body: list[str] = []
    labels: list[str] = []
    for k in range(rng.randint(2, 12)):
        free = [c for c in "ABCD" if not unique_parts or c not in labels]
        if parts and free and (k == 0 or rng.random() < 0.25):
            labels.append(rng.choice(free))
            body.append(f"\nP:{labels[-1]}\n" if rng.random() < 0.7 else f"[P:{labels[-1]}]")
        body.append(NOTES[k] + "2")
        body.append(rng.choice(ENDINGS) if rng.random() < 0.2 else rng.choice(BARS))
    header = ""
    if parts:
        spec = "".join(rng.choice([*labels, "A", "B"]) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.3:
            spec = f"({spec}){rng.randint(2, 3)}{rng.choice(labels)}"
        header = f"P:{spec}\n"
    return tune_text("".join(body), header)
