"""The optional packages behind sheet music and audio (`abcgen[render]`): imported
only when such a file is asked for, so the base runtime stays small."""

from __future__ import annotations

import importlib
from types import ModuleType

from abcgen.runtime.errors import AbcgenError

EXTRA = "pip install 'abcgen[render]'"


def require(module: str, purpose: str) -> ModuleType:
    """Import `module`, or fail with one line naming the extra that brings it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module:
            raise
        raise AbcgenError(f"{purpose} needs {module}: {EXTRA}") from None
