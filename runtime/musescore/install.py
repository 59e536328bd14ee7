"""Installing the MuseScore plugin: copy its files into MuseScore's plugin folder
and write the small config it reads to find abcgen.

MuseScore starts plugins with a bare environment and no PATH we control, so
the config records the absolute path of the `abcgen` executable that ran the
install, plus the output folder and model. MuseScore 3 lists new plugins
unticked in its plugin manager; install ticks ours in `plugins.xml`.
Both install and uninstall are idempotent, and uninstall takes away what install
made: its files, the folders it created (when left empty) and a plugins.xml it
created (when it lists no other plugin); the config records which those are.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from abcgen.runtime.atomic import write_atomic
from abcgen.runtime.errors import AbcgenError

FOLDER = "abcgen"  # our subfolder of the plugin folder
CONFIG = "abcgen-config.json"
FILES = ("abcgen-generate.qml", "abcgen-continue.qml", "abcgen.js")


@dataclass
class Installed:
    folder: Path
    config: Path
    abcgen: Path
    enabled_in: Path | None = None  # the plugins.xml that now ticks our plugins
    removed: list[Path] = field(default_factory=list)  # uninstall: what went away


def plugin_source() -> Path:
    """The plugin files: package data when installed, else the source tree."""
    spec = importlib.util.find_spec("abcgen.plugins")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "musescore"
    else:
        folder = Path(__file__).resolve().parent.parent / "plugins" / "musescore"
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise AbcgenError(f"the plugin files are missing from {folder}: {', '.join(missing)}")
    return folder


def default_plugins_dir(musescore: int) -> Path:
    return Path.home() / "Documents" / f"MuseScore{musescore}" / "Plugins"


def default_out_dir() -> Path:
    return Path.home() / "Documents" / "abcgen"


def plugins_xml() -> Path:
    """MuseScore 3's list of enabled plugins (its data folder, per platform)."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "MuseScore" / "MuseScore3" / "plugins.xml"


def find_abcgen() -> Path:
    """The `abcgen` executable of this installation, as an absolute path."""
    candidates = [Path(sys.argv[0]), Path(sys.executable).with_name("abcgen")]
    which = shutil.which("abcgen")
    if which:
        candidates.append(Path(which))
    for c in candidates:
        if c.name in ("abcgen", "abcgen.exe") and c.is_file() and os.access(c, os.X_OK):
            return c.resolve()
    raise AbcgenError("cannot find the abcgen executable; is abcgen installed with pip?")


def install(
    plugins_dir: Path,
    *,
    abcgen: Path,
    out_dir: Path,
    model: Path | None = None,
    enable_in: Path | None = None,
) -> Installed:
    """Copy the plugin into `plugins_dir/abcgen`, write its config, tick it in `enable_in`."""
    for what, path in (("abcgen", abcgen), ("output folder", out_dir), ("model", model)):
        # MuseScore 3 splits its one command line on blanks, grouping only "..."
        if path is not None and '"' in str(path):
            raise AbcgenError(f"the {what} path {path} contains a double quote, which "
                              "MuseScore 3 cannot pass on; choose another folder")
    if model is not None and not model.is_file():
        raise AbcgenError(f"model file not found: {model}")
    source = plugin_source()
    folder = plugins_dir / FOLDER
    created = _created(folder)  # an update keeps the record of the first install
    created += _make_folder(folder) + _make_folder(out_dir)
    if enable_in is not None and not enable_in.exists():
        created += [*_make_folder(enable_in.parent), enable_in]
    for name in FILES:
        write_atomic(folder / name, (source / name).read_bytes())
    config = {
        "abcgen": str(abcgen),
        "out_dir": str(out_dir.resolve()),
        "model": str(model.resolve()) if model else None,
        "created": [str(p) for p in dict.fromkeys(created)],  # what uninstall may take away
    }
    write_atomic(folder / CONFIG, json.dumps(config, indent=2) + "\n")
    installed = Installed(folder=folder, config=folder / CONFIG, abcgen=abcgen)
    if enable_in is not None:
        _set_enabled(enable_in, [folder / n for n in FILES if n.endswith(".qml")], True)
        installed.enabled_in = enable_in
    return installed


def uninstall(plugins_dir: Path, *, enabled_in: Path | None = None) -> Installed:
    """Remove what `install` put there (and only that); untick it in `enabled_in`."""
    folder = plugins_dir / FOLDER
    created = _created(folder)
    removed = []
    for name in (*FILES, CONFIG):
        path = folder / name
        if path.is_file():
            path.unlink()
            removed.append(path)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    if enabled_in is not None:
        _set_enabled(enabled_in, [folder / n for n in FILES if n.endswith(".qml")], False)
        if enabled_in in created and not _plugin_entries(enabled_in):
            enabled_in.unlink()  # ours, and nobody else's plugins are listed in it
    for path in sorted(created, key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()  # a folder install made, left empty
    return Installed(folder=folder, config=folder / CONFIG, abcgen=Path(), removed=removed,
                     enabled_in=enabled_in)


def _make_folder(path: Path) -> list[Path]:
    """mkdir -p, and the folders it made, outermost first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    try:
        for folder in reversed(missing):
            folder.mkdir()
    except OSError as err:
        raise AbcgenError(f"cannot create {err.filename}: {err.strerror}") from None
    return list(reversed(missing))


def _created(folder: Path) -> list[Path]:
    """What an earlier install made, as its config recorded (nothing if unreadable)."""
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        return [Path(p) for p in config.get("created", [])]
    except (OSError, ValueError, AttributeError, TypeError):
        return []


def _plugin_entries(xml_path: Path) -> int:
    try:
        return len(ET.parse(xml_path).getroot().findall("Plugin"))
    except (OSError, ET.ParseError):
        return 1  # unreadable: not ours to judge, so it stays


def _set_enabled(xml_path: Path, qml_files: list[Path], enabled: bool) -> None:
    """Add (or drop) our <Plugin> entries with <load>1</load>, keeping everyone else's."""
    paths = {str(p.resolve()) for p in qml_files}
    if xml_path.is_file():
        try:
            root = ET.parse(xml_path).getroot()
        except ET.ParseError as err:
            raise AbcgenError(f"cannot read {xml_path}: {err}") from None
    elif not enabled:
        return
    else:
        root = ET.Element("museScore", version="3.02")
    for plugin in root.findall("Plugin"):
        if (plugin.findtext("path") or "") in paths:
            root.remove(plugin)
    if enabled:
        for path in sorted(paths):
            plugin = ET.SubElement(root, "Plugin")
            ET.SubElement(plugin, "path").text = path
            ET.SubElement(plugin, "load").text = "1"
    ET.indent(root)
    try:
        xml_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AbcgenError(f"cannot create {xml_path.parent}: {err.strerror}") from None
    write_atomic(xml_path, '<?xml version="1.0" encoding="UTF-8"?>\n'
                 + ET.tostring(root, encoding="unicode") + "\n")
