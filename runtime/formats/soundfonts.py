"""Which General MIDI SoundFont to play a tune with: the one the user names, else
the first found where Debian, Fedora, Arch, Homebrew, MuseScore and FluidSynth's
Windows build put theirs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from abcgen.runtime.errors import AbcgenError

SUFFIXES = (".sf2", ".sf3")
# Full General MIDI sets, best first; any other SoundFont in a searched folder comes after.
PREFERRED = ("default-GM.sf2", "default.sf2", "FluidR3_GM.sf2", "GeneralUser GS.sf2",
             "MuseScore_General.sf3", "MS Basic.sf3", "TimGM6mb.sf2", "default-GM.sf3")
INSTALL_HINT = ("Debian/Ubuntu: apt install fluid-soundfont-gm (or timgm6mb-soundfont); "
                "elsewhere put a General MIDI .sf2 in ~/.local/share/soundfonts "
                "(Windows: C:\\soundfonts), or pass --soundfont FILE.sf2")


def search_folders() -> list[Path]:
    """Folders that hold SoundFonts on this system, in the order they are searched."""
    home = Path.home()
    data_home = os.environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    data_dirs = os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    shares = [Path(data_home), *(Path(d) for d in data_dirs.split(os.pathsep) if d)]
    if sys.platform == "darwin":
        brew = [os.environ.get("HOMEBREW_PREFIX"), "/opt/homebrew", "/usr/local"]
        shares += [Path(p) / "share" for p in brew if p]
    folders = [s / sub for s in shares for sub in ("soundfonts", "sounds/sf2", "sounds/sf3")]
    if sys.platform == "darwin":
        folders.append(home / "Library" / "Audio" / "Sounds" / "Banks")
    if sys.platform == "win32":
        programs = Path(os.environ.get("PROGRAMFILES", "C:\\Program Files"))
        folders += [Path("C:\\soundfonts"), home / "soundfonts",
                    programs / "MuseScore 4" / "sound", programs / "MuseScore 3" / "sound"]
    folders += [home / "Documents" / "MuseScore4" / "SoundFonts",
                home / "Documents" / "MuseScore3" / "SoundFonts"]
    return list(dict.fromkeys(folders))


def find_soundfont(given: Path | None = None, folders: list[Path] | None = None) -> Path:
    """`given` when it is a readable file, else the best SoundFont in `folders`."""
    if given is not None:
        if not given.is_file():
            raise AbcgenError(f"--soundfont {given}: no such file")
        return given
    searched = search_folders() if folders is None else folders
    found = [p for folder in searched if folder.is_dir() for p in sorted(folder.iterdir())
             if p.suffix.lower() in SUFFIXES and p.is_file()]
    if not found:
        raise AbcgenError(f"audio needs a General MIDI SoundFont and none was found: "
                          f"{INSTALL_HINT}")
    rank = {name.lower(): i for i, name in enumerate(PREFERRED)}
    return min(found, key=lambda p: rank.get(p.name.lower(), len(rank)))
