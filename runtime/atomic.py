"""Safe file writes: nothing half-written, nothing protected replaced, and a
destination found unwritable before the work, not after it.

A write goes to a temporary file in the same folder that then replaces the
target in one rename, so a reader (or a crash) sees the old file or the new
one, never half of one. A rename replaces even a read-only file, and root may
write anything, so a file the user protected is recognised by its mode bits
(no write bit for its owner, or none for us) and refused, for root too.
"""

from __future__ import annotations

import os
import stat
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
    refuse_protected(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode(path))
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise AbcgenError(f"cannot write {path}: {err.strerror or err}") from None


def check_writable(*paths: str | os.PathLike[str]) -> None:
    """Raise AbcgenError unless each path can be written now: its folder exists and
    takes a new file, and the path is neither a folder nor a protected file.

    Each folder is tried with a real temporary file, which answers for modes,
    ACLs, read-only mounts and immutable folders alike (root passes mode checks)."""
    tried: set[Path] = set()
    for path in map(Path, paths):
        folder = path.parent
        if not folder.is_dir():
            raise AbcgenError(f"cannot write {path}: folder {folder} does not exist")
        refuse_protected(path)
        if folder in tried:
            continue
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        except OSError as err:
            raise AbcgenError(f"cannot write {path}: folder {os.path.abspath(folder)} takes "
                              f"no new file ({err.strerror or err})") from None
        os.close(fd)
        os.unlink(tmp)
        tried.add(folder)


def refuse_protected(path: Path) -> None:
    """AbcgenError if `path` is a folder or a file the user protected from writing."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    except OSError as err:
        raise AbcgenError(f"cannot write {path}: {err.strerror or err}") from None
    if stat.S_ISDIR(st.st_mode):
        raise AbcgenError(f"cannot write {path}: it is a folder")
    if not st.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK):
        raise AbcgenError(f"{path} is read-only, so abcgen leaves it as it is (make it "
                          "writable, or choose another name)")


def file_mode(path: Path) -> int:
    """The mode for a new file at `path`: the old file's, else the usual one (mkstemp
    makes files private, 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
