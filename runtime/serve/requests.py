"""The JSON a client sends, checked: a compose request becomes `GeneratorParams`,
whose own checks name a bad option; everything else wrong here is named too.

Bounds keep one request from holding the workers for long: at most MAX_TUNES
tunes and MAX_CHARS generated characters each, bodies of at most MAX_BODY bytes.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.generate.params import DEFAULT_MAX_CHARS, GeneratorParams

MAX_TUNES = 16
MAX_CHARS = 4000
MAX_BODY = 2 << 20  # an uploaded tunebook, or any JSON body
MAX_SEED = 2**32 - 1

# field -> (types it may have, may it be null)
COMPOSE_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "meter": ((str,), True), "key": ((str,), True), "unit": ((str,), True),
    "prefix": ((str,), True), "num": ((int,), False), "temperature": ((int, float), False),
    "top_k": ((int,), False), "top_p": ((int, float), False), "seed": ((int,), True),
    "max_chars": ((int,), False), "form": ((str,), False), "part_bars": ((int,), True),
    "free": ((bool,), False),
}
if "copy" in {f.name for f in dataclasses.fields(GeneratorParams)}:  # the copy model, on/off
    COMPOSE_FIELDS["copy"] = ((bool,), False)
KINDS = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}


class BadRequest(AbcgenError):
    """The client asked for something that cannot be done; `status` says which 4xx."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}", parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadRequest(f"the body is not JSON ({err})") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _not_json(word: str) -> None:
    raise ValueError(f"{word} is not a JSON number")


def compose_params(data: dict[str, Any]) -> GeneratorParams:
    """GeneratorParams from a compose request (empty strings count as not given)."""
    unknown = sorted(set(data) - set(COMPOSE_FIELDS))
    if unknown:
        raise BadRequest(f"unknown option {unknown[0]!r}; the options are "
                         f"{', '.join(COMPOSE_FIELDS)}")
    values: dict[str, Any] = {}
    for name, value in data.items():
        types, nullable = COMPOSE_FIELDS[name]
        if value is None or (value == "" and str in types):
            if not nullable and value is None:
                raise BadRequest(f"{name} may not be null")
            continue
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise BadRequest(f"{name} must be {KINDS[types[-1]]}, got {json.dumps(value)}")
        values[name] = value
    num = values.get("num", 1)
    if not 1 <= num <= MAX_TUNES:
        raise BadRequest(f"num must be from 1 to {MAX_TUNES}, got {num}")
    max_chars = values.get("max_chars", DEFAULT_MAX_CHARS)
    if not 1 <= max_chars <= MAX_CHARS:
        raise BadRequest(f"max_chars must be from 1 to {MAX_CHARS}, got {max_chars}")
    if "seed" in values and not 0 <= values["seed"] <= MAX_SEED:  # as main's GeneratorParams
        raise BadRequest(f"seed must be 0..{MAX_SEED}, got {values['seed']}")
    try:
        return GeneratorParams(**values)
    except AbcgenError as err:
        raise BadRequest(str(err)) from None


def asked(params: GeneratorParams) -> dict[str, Any]:
    """The options a tune was made with, as the archive keeps them."""
    return {name: getattr(params, name) for name in COMPOSE_FIELDS if name not in ("num", "seed")}
