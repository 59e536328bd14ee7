"""`abcgen-live` refuses bad options with a message and exit code 2, never a
traceback, before it opens a port or loads a model."""

from __future__ import annotations

import subprocess
import sys

import pytest

from abcgen.runtime.cli import live as live_cli


@pytest.mark.parametrize(("args", "message"), [
    (["--api", "bogus"], "--api must be auto, alsa, jack, coremidi, winmm"),
    (["--clock", "follow"], "--clock follow needs --clock-in PORT"),
    (["--clock", "sometimes"], "--clock must be master, follow or off"),
    (["--abc", "no/such/file.abc"], "no such ABC file"),
    (["--cc", "volume=7"], "--cc 'volume=7': write NAME=NUMBER"),
    (["--cc", "tempo=300"], "control tempo=300"),
    (["--port", "a", "--virtual", "b"], "give --port or --virtual, not both"),
    (["--time-scale", "0"], "time scale must be in (0, 10]"),
    (["--form", "ABBA"], "parts are lettered A, B, C"),
    (["--form", "AB", "--meter", "none"], "a form counts bars"),
    (["--form", "auto", "--part-bars", "16"], "--part-bars goes with a form"),
])
def test_bad_options_leave_with_a_message(monkeypatch, capsys, args, message):
    monkeypatch.setattr(sys, "argv", ["abcgen-live", *args])
    with pytest.raises(SystemExit) as leaving:
        live_cli.main()
    assert leaving.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_as_a_process_without_a_traceback():
    done = subprocess.run([sys.executable, "-m", "abcgen.runtime.cli.live", "--api", "bogus"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "error: --api must be" in done.stderr and "Traceback" not in done.stderr
