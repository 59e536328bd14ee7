"""Safe file writes: only regular files replaced, nothing half-written, no input
or protected file overwritten, and a destination found unwritable before the
work, not after it.

A write goes to a temporary file in the same folder that then replaces the
target in one rename, so a reader (or a crash) sees the old file or the new
one, never half of one. A rename puts a plain file in place of whatever stood
there, so only a regular file is ever replaced: a symbolic link, a FIFO, a
device or a socket is refused (as root, a rename would replace /dev/null
itself). A rename also replaces a read-only file, and root may write anything,
so a file the user protected is recognised by its mode bits (no write bit for
its owner, or none for us) and refused, for root too.

Temporary files are named `.NAME.XXXXXXXX.abcgen-tmp-PID`. A write stopped by
an exception or a signal (the CLI turns SIGINT, SIGTERM and SIGHUP into one)
removes its own; SIGKILL leaves it, so the first write of a process into a
folder removes the ones there whose process is gone.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from abcgen.runtime.errors import AbcgenError

TMP_TAG = ".abcgen-tmp-"
_STALE = re.compile(r"^\..*" + re.escape(TMP_TAG) + r"(\d+)$")
_swept: set[str] = set()  # folders already cleared of stale temporary files
_KINDS = [(stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]


def write_atomic(path: str | os.PathLike[str], data: bytes | memoryview | str) -> None:
    """Write `data` (str is written as UTF-8) to `path`, or raise AbcgenError.

    The data is flushed to disk before the rename, so a crash right after leaves
    the complete new file (this is how checkpoints are written too)."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    check_target(path)
    tmp = None
    try:
        fd, tmp = temporary(path)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode(path))
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise AbcgenError(f"cannot write {path}: {err.strerror or err}") from None
    finally:  # also on Ctrl-C or a signal: no hidden file left behind
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def temporary(path: Path) -> tuple[int, str]:
    """(fd, name) of a new temporary file beside `path`, named as ours."""
    sweep(path.parent)
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=f"{TMP_TAG}{os.getpid()}",
                            dir=path.parent)


def sweep(folder: Path) -> None:
    """Remove our temporary files in `folder` left by processes that no longer run
    (killed with SIGKILL while writing); once per folder and process."""
    key = os.path.realpath(folder)
    if key in _swept:
        return
    _swept.add(key)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        m = _STALE.match(entry.name)
        if m is None or not _gone(int(m[1])):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_uid == os.geteuid():
                os.unlink(entry.path)
        except OSError:
            pass


def _gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def check_writable(*paths: str | os.PathLike[str],
                   inputs: Iterable[str | os.PathLike[str] | None] = ()) -> None:
    """Raise AbcgenError unless each path can be written now: its folder exists and
    takes a new file, the path is no folder, link, device or protected file, no
    two paths are one file, and none is one of `inputs` (the files the command
    reads: writing one would destroy it).

    Each folder is tried with a real temporary file, which answers for modes,
    ACLs, read-only mounts and immutable folders alike (root passes mode checks)."""
    outputs = [Path(p) for p in paths]
    for path in outputs:
        if not path.parent.is_dir():
            raise AbcgenError(f"cannot write {path}: folder {path.parent} does not exist")
        check_target(path)
    refuse_overlap(outputs, [Path(p) for p in inputs if p is not None])
    tried: set[Path] = set()
    for path in outputs:
        if path.parent in tried:
            continue
        try:
            fd, tmp = temporary(path)
        except OSError as err:
            raise AbcgenError(f"cannot write {path}: folder {os.path.abspath(path.parent)} "
                              f"takes no new file ({err.strerror or err})") from None
        try:
            os.close(fd)
        finally:
            os.unlink(tmp)
        tried.add(path.parent)


def check_target(path: Path) -> None:
    """AbcgenError unless `path` is free or a regular file the user may have replaced."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as err:
        raise AbcgenError(f"cannot write {path}: {err.strerror or err}") from None
    if stat.S_ISLNK(st.st_mode):
        raise AbcgenError(f"cannot write {path}: it is a symbolic link (to "
                          f"{os.readlink(path)}), and abcgen replaces only regular files "
                          "(give the file's own path)")
    if stat.S_ISDIR(st.st_mode):
        raise AbcgenError(f"cannot write {path}: it is a folder")
    kind = next((name for test, name in _KINDS if test(st.st_mode)), None)
    if kind is not None:
        raise AbcgenError(f"cannot write {path}: it is {kind}, and abcgen writes only "
                          "regular files")
    if not st.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK):
        raise AbcgenError(f"{path} is read-only, so abcgen leaves it as it is (make it "
                          "writable, or choose another name)")


def refuse_overlap(outputs: list[Path], inputs: list[Path]) -> None:
    """AbcgenError when an output is an input, or two outputs are one file: by name,
    through links, or as hard links (the same device and inode)."""
    for i, out in enumerate(outputs):
        for source in inputs:
            if _same_file(out, source):
                raise AbcgenError(f"cannot write {out}: it is the same file as the input "
                                  f"{source}, which writing would destroy (choose another "
                                  "output name)")
        for other in outputs[:i]:
            if str(other) == str(out):
                raise AbcgenError(f"cannot write {out} twice: two outputs of this command "
                                  "name it (choose two names)")
            if _same_file(out, other):
                raise AbcgenError(f"cannot write both {other} and {out}: they are one file, "
                                  "and the second would replace the first (choose two names)")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # st_dev and st_ino: hard and symbolic links too
    except OSError:  # one does not exist (yet): the same name, once resolved
        return os.path.realpath(a) == os.path.realpath(b)


def file_mode(path: Path) -> int:
    """The mode for a new file at `path`: the old file's, else the usual one (mkstemp
    makes files private, 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
