"""What the MuseScore plugin asks abcgen to do, and the one JSON answer it gets.

The plugin never puts score text on a command line: it writes a request file
(title, options, the selection) and passes abcgen only that file's path and
the output folder. The answer lists, per tune, the files written (.abc,
.musicxml, .mid) and the notes as cursor items (see `plugin_io`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from abcgen.runtime.abc.events import Bar, FieldChange, Tune
from abcgen.runtime.abc.meter import parse_meter, parse_unit
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.generate import MAX_SEED

MAX_NUM = 16
DEFAULT_MAX_CHARS = 1000
FORM_MAX_CHARS = 2000


@dataclass(frozen=True)
class Request:
    """A request file's fields; anything left out takes these defaults."""

    title: str = ""
    meter: str | None = None  # None: the model chooses (generate only)
    key: str | None = None
    unit: str | None = None
    num: int = 1
    temperature: float = 1.0
    seed: int | None = None
    bars: int | None = None  # a target length (form free); the tune may end a little sooner
    max_chars: int | None = None
    model: str | None = None  # None: the shipped model
    form: str | None = None  # AABB, AB, ..., auto or free (bar rules only); None: auto for
    #                          generate, free for continue (whose length is `bars`)
    part_bars: int | None = None  # bars in each part of the form (None: 8)
    free: bool = False  # True: no constrained decoding
    copy: bool = True  # False: the LSTM alone, without the copy model
    selection: dict[str, Any] | None = None  # continue only

    @classmethod
    def from_json(cls, data: Any) -> Request:
        if not isinstance(data, dict):
            raise AbcgenError("request: expected a JSON object")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise AbcgenError(f"request: unknown field(s) {', '.join(unknown)}")
        values = {k: v for k, v in data.items() if v is not None}
        for name, value in values.items():
            expected = {"title": str, "meter": str, "key": str, "unit": str, "model": str,
                        "num": int, "seed": int, "bars": int, "max_chars": int,
                        "temperature": (int, float), "free": bool, "selection": dict, "copy": bool,
                        "form": str, "part_bars": int}[name]
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise AbcgenError(f"request: {name} has the wrong type ({value!r})")
        request = cls(**values)
        if not 1 <= request.num <= MAX_NUM:
            raise AbcgenError(f"request: num must be 1..{MAX_NUM}, got {request.num}")
        if request.temperature < 0:
            raise AbcgenError(f"request: temperature must be >= 0, got {request.temperature}")
        if request.seed is not None and not 0 <= request.seed <= MAX_SEED:
            raise AbcgenError(f"request: seed must be 0..{MAX_SEED}, got {request.seed}")
        if not math.isfinite(request.temperature):
            raise AbcgenError(f"request: temperature must be a finite number, got "
                              f"{request.temperature}")
        if request.bars is not None and not 1 <= request.bars <= 256:
            raise AbcgenError(f"request: bars must be 1..256, got {request.bars}")
        if request.max_chars is not None and request.max_chars < 1:
            raise AbcgenError(f"request: max_chars must be >= 1, got {request.max_chars}")
        request.form_choice()  # AbcgenError naming what is wrong
        return request

    def form_choice(self, default: str = "auto"):
        from abcgen.runtime.constrain.forms import AUTO, FREE, form_choice

        form = (self.form or default).strip()
        bars = self.part_bars if form.lower() not in (AUTO, FREE) else None  # (a dialog's default)
        try:
            return form_choice(form, bars)
        except AbcgenError as err:
            raise AbcgenError(f"request: {err}") from None


