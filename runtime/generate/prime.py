"""The text a tune starts from: header choices and a user's ABC, in canonical form.

The model only ever saw normalised tunes, so a prime goes through the same
`normalise` as the training data (as a fragment: no final bar line is added).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from abcgen.runtime.abc.header import header_text
from abcgen.runtime.abc.normalise import normalise
from abcgen.runtime.errors import AbcgenError

_HAS_KEY = re.compile(r"^K:", re.M)
_FIELDS_AND_COMMENTS = re.compile(r"^[A-Za-z]:.*$|%.*$", re.M)


def prime_text(
    meter: str | None = None,
    key: str | None = None,
    unit: str | None = None,
    prefix: str | None = None,
) -> str:
    """Canonical prime (without BOS); '' lets the model write the whole tune.

    `prefix` is either music to continue (then meter and key are needed) or a
    tune fragment with its own M:/L:/K: lines (then header options must not
    be given too).
    """
    header = header_text(meter, key, unit)
    if not prefix:
        return header
    if _HAS_KEY.search(prefix):
        if header:
            raise AbcgenError("the prefix has its own K: line; leave out --meter/--key/--unit")
        raw = prefix
    elif meter is None or key is None:
        raise AbcgenError("a prefix of music needs --meter and --key (or M: and K: lines in it)")
    else:
        raw = header + prefix
    result = normalise(raw, fragment=True)
    if result.text is None:
        raise AbcgenError(f"cannot use the prefix: {result.drop}")
    return result.text


def check_prefix(prefix: str, vocab: Sequence[str]) -> None:
    """Refuse a prefix whose music holds characters the model cannot write: dropping
    them would change the music unseen. Whitespace, field lines (X:, T:, M:...) and
    comments are not music: normalising rewrites or drops them, as in training."""
    music = _FIELDS_AND_COMMENTS.sub("", prefix)
    unknown = sorted({ch for ch in music if not ch.isspace() and ch not in vocab})
    if unknown:
        named = ", ".join(f"{ch!r} ({unicodedata.name(ch, f'U+{ord(ch):04X}')})"
                          for ch in unknown)
        raise AbcgenError(f"the prefix holds characters this model cannot write: {named}; "
                          "leave them out")
