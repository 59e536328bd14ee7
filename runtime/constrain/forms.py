"""`--form`: the form a tune is generated in, or `auto`, what the corpus does per meter.

`auto` draws, for each tune once its meter is known, one of the forms the
training split uses for that meter, as often as the split uses it; the tunes
whose form no single form describes (parts of mixed lengths, M:none, rare
meters) are the share left `free` (the bar rules only). The table is the
training split read by `abc.form.read_form` (`python bench/corpus_forms.py`
prints it again; docs/DESIGN.md shows it).
"""

from __future__ import annotations

from dataclasses import dataclass

from abcgen.runtime.abc.form import FormSpec, parse_form
from abcgen.runtime.errors import AbcgenError

FREE, AUTO = "free", "auto"
DEFAULT_PART_BARS = 8

# meter -> (FormSpec.key, share of the meter's training tunes): the forms that at
# least 1 % (and 3) of a meter's tunes have, for meters with 100 training tunes or more.
AUTO_FORMS: dict[str, tuple[tuple[str, float], ...]] = {
    "2/4": (
        ("AABB:8", 0.164), ("A:8", 0.11), ("A:16", 0.105), ("A:12", 0.08), ("A:10", 0.059),
        ("A:14", 0.041), ("A:24", 0.03), ("A:20", 0.026), ("A:9", 0.026), ("A:15", 0.024),
        ("AB:8", 0.021), ("A:22", 0.02), ("A:11", 0.02), ("A:18", 0.02), ("A:13", 0.018),
        ("A:17", 0.015), ("A:19", 0.014), ("A:32", 0.013),
    ),
    "4/4": (
        ("A:8", 0.169), ("A:12", 0.131), ("A:16", 0.111), ("A:10", 0.07), ("AB:8", 0.063),
        ("AAB:4+8", 0.044), ("A:14", 0.038), ("AABB:8", 0.037), ("A:6", 0.028), ("A:20", 0.026),
        ("AABB:4", 0.024), ("A:9", 0.024), ("A:18", 0.023), ("A:24", 0.018), ("A:7", 0.018),
        ("A:11", 0.016), ("A:13", 0.016), ("A:4", 0.013), ("A:15", 0.012),
    ),
    "6/8": (
        ("AABB:8", 0.347), ("A:8", 0.125), ("A:12", 0.08), ("A:10", 0.059), ("AB:8", 0.057),
        ("A:16", 0.055), ("AABBCC:8", 0.029), ("A:9", 0.02), ("A:14", 0.018), ("A:18", 0.013),
        ("A:6", 0.013), ("A:20", 0.011), ("AAB:8", 0.01),
    ),
    "3/4": (
        ("A:8", 0.209), ("A:16", 0.183), ("A:12", 0.128), ("AB:8", 0.042), ("A:10", 0.038),
        ("A:24", 0.033), ("A:14", 0.032), ("A:20", 0.031), ("A:6", 0.025), ("A:18", 0.024),
        ("A:13", 0.021), ("AB:16", 0.017), ("A:4", 0.017), ("A:17", 0.012), ("A:9", 0.012),
        ("A:7", 0.012), ("A:15", 0.011), ("A:19", 0.011), ("A:32", 0.011), ("A:11", 0.011),
    ),
    "2/2": (
        ("AABB:8", 0.335), ("AB:8", 0.244), ("AAB:4+8", 0.141), ("AABB:4", 0.045),
        ("A:16", 0.018), ("AAB:8", 0.016), ("ABC:8", 0.015), ("A:8", 0.015),
        ("AABBCC:8", 0.011),
    ),
    "3/8": (
        ("A:16", 0.231), ("A:12", 0.131), ("A:8", 0.103), ("A:24", 0.077), ("A:15", 0.066),
        ("A:14", 0.043), ("A:18", 0.04), ("A:10", 0.031), ("A:20", 0.026), ("A:32", 0.023),
        ("A:25", 0.02), ("A:11", 0.02), ("A:28", 0.017), ("A:22", 0.017), ("A:17", 0.014),
        ("A:19", 0.014), ("A:21", 0.011), ("A:27", 0.011), ("A:30", 0.011),
    ),
    "4/2": (
        ("A:16", 0.105), ("A:10", 0.078), ("A:14", 0.074), ("A:12", 0.074), ("A:18", 0.066),
        ("A:20", 0.066), ("A:8", 0.059), ("A:13", 0.059), ("A:17", 0.055), ("A:22", 0.047),
        ("A:9", 0.043), ("A:19", 0.039), ("A:21", 0.035), ("A:11", 0.031), ("A:15", 0.023),
        ("A:26", 0.02), ("A:25", 0.016), ("A:4", 0.016), ("A:7", 0.012), ("A:23", 0.012),
        ("A:31", 0.012),
    ),
    "9/8": (
        ("AABB:4", 0.399), ("AAB:4+8", 0.184), ("AB:8", 0.101), ("AABB:4+8", 0.044),
        ("AB:4", 0.025), ("AABBCC:4", 0.025), ("AABC:4+8+8", 0.025), ("AABBC:4+4+8", 0.025),
        ("AABBCCDD:4", 0.025),
    ),
    "6/4": (
        ("A:8", 0.32), ("A:16", 0.098), ("A:12", 0.098), ("A:9", 0.09), ("A:10", 0.066),
        ("A:14", 0.057), ("A:6", 0.057), ("A:4", 0.041), ("A:15", 0.025), ("A:7", 0.025),
    ),
    "3/2": (
        ("A:8", 0.155), ("A:12", 0.155), ("A:4", 0.103), ("A:16", 0.095), ("A:20", 0.078),
        ("A:14", 0.052), ("A:17", 0.043), ("A:18", 0.034), ("A:24", 0.034), ("A:15", 0.026),
        ("A:22", 0.026), ("A:30", 0.026), ("A:10", 0.026),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class FormChoice:
    """What `--form` asks for: a fixed form, `auto` (per meter), or free (None, False)."""

    spec: FormSpec | None = None
    auto: bool = False

    @property
    def key(self) -> str:
        """`AABB:8`, `auto` or `free`."""
        return self.spec.key if self.spec else AUTO if self.auto else FREE


def form_choice(text: str = AUTO, part_bars: int | None = None) -> FormChoice:
    """Read `--form` and `--part-bars`; AbcgenError naming what is wrong."""
    word = text.strip().lower()
    if word in (FREE, AUTO):
        if part_bars is not None:
            raise AbcgenError(f"--part-bars goes with a form such as AABB, not --form {word}")
        return FormChoice(auto=word == AUTO)
    try:
        return FormChoice(parse_form(text, DEFAULT_PART_BARS if part_bars is None else part_bars))
    except ValueError as err:
        raise AbcgenError(f"{err} (or --form auto, --form free)") from None


def auto_form(meter: str, draw: float) -> str:
    """The `FormSpec.key` that `auto` gives a tune in this meter for a uniform `draw`
    in [0, 1); '' (free) for the share of tunes no form describes."""
    for key, share in AUTO_FORMS.get(meter, ()):
        if draw < share:
            return key
        draw -= share
    return ""


def auto_forms(meter: str, draw: float) -> list[str]:
    """`auto_form` first, then the meter's other forms by share, then free: what to
    try in turn when a prime does not fit the form drawn."""
    first = auto_form(meter, draw)
    rest = [key for key, _ in AUTO_FORMS.get(meter, ())]
    return [first] + [key for key in rest if key != first] + ([""] if first else [])
