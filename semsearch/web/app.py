"""The web page and the JSON API: parse a request, call the served index (service.py), render."""

from __future__ import annotations

import ipaddress
import os
import socket
import urllib.parse
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import jinja2
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from semsearch import __version__
from semsearch.model.embed import Embedder
from semsearch.errors import SemsearchError
from semsearch.search.filters import FilterError, parse_digest_day
from semsearch.search.fusion import DEFAULT_MODE, MODES, RELATED_MODE
from semsearch.search import Hit
from semsearch.ingest.readers.dates import display_date
from semsearch.storage.store import StoredPaper
from semsearch.web.problems import RequestProblem, http_problem, invalid_parameters, problem_for
from semsearch.web.schema import (
    DEFAULT_LIMIT,
    ERRORS,
    MAX_LIMIT,
    MAX_QUESTION,
    NOT_FOUND,
    Filters,
    HitModel,
    InfoModel,
    Limit,
    Mode,
    PaperModel,
    Question,
    Reference,
    Why,
)
from semsearch.web.service import IndexService, Overview, Worker
from semsearch.web.shapes import error_dict, paper_dict

HERE = Path(__file__).resolve().parent
# Sent with every response. The page needs no script at all, so none may run, even if escaping ever failed.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
        b"frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]

T = TypeVar("T")


# -- rendering ------------------------------------------------------------------------------------------------------

def url_for_page(path: str, **params: Any) -> str:
    """A local URL with its query string; empty parameters are left out."""
    query = urllib.parse.urlencode({name: value for name, value in params.items() if value not in (None, "")})
    return f"{path}?{query}" if query else path


def _templates() -> jinja2.Environment:
    # Autoescape on for every template: paper text from a digest is data, never markup.
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["display_date"] = display_date
    environment.globals["url"] = url_for_page
    return environment


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- the application ------------------------------------------------------------------------------------------------


