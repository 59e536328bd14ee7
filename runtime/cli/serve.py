"""`abcgen serve`: the tune workshop in the browser, on this computer only."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from abcgen.exported import DEFAULT_MODEL
from abcgen.runtime.cli import app
from abcgen.runtime.errors import AbcgenError


@app.command()
def serve(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free "
                                      "one).")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on; another than 127.0.0.1 lets "
                                      "other computers compose and read the archive.")
                    ] = "127.0.0.1",
    db: Annotated[Path | None, typer.Option(help="The archive (SQLite) to keep tunes in.",
                                            show_default="archive.sqlite in the user's data "
                                            "folder")] = None,
    model: Annotated[Path, typer.Option(help="Exported .onnx model.",
                                        show_default="the shipped model")] = DEFAULT_MODEL,
    soundfont: Annotated[
        Path | None,
        typer.Option(help="SoundFont (.sf2/.sf3) for the audio.", envvar="ABCGEN_SOUNDFONT",
                     show_default="a General MIDI SoundFont found on the system"),
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="Generation threads.",
                                                show_default="one per core")] = None,
) -> None:
    """Compose, hear, check and keep tunes in a web page (needs the serve extra)."""
    import uvicorn

    from abcgen.runtime.serve.app import Settings, create_app
    from abcgen.runtime.serve.archive import default_path

    sock = _listen(host, port)  # a busy port fails before the model loads
    application = create_app(Settings(model, db or default_path(), soundfont, workers))
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"abcgen serve: open http://{shown}:{sock.getsockname()[1]}/ "
               f"(archive {application.state.shop.archive.path}; Ctrl+C stops)")
    config = uvicorn.Config(application, log_level="warning", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise AbcgenError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
