"""The web application behind `abcgen serve`: the page, and the JSON API it uses
(README, "The JSON API").

Starlette rather than FastAPI: the API is a dozen routes whose JSON is checked
by `GeneratorParams` itself, so FastAPI's pydantic layer would add a large
dependency and a second set of messages for the same options. Blocking work
(generation, engraving, audio, SQLite) runs in threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from abcgen.runtime.abc.writer import format_abc
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.formats.soundfonts import find_soundfont
from abcgen.runtime.generate.onnx_model import Model
from abcgen.runtime.generate.params import GeneratorParams
from abcgen.runtime.generate.prime import check_prefix
from abcgen.runtime.serve import files
from abcgen.runtime.serve.archive import Archive, NewTune
from abcgen.runtime.serve.composer import Busy, Composer, Made
from abcgen.runtime.serve.requests import (
    COMPOSE_FIELDS,
    MAX_BODY,
    MAX_CHARS,
    MAX_TUNES,
    BadRequest,
    asked,
    compose_params,
    json_object,
)

PAGE = Path(__file__).with_name("page")
SECURITY = {
    # Everything the page loads comes from this server (blob: holds files made from
    # text being edited); nothing may frame it.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; media-src 'self' "
                               "blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY.items()]


@dataclass
class Settings:
    model: Path
    db: Path
    soundfont: Path | None = None  # None: the one find_soundfont finds, if any
    workers: int | None = None  # None: one per core


class Workshop:
    """What the routes share: the model, its composer, the archive, the SoundFont."""

    def __init__(self, settings: Settings) -> None:
        self.model = Model(settings.model)
        self.model_name = settings.model.name
        self.model_sha256 = hashlib.sha256(settings.model.read_bytes()).hexdigest()
        self.archive = Archive(settings.db)
        self.composer = Composer(self.model, workers=settings.workers, keep=self.keep)
        try:
            self.soundfont: Path | None = find_soundfont(settings.soundfont)
            self.no_sound = ""
        except AbcgenError as err:
            self.soundfont, self.no_sound = None, str(err)

    def keep(self, params: GeneratorParams, made: Made) -> dict[str, Any]:
        """A compose's tunes into the archive (all or none), titled as `abcgen generate
        --seed S --num K` titles them; the compose's answer. Runs in the worker."""
        new, checks = [], []
        for place, tune in enumerate(made.tunes, made.first):
            title = f"abcgen seed {made.seed}" + (f" #{place}" if made.batch > 1 else "")
            abc = format_abc(tune.text, index=1, title=title)
            facts, check = files.describe(abc)
            checks.append(check)
            new.append(NewTune(title, abc, facts.meter, facts.key, facts.form,
                               {**asked(params), "seed": made.seed, "batch": made.batch,
                                "place": place, "ended": tune.ended},
                               self.model_name, self.model_sha256))
        rows = [self.archive.get(i) for i in self.archive.add(new)]
        return {"seed": made.seed, "batch": made.batch,
                "tunes": [_tune_json(r, c) for r, c in zip(rows, checks, strict=True)]}

    def close(self) -> None:
        self.composer.close()
        self.archive.close()


def create_app(settings: Settings) -> Starlette:
    """The application; the model and the archive open before it takes requests, so a
    bad --model or --db fails at start with its message."""
    shop = Workshop(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        shop.close()

    routes = [
        Route("/", page), Route("/archive", page), Route("/check", page),
        Route("/tune/{id:int}", page),
        Route("/api/info", info), Route("/api/compose", compose, methods=["POST"]),
        Route("/api/tunes", tune_list),
        Route("/api/tunes/{id:int}", tune, methods=["GET", "PATCH", "DELETE"]),
        Route("/api/tunes/{id:int}/tune.{fmt}", tune_file),
        Route("/api/check", check, methods=["POST"]),
        Route("/api/convert", convert, methods=["POST"]),
        Mount("/static", StaticFiles(directory=PAGE), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(Secure)],
                    exception_handlers={HTTPException: http_error, Exception: internal_error})
    app.state.shop = shop
    return app


class Secure:
    """Adds SECURITY's headers to every response (plain ASGI: it leaves the request's
    stream, and so the check for a client gone away, untouched)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


# -- pages and errors --------------------------------------------------------

async def page(request: Request) -> Response:
    return FileResponse(PAGE / "index.html", media_type="text/html; charset=utf-8")


def error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def http_error(request: Request, exc: HTTPException) -> Response:
    message = {404: f"no such address: {request.url.path}",
               405: f"{request.method} is not allowed here"}.get(exc.status_code, exc.detail)
    return error(message, exc.status_code)


async def internal_error(request: Request, exc: Exception) -> Response:
    """A fault of ours: a short JSON message, never a traceback to the client."""
    return error(f"internal error ({type(exc).__name__}); the server's log has more", 500)


def _shop(request: Request) -> Workshop:
    return request.app.state.shop


async def _body(request: Request) -> bytes:
    """The request body, refused with 413 past MAX_BODY before more is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BadRequest(f"the upload is larger than {MAX_BODY >> 20} MB", 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise BadRequest(f"the upload is larger than {MAX_BODY >> 20} MB", 413)
    return bytes(body)


def _answers(handler):
    """Bad requests and known failures as 4xx JSON."""
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequest as err:
            return error(str(err), err.status)
        except Busy as err:
            return error(str(err), 503)
        except AbcgenError as err:
            return error(str(err), 422)

    wrapped.__name__ = handler.__name__
    return wrapped


# -- the API -------------------------------------------------------------------

@_answers
async def info(request: Request) -> Response:
    shop = _shop(request)
    return JSONResponse({
        "model": {"name": shop.model_name, "sha256": shop.model_sha256},
        "soundfont": str(shop.soundfont) if shop.soundfont else None,
        "no_sound": shop.no_sound,
        "options": list(COMPOSE_FIELDS),
        "limits": {"num": MAX_TUNES, "max_chars": MAX_CHARS, "body_bytes": MAX_BODY},
        "archive": str(shop.archive.path), "waiting": shop.composer.waiting(),
        "stopped": shop.composer.stopped, "batches": dict(sorted(shop.composer.batches.items())),
        "choices": await run_in_threadpool(shop.archive.choices),
    })


@_answers
async def compose(request: Request) -> Response:
    shop = _shop(request)
    data = json_object(await _body(request))
    params = compose_params(data)
    if params.prefix:
        check_prefix(params.prefix, shop.model.info.vocab)
    try:
        answer = await shop.composer.compose(params, seed_given=data.get("seed") is not None,
                                           gone=request.is_disconnected)
    except asyncio.CancelledError:
        return Response(status_code=499)  # nobody reads it
    return JSONResponse(answer)


def _tune_json(row: dict[str, Any], check: dict | None = None) -> dict[str, Any]:
    tid = row["id"]
    return {
        **{k: row[k] for k in ("id", "title", "abc", "generated", "created", "edited", "meter",
                               "key", "form", "favourite", "params")},
        "url": f"/tune/{tid}",
        "model": {"name": row["model_name"], "sha256": row["model_sha256"]},
        "files": {fmt: f"/api/tunes/{tid}/tune.{fmt}" for fmt in files.FORMATS},
        "check": check or files.check(row["abc"].encode())[0],
    }


async def _row(request: Request) -> dict[str, Any]:
    tid = request.path_params["id"]
    row = await run_in_threadpool(_shop(request).archive.get, tid)
    if row is None:
        raise BadRequest(f"no tune {tid} in the archive", 404)
    return row


@_answers
async def tune_list(request: Request) -> Response:
    q = request.query_params
    try:
        limit = min(max(int(q.get("limit", 50)), 1), 500)
        offset = max(int(q.get("offset", 0)), 0)
    except ValueError:
        raise BadRequest("limit and offset must be whole numbers") from None
    tunes, total = await run_in_threadpool(
        lambda: _shop(request).archive.search(
            text=q.get("q", "").strip(), meter=q.get("meter", ""), key=q.get("key", ""),
            form=q.get("form", ""), favourite=q.get("favourite", "") in ("1", "true"),
            limit=limit, offset=offset))
    for t in tunes:
        t["url"] = f"/tune/{t['id']}"
    return JSONResponse({"tunes": tunes, "total": total, "limit": limit, "offset": offset})


@_answers
async def tune(request: Request) -> Response:
    shop = _shop(request)
    row = await _row(request)
    if request.method == "DELETE":
        await run_in_threadpool(shop.archive.delete, row["id"])
        return Response(status_code=204)
    if request.method == "PATCH":
        await run_in_threadpool(shop.archive.update, row["id"],
                                **_changes(json_object(await _body(request))))
        row = await _row(request)
    return JSONResponse(await run_in_threadpool(_tune_json, row))


def _changes(data: dict[str, Any]) -> dict[str, Any]:
    """What a PATCH may change: favourite, title, or the ABC (then meter, key and form
    are read from it again)."""
    unknown = sorted(set(data) - {"favourite", "title", "abc"})
    if unknown or not data:
        raise BadRequest("a tune's favourite, title and abc can change, "
                         f"not {unknown or 'nothing'}")
    if "favourite" in data and not isinstance(data["favourite"], bool):
        raise BadRequest("favourite must be true or false")
    for name in ("title", "abc"):
        if name in data and not (isinstance(data[name], str) and data[name].strip()):
            raise BadRequest(f"{name} must be non-empty text")
    changes = dict(data)
    if "abc" in data:
        if len(files.tunes_of(data["abc"].encode())) != 1:
            raise BadRequest("the ABC must hold exactly one tune")
        facts, _ = files.describe(data["abc"])
        changes.update(meter=facts.meter, key=facts.key, form=facts.form)
    return changes


@_answers
async def tune_file(request: Request) -> Response:
    fmt = request.path_params["fmt"]
    if fmt not in files.FORMATS:
        raise BadRequest(f"no format {fmt!r}: use one of {', '.join(files.FORMATS)}", 404)
    row = await _row(request)
    name = f"abcgen-{row['id']}{files.FORMATS[fmt][0]}"
    return await _file(request, row["abc"], fmt, 1, name)


async def _file(request: Request, text: str, fmt: str, index: int, name: str) -> Response:
    shop = _shop(request)
    if fmt == "wav" and shop.soundfont is None:
        raise BadRequest(shop.no_sound, 409)
    data = await run_in_threadpool(files.render, text, fmt, index=index,
                                   soundfont=shop.soundfont)
    shown = "inline" if request.query_params.get("inline") else "attachment"
    return Response(data, media_type=files.FORMATS[fmt][1],
                    headers={"Content-Disposition": f'{shown}; filename="{name}"'})


@_answers
async def check(request: Request) -> Response:
    """An .abc file's bytes (one tune or a tunebook) -> each tune's diagnostics."""
    data = await _body(request)
    report = await run_in_threadpool(files.check, data)
    if not report:
        raise BadRequest("no tune in the text (a tune starts with an X: or K: line)", 422)
    return JSONResponse({"tunes": report})


@_answers
async def convert(request: Request) -> Response:
    """An .abc file's bytes -> tune N (`?tune=N`, default 1) as `?format=`."""
    fmt = request.query_params.get("format", "")
    if fmt not in files.FORMATS:
        raise BadRequest(f"format must be one of {', '.join(files.FORMATS)}")
    try:
        index = int(request.query_params.get("tune", "1"))
    except ValueError:
        raise BadRequest("tune must be a whole number") from None
    tunes = await run_in_threadpool(files.tunes_of, await _body(request))
    if not 1 <= index <= len(tunes):
        raise BadRequest(f"tune {index}: the text has {len(tunes)} tune(s)", 422)
    name = f"tune-{index}{files.FORMATS[fmt][0]}"
    return await _file(request, tunes[index - 1][1], fmt, index, name)
