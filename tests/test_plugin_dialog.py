"""The Generate dialog in the real MuseScore 3 window, driven by the keyboard alone.

MuseScore runs on a virtual display (Xvfb) with the plugin installed and
enabled as a user installs it; xdotool types as a person would: the Plugins
menu, Tab through every field of the dialog to the Generate button, Enter;
Escape closes the dialog and asks nothing; a second Enter generates again
with the choices the dialog remembered.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from serving import wait_for

MSCORE, XVFB, XDOTOOL = (shutil.which(n) for n in ("mscore3", "Xvfb", "xdotool"))
pytestmark = pytest.mark.skipif(not (MSCORE and XVFB and XDOTOOL),
                                reason="needs MuseScore 3, Xvfb and xdotool")
QUIET_START = """[application]
startup\\firstStart=false

[ui]
application\\startup\\showStartCenter=false
application\\startup\\showSplashScreen=false
application\\startup\\showTours=false
"""


class Desktop:
    """MuseScore 3 on its own X display, and the keys typed into it."""

    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        (self.home / ".config" / "MuseScore").mkdir(parents=True)
        (self.home / ".config" / "MuseScore" / "MuseScore3.ini").write_text(QUIET_START)
        runtime = root / "run"
        runtime.mkdir(mode=0o700)
        self.out = root / "tunes"
        read, write = os.pipe()
        self.xvfb = subprocess.Popen([XVFB, "-displayfd", str(write), "-screen", "0",
                                      "1280x900x24", "-nolisten", "tcp"], pass_fds=(write,),
                                     stderr=subprocess.DEVNULL)
        os.close(write)
        with os.fdopen(read) as display:
            self.env = {**os.environ, "DISPLAY": f":{display.readline().strip()}",
                        "HOME": str(self.home), "XDG_RUNTIME_DIR": str(runtime)}
        self.env.pop("QT_QPA_PLATFORM", None)
        abcgen = Path(sys.executable).with_name("abcgen")
        subprocess.run([str(abcgen), "plugin", "install", "--out-dir", str(self.out)],
                       env=self.env, check=True, capture_output=True, timeout=120)
        self.mscore = subprocess.Popen([MSCORE], env=self.env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        self.main = wait_for(lambda: self.window("MuseScore 3: "), timeout=120, every=0.5)

    def xdotool(self, *args: str) -> str:
        done = subprocess.run([XDOTOOL, *args], env=self.env, capture_output=True, text=True,
                              timeout=30)
        return done.stdout.strip()

    def window(self, name: str) -> str:
        found = self.xdotool("search", "--onlyvisible", "--name", name)
        return found.splitlines()[0] if found else ""

    def keys(self, *keys: str) -> None:
        self.xdotool("key", "--delay", "60", *keys)

    def type(self, text: str) -> None:
        self.xdotool("key", "ctrl+a")
        self.xdotool("type", "--delay", "60", text)

    def open_generate(self) -> str:
        """Plugins (Alt+P) › abcgen › Generate tune…, and the dialog's window focused."""
        self.xdotool("windowfocus", "--sync", self.main)
        self.keys("alt+p", "Down", "Down", "Right", "Down", "Return")
        dialog = wait_for(lambda: self.window("Generate tune"), timeout=60)
        self.xdotool("windowfocus", "--sync", dialog)
        return dialog

    def close(self) -> None:
        for process in (self.mscore, self.xvfb):
            process.kill()
            process.wait(timeout=30)


@pytest.fixture
def desktop(tmp_path):
    screen = Desktop(tmp_path)
    yield screen
    screen.close()


def test_the_generate_dialog_works_from_the_keyboard(desktop):
    request, report = desktop.out / "abcgen-request.json", desktop.out / "abcgen-plugin-last.json"
    desktop.open_generate()
    desktop.keys("Escape")
    wait_for(lambda: not desktop.window("Generate tune"), timeout=30)
    assert not request.exists()  # Escape asked abcgen nothing

    desktop.open_generate()
    desktop.type("Keyboard jig")  # the title field has the focus
    for value in ("9/8", "G"):  # meter, key: lists that take free text
        desktop.keys("Tab")
        desktop.type(value)
    desktop.keys("Tab", "Down")  # mode: major -> minor
    for value in ("AABB", "4"):  # form, bars a part
        desktop.keys("Tab")
        desktop.type(value)
    desktop.keys("Tab", "Tab", "Tab")  # length, temperature: as they are
    desktop.type("7")  # seed
    desktop.keys("Tab", "Tab", "Return")  # variations, then the Generate button
    wait_for(lambda: report.is_file(), timeout=120)
    asked = json.loads(request.read_text())
    assert {k: asked[k] for k in ("title", "meter", "key", "form", "part_bars", "seed")} == {
        "title": "Keyboard jig", "meter": "9/8", "key": "Gm", "form": "AABB", "part_bars": 4,
        "seed": 7}
    done = json.loads(report.read_text())
    assert done["ok"], done.get("error")
    assert done["opened"][0]["how"] == "readScore" and done["opened"][0]["title"] == "Keyboard jig"
    wait_for(lambda: not desktop.window("Generate tune"), timeout=30)  # closed when done

    report.unlink()
    desktop.open_generate()
    desktop.keys("Return")  # straight away: the remembered choices
    wait_for(lambda: report.is_file(), timeout=120)
    assert json.loads(request.read_text()) == asked
