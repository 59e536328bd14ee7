"""Atomic file writes: a reader (or a crash) sees the old file or the new one,
never half of one, because the data goes to a temporary file in the same folder
that then replaces the target in one rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from abcgen.runtime.errors import AbcgenError


def write_atomic(path: str | os.PathLike[str], data: bytes | memoryview | str) -> None:
    """Write `data` (str is written as UTF-8) to `path`, or raise AbcgenError.

    The data is flushed to disk before the rename, so a crash right after leaves
    the complete new file (this is how checkpoints are written too)."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise AbcgenError(f"cannot write {path}: {err.strerror or err}") from None


def _mode_for(path: Path) -> int:
    # mkstemp makes the file private (0600); an output file should get the usual mode.
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
