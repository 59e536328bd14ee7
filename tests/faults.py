"""Real faults for the bad-input tests: folders and files that cannot be written.

Tests run as root on the development machine, and root ignores file modes when
it writes. A folder is therefore locked with the immutable attribute (`chattr
+i`), which binds root too, and with mode 0555 for anyone else. A file the
user protected is one without write bits (`chmod 444`): abcgen reads that mode
itself, so the same chmod is the real test for root and for anyone else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = os.geteuid() == 0
BIN = Path(sys.executable).parent  # the installed scripts: abcgen, abcgen-train, ...


def as_a_shell_starts_it() -> None:
    """preexec_fn: SIGINT and SIGHUP at their defaults, as a shell in a terminal starts
    a command. A test run started in the background (`&`) or under nohup ignores them,
    its children inherit that, and our commands rightly keep a signal ignored on
    entry ignored: a test that sends one would hang or skip."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def command(name: str, *args: object, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """An installed command run as a user runs it (`kw`: env, cwd, stdout, preexec_fn...)."""
    kw.setdefault("stdout", subprocess.PIPE)
    return subprocess.run([str(BIN / name), *map(str, args)], stderr=subprocess.PIPE, text=True,
                          timeout=timeout, **kw)


def abcgen(*args: object, **kw) -> subprocess.CompletedProcess:
    return command("abcgen", *args, **kw)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[Path]:
    """`path` (a folder, or a file) cannot be written while inside the block."""
    if ROOT:
        if not shutil.which("chattr"):
            pytest.skip("needs chattr (e2fsprogs) to lock a folder against root")
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"this filesystem has no immutable attribute: {done.stderr.strip()}")
    else:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield path
    finally:
        if ROOT:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(stat.S_IMODE(mode))


def protect(path: Path) -> Path:
    """chmod 444: the user's way of saying "do not replace this file"."""
    path.chmod(0o444)
    return path


def one_error_line(stderr: str, message: str) -> None:
    """The style every bad input gets: one `error:` line naming it, no traceback."""
    assert "Traceback" not in stderr and "╭" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], stderr