def read_request(path: Path) -> Request:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise AbcgenError(f"cannot read request {path}: {err.strerror or err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise AbcgenError(f"request {path} is not JSON: {err}") from None
    return Request.from_json(data)


def generate_for_plugin(request: Request, out_dir: Path) -> dict[str, Any]:
    """New tunes from the request's header choices, written into `out_dir`."""
    seed, _, texts = _generate(request, "auto", request.meter, request.key, request.unit)
    return {"ok": True, "command": "generate", "seed": seed,
            "tunes": [_tune_answer(text, title, ended, out_dir, stem, skip=None)
                      for text, ended, title, stem in _named(request, seed, texts)]}


def continue_for_plugin(request: Request, out_dir: Path) -> dict[str, Any]:
    """A continuation of the request's selection; the answer's notes are only the new ones."""
    from abcgen.runtime.abc.parser import parse
    from abcgen.runtime.musescore.score_io import selection_to_prime

    if request.selection is None:
        raise AbcgenError("request: continue needs a selection")
    p = selection_to_prime(request.selection)
    seed, prime, texts = _generate(request, "free", p.meter, p.key, p.unit, p.music)
    end = _end_of_music(parse(prime))
    return {"ok": True, "command": "continue", "seed": seed, "prime": prime,
            "tunes": [_tune_answer(text, title, ended, out_dir, stem, skip=end)
                      for text, ended, title, stem in _named(request, seed, texts)]}


# ------------------------------------------------------------------ helpers


def _generate(request: Request, form: str, meter: str | None, key: str | None,
              unit: str | None, prefix: str | None = None
              ) -> tuple[int, str, list[tuple[str, bool]]]:  # fmt: skip
    """(seed, prime, (text, ended) of each tune): `form` is the default when the
    request names none; the length follows the request's `bars`."""
    from abcgen.exported import DEFAULT_MODEL
    from abcgen.runtime.generate.generator import generate
    from abcgen.runtime.generate.onnx_model import Model
    from abcgen.runtime.generate.params import GeneratorParams

    params = GeneratorParams(meter=meter, key=key, unit=unit, prefix=prefix, num=request.num,
                             temperature=request.temperature, seed=request.seed,
                             form=request.form_choice(form), free=request.free,
                             copy=request.copy)
    shape = params.shape
    max_chars = _max_chars(request, params.prime, formed=shape.spec is not None or shape.auto)
    params = replace(params, max_chars=max_chars, steer_reserve=min(200, max_chars // 3))
    model = Model(Path(request.model).expanduser() if request.model else DEFAULT_MODEL)
    tunes = generate(model, params)
    return params.seed, params.prime, [(t.text, t.ended) for t in tunes]


def _max_chars(request: Request, prime: str, formed: bool) -> int:
    if request.max_chars is not None:
        return request.max_chars
    if formed and not request.free:
        return FORM_MAX_CHARS  # the form says how long: room for 6 parts of 16 bars
    if request.bars is None:
        return DEFAULT_MAX_CHARS
    # about 1.5 characters per unit note plus a bar line; the header is ~20 more
    bar, unit = Fraction(3, 4), Fraction(1, 8)  # (the canonical prime's M: and L:)
    for line in prime.split("\n"):
        if line.startswith("M:") and (meter := parse_meter(line[2:])) is not None:
            bar = meter.bar_length
        elif line.startswith("L:"):
            unit = parse_unit(line[2:])
    per_bar = float(bar / unit) * 1.5 + 2
    header = 0 if prime.count("\n") >= 3 else 20
    return max(16, round(request.bars * per_bar) + header)


def _named(request: Request, seed: int, texts: list[tuple[str, bool]]):
    title = " ".join(request.title.split()) or f"abcgen seed {seed}"
    stem = _stem(seed)
    for i, (text, ended) in enumerate(texts, 1):
        if len(texts) == 1:
            yield text, ended, title, stem
        else:
            yield text, ended, f"{title} #{i}", f"{stem}-{i}"


def _stem(seed: int) -> str:
    return f"abcgen-{time.strftime('%Y%m%d-%H%M%S')}-{seed}"


def _unique(out_dir: Path, stem: str) -> str:
    """A stem whose files do not exist yet (MuseScore hangs re-reading an open file)."""
    candidate, n = stem, 1
    while any((out_dir / f"{candidate}{ext}").exists() for ext in (".abc", ".musicxml", ".mid")):
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def _end_of_music(tune: Tune) -> Fraction:
    return max((n.onset + n.duration for n in tune.notes if not n.grace), default=Fraction(0))


def _tune_answer(text: str, title: str, ended: bool, out_dir: Path, stem: str,
                 skip: Fraction | None) -> dict[str, Any]:
    from abcgen.runtime.abc.parser import parse
    from abcgen.runtime.abc.writer import format_abc
    from abcgen.runtime.atomic import write_atomic
    from abcgen.runtime.formats.midi import write_midi
    from abcgen.runtime.formats.musicxml import write_musicxml
    from abcgen.runtime.musescore.score_io import events_to_items, key_json, time_json

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AbcgenError(f"cannot create {out_dir}: {err.strerror or err}") from None
    stem = _unique(out_dir, stem)
    abc = format_abc(text, index=1, title=title)
    tune = parse(abc)
    files = {"abc": out_dir / f"{stem}.abc", "musicxml": out_dir / f"{stem}.musicxml",
             "midi": out_dir / f"{stem}.mid"}
    write_atomic(files["abc"], abc)
    write_musicxml(tune, files["musicxml"], title=title)
    write_midi(tune, files["midi"])
    if skip is None:
        items = events_to_items(tune, pad_pickup=True)
    else:
        items = events_to_items(tune, _after(tune, skip))
    return {
        "title": title,
        "files": {kind: str(path.resolve()) for kind, path in files.items()},
        "key": key_json(tune.key),
        "time": time_json(tune.meter),
        "ended": ended,
        "valid": tune.valid,
        "diagnostics": [str(d) for d in tune.diagnostics],
        "abc": abc,
        "notes": items,
    }


def _after(tune: Tune, start: Fraction) -> list:
    """The events from `start` on, without a bar line that closes the prime."""
    events = [e for e in tune.events if not isinstance(e, FieldChange) and e.onset >= start]
    while events and isinstance(events[0], Bar):
        events.pop(0)
    return events
