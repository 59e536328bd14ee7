"""`abcgen plugin ...`: install the MuseScore plugin, and the commands it calls.

`generate` and `continue` answer with one line of JSON on stdout, also on
failure (`{"ok": false, "error": ...}`, exit code 2): MuseScore 3's QProcess
reads stdout only and cannot see an exit code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from abcgen.runtime.cli import app
from abcgen.runtime.errors import AbcgenError

plugin_app = typer.Typer(
    help="The MuseScore plugin: install it, and the commands it calls.",
    no_args_is_help=True,
)
app.add_typer(plugin_app, name="plugin")

MuseScoreVersion = Annotated[
    int | None,
    typer.Option("--musescore", min=3, max=4,
                 help="MuseScore 3 or 4 [default: 4 if only its folder exists, else 3]."),
]
PluginsDir = Annotated[
    Path | None,
    typer.Option("--dir", help="Plugin folder [default: ~/Documents/MuseScoreN/Plugins]."),
]


@plugin_app.command()
def install(
    musescore: MuseScoreVersion = None,
    plugins_dir: PluginsDir = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir",
                     help="Where the plugin leaves tunes [default: ~/Documents/abcgen]."),
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="Exported .onnx model [default: the shipped model].")
    ] = None,
    enable: Annotated[
        bool, typer.Option(help="MuseScore 3: tick the plugins in its plugins.xml.")
    ] = True,
) -> None:
    """Copy the plugin into MuseScore's plugin folder (again: update it)."""
    from abcgen.runtime.musescore import install as pi

    version = musescore or _guess_version()
    done = pi.install(
        (plugins_dir or pi.default_plugins_dir(version)).expanduser(),
        abcgen=pi.find_abcgen(),
        out_dir=(out_dir or pi.default_out_dir()).expanduser(),
        model=model.expanduser() if model else None,
        enable_in=pi.plugins_xml() if enable and version == 3 else None,
    )
    typer.echo(f"installed the abcgen plugin in {done.folder} (calls {done.abcgen})")
    if done.enabled_in:
        typer.echo(f"enabled it in {done.enabled_in}; restart MuseScore, then see "
                   "Plugins > abcgen")
    else:
        typer.echo("restart MuseScore, enable it under Plugins > Manage plugins")


@plugin_app.command()
def uninstall(musescore: MuseScoreVersion = None, plugins_dir: PluginsDir = None) -> None:
    """Remove the plugin from MuseScore's plugin folder."""
    from abcgen.runtime.musescore import install as pi

    version = musescore or _guess_version()
    done = pi.uninstall((plugins_dir or pi.default_plugins_dir(version)).expanduser(),
                        enabled_in=pi.plugins_xml() if version == 3 else None)
    if done.removed:
        typer.echo(f"removed the abcgen plugin from {done.folder}")
    else:
        typer.echo(f"the abcgen plugin was not installed in {done.folder}")


RequestFile = Annotated[Path, typer.Option("--request", help="The plugin's request (JSON).")]
OutDir = Annotated[Path, typer.Option("--out-dir", help="Folder for the .abc/.musicxml/.mid.")]


@plugin_app.command("generate")
def generate_command(request: RequestFile, out_dir: OutDir) -> None:
    """New tunes for the plugin; prints one line of JSON."""
    from abcgen.runtime.musescore.requests import generate_for_plugin, read_request

    _answer(lambda: generate_for_plugin(read_request(request), out_dir))


@plugin_app.command("continue")
def continue_command(request: RequestFile, out_dir: OutDir) -> None:
    """Continue the selection in the request; prints one line of JSON."""
    from abcgen.runtime.musescore.requests import continue_for_plugin, read_request

    _answer(lambda: continue_for_plugin(read_request(request), out_dir))


def _answer(work) -> None:
    try:
        answer: dict[str, Any] = work()
    except AbcgenError as err:
        typer.echo(json.dumps({"ok": False, "error": str(err)}))
        raise
    typer.echo(json.dumps(answer))


def _guess_version() -> int:
    from abcgen.runtime.musescore.install import default_plugins_dir

    only_4 = (default_plugins_dir(4).parent.is_dir()
              and not default_plugins_dir(3).parent.is_dir())
    return 4 if only_4 else 3