def create_app(index_path: Path, embedder: Embedder | None = None, *, threads: int = 1) -> FastAPI:
    """The web page and JSON API over the index at `index_path`; `embedder` answers questions (None: only
    related papers, lookups and info)."""
    service = IndexService(Path(index_path), embedder, threads)
    templates = _templates()
    stylesheet = (HERE / "static" / "style.css").read_bytes()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        service.close()

    app = FastAPI(
        title="semsearch",
        version=__version__,
        summary="Semantic search over the abstracts of research papers from daily digests.",
        description="The same answers as the `semsearch` command line, with the same fields as its `--json`.",
        # The interactive docs load their scripts from a CDN, which a local, offline tool must not depend on.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(SecurityHeaders)

    async def run(fn: Callable[[Worker], T]) -> tuple[T, float]:
        try:
            return await service.call(fn)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a status code and a message
            raise problem_for(exc) from exc

    def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        params = request.query_params
        form = {name: params.get(name, "") for name in ("q", "n", "since", "until", "digest", "paper", "mode", "why")}
        try:
            # "May 6" and "--05-06" are the same day: select it in the list of digest days either way.
            form["digest_day"] = parse_digest_day(form["digest"]) or form["digest"]
        except FilterError:
            form["digest_day"] = form["digest"]
        html = templates.get_template(template).render(
            form=form, max_limit=MAX_LIMIT, modes=MODES, default_mode=DEFAULT_MODE, **context
        )
        return HTMLResponse(html, status_code=status)

    async def overview_or_none() -> Overview | None:
        try:
            return (await service.call(lambda worker: worker.overview()))[0]
        except Exception:  # noqa: BLE001 - the page still shows the error that brought it here
            return None

    # -- errors ----------------------------------------------------------------------------------------------------

    async def problem_response(request: Request, problem: RequestProblem) -> Response:
        if request.url.path.startswith("/api/") or request.url.path.endswith(".json"):
            return JSONResponse(error_dict(problem.message, problem.candidates), status_code=problem.status)
        return render(
            request,
            "search.html",
            status=problem.status,
            error=problem.message,
            candidates=problem.candidates,
            overview=await overview_or_none(),
            hits=None,
            source=None,
            took_ms=None,
        )

    @app.exception_handler(RequestProblem)
    async def on_problem(request: Request, exc: RequestProblem) -> Response:
        return await problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        return await problem_response(request, invalid_parameters(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        return await problem_response(request, http_problem(exc.status_code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        return await problem_response(request, problem_for(exc))

    # -- the JSON API ------------------------------------------------------------------------------------------------

    @app.get("/api/ask", response_model=list[HitModel], responses=ERRORS, tags=["search"])
    async def api_ask(
        q: Question, params: Filters, n: Limit = DEFAULT_LIMIT, mode: Mode = DEFAULT_MODE, why: Why = False
    ) -> Response:
        """The papers nearest to a question, best first (the fields of `semsearch ask --json`)."""
        filters = params.parse()
        hits, took = await run(lambda worker: worker.index.ask(q, n, filters=filters, mode=mode, why=why))
        return _json([hit.to_dict() for hit in hits], took)

    @app.get("/api/related", response_model=list[HitModel], responses={**ERRORS, **NOT_FOUND}, tags=["search"])
    async def api_related(
        paper: Reference, params: Filters, n: Limit = DEFAULT_LIMIT, mode: Mode = RELATED_MODE
    ) -> Response:
        """The papers nearest to a stored paper, never the paper itself (the fields of `semsearch related --json`)."""
        filters = params.parse()
        (_source, hits), took = await run(lambda worker: worker.index.related(paper, n, filters=filters, mode=mode))
        return _json([hit.to_dict() for hit in hits], took)

    @app.get("/api/paper", response_model=PaperModel, responses={**ERRORS, **NOT_FOUND}, tags=["papers"])
    async def api_paper(paper: Reference) -> Response:
        """One paper (the fields of `semsearch show --json`)."""
        record, took = await run(lambda worker: worker.index.show(paper))
        return _json(paper_dict(record), took)

    @app.get("/api/info", response_model=InfoModel, responses=ERRORS, tags=["index"])
    async def api_info() -> Response:
        """What the index holds (the fields of `semsearch info --json`)."""
        overview, took = await run(lambda worker: worker.overview())
        return _json(overview.info, took)

    # -- the page ----------------------------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def search_page(
        request: Request,
        params: Filters,
        q: Annotated[str, Query(max_length=MAX_QUESTION)] = "",
        n: Limit = DEFAULT_LIMIT,
        mode: Mode = DEFAULT_MODE,
        why: Why = False,
    ) -> HTMLResponse:
        filters = params.parse()
        question = q.strip()

        def answer(worker: Worker) -> tuple[Overview, list[Hit] | None]:
            # `why` is asked for, not the default: it embeds every sentence of every hit, which costs several
            # times the search itself (about 0.5 s for 10 hits on 2 busy cores, against 30-50 ms).
            hits = worker.index.ask(question, n, filters=filters, mode=mode, why=why) if question else None
            return worker.overview(), hits

        (overview, hits), took = await run(answer)
        return render(
            request, "search.html", overview=overview, hits=hits, source=None, took_ms=took if question else None,
            error=None, candidates=[],
        )

    @app.get("/related", response_class=HTMLResponse, include_in_schema=False)
    async def related_page(
        request: Request, paper: Reference, params: Filters, n: Limit = DEFAULT_LIMIT
    ) -> HTMLResponse:
        filters = params.parse()

        def answer(worker: Worker) -> tuple[Overview, tuple[StoredPaper, list[Hit]]]:
            return worker.overview(), worker.index.related(paper, n, filters=filters)

        (overview, (source, hits)), took = await run(answer)
        return render(
            request, "search.html", overview=overview, hits=hits, source=source, took_ms=took, error=None,
            candidates=[],
        )

    @app.get("/static/style.css", include_in_schema=False)
    async def style() -> Response:
        # One fixed file read at startup: no part of a request names a path on disk.
        return Response(stylesheet, media_type="text/css", headers={"cache-control": "max-age=3600"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """The framework's schema, less its 422 answers: this API says 400 for a bad parameter."""
        if app.openapi_schema is None:
            schema = original_openapi()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _json(document: Any, took_ms: float) -> JSONResponse:
    """A JSON response with the time the index took, in the standard Server-Timing header."""
    return JSONResponse(document, headers={"server-timing": f"search;dur={took_ms:.1f}"})


# -- serving -------------------------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine only (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free port the system picks)."""
    family, _type, _proto, _name, address = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return socket.create_server(address[:2], family=family, backlog=512)


def serve(
    index_path: Path,
    embedder: Embedder | None,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: int = 1,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Open the index, load the model, then answer requests on host:port until interrupted."""
    import uvicorn

    # One search runs on one core: the worker threads are the parallelism. Left to its default, the model's own
    # thread pool fights them for the cores (on 2 busy cores, a question took 182 ms to embed instead of 33 ms).
    # Read once, when the model's libraries load (during warm-up, below), so set it before.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    app = create_app(index_path, embedder, threads=threads)
    app.state.service.warm_up()  # a missing index or another model fails here, before anything listens
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise SemsearchError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port, or --port 0 for a free one"
        ) from exc
    bound_host, bound_port = sock.getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    if on_ready is not None:
        on_ready(f"http://{shown_host}:{bound_port}/")
    uvicorn.Server(config).run(sockets=[sock])

