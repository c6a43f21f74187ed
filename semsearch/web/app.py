"""The FastAPI application: the routes of the page and the JSON API, and how a failure becomes an answer.

A route parses its request (schema.py), calls the served index (service.py) and renders (page.py, or the
library's own `--json` dictionaries); errors become one-line messages (problems.py). Nothing else lives here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from semsearch import __version__, feed
from semsearch.citations import bibtex_entries
from semsearch.model.embed import Embedder
from semsearch.search.fusion import DEFAULT_MODE, RELATED_MODE
from semsearch.web.forms import FormGuard, next_page
from semsearch.web.page import SearchPage, stylesheet
from semsearch.web.problems import (
    RequestProblem,
    http_problem,
    invalid_parameters,
    problem_for,
)
from semsearch.web.schema import (
    DEFAULT_LIMIT,
    ERRORS,
    MAX_QUESTION,
    NOT_FOUND,
    NOTICE_HEADER,
    NOTICES,
    Filters,
    HitModel,
    InfoModel,
    Limit,
    Mode,
    NewsModel,
    OutputFormat,
    PaperModel,
    Question,
    Reference,
    Since,
    Why,
)
from semsearch.web.service import IndexService, Overview, Worker
from semsearch.web.shapes import error_dict

if TYPE_CHECKING:
    from semsearch.search import Hits, StoredPaper

T = TypeVar("T")
# BibTeX's media type (text/*: the framework adds the charset, UTF-8).
BIBTEX_MEDIA_TYPE = "text/x-bibtex"
# Sent with every response. The page needs no script at all, so none may run, even if escaping ever failed.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        (
            b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
            b"frame-ancestors 'none'"
        ),
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        """Pass the request on; add the headers to the response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(index_path: Path, embedder: Embedder | None = None, *, threads: int = 1) -> FastAPI:
    """The web page and JSON API over the index at `index_path`; `embedder` answers questions (None: only
    related papers, lookups and info)."""
    service = IndexService(Path(index_path), embedder, threads)
    page = SearchPage()
    guard = FormGuard()  # a new secret each start: a token from an earlier run is refused
    style = stylesheet()  # one fixed file read at startup: no part of a request names a path on disk

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
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
        except Exception as exc:  # every failure becomes a status code and a message
            raise problem_for(exc) from exc

    async def overview_or_none() -> Overview | None:
        try:
            return (await service.call(lambda worker: worker.overview()))[0]
        except Exception:  # noqa: BLE001 - the page still shows the error that brought it here
            return None

    def html(request: Request, overview: Overview | None, took_ms: float | None = None, **shown: Any) -> HTMLResponse:
        return HTMLResponse(
            page.render(request.query_params, overview, took_ms=took_ms, **shown, **form_context(request))
        )

    def form_context(request: Request) -> dict[str, Any]:
        """What the like buttons and other forms need: the token, and the page to come back to."""
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return {"form_token": guard.token, "here": here}

    def liked_keys(worker: Worker) -> frozenset[str]:
        return frozenset(like.paper.key for like in feed.likes(worker.index.folder))

    # -- errors ----------------------------------------------------------------------------------------------------

    async def problem_response(request: Request, problem: RequestProblem) -> Response:
        if request.url.path.startswith("/api/") or request.url.path.endswith(".json"):
            return JSONResponse(error_dict(problem.message, problem.candidates), status_code=problem.status)
        text = page.render(
            request.query_params,
            await overview_or_none(),
            error=problem.message,
            candidates=problem.candidates,
            **form_context(request),
        )
        return HTMLResponse(text, status_code=problem.status)

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

    @app.get("/api/ask", response_model=list[HitModel], responses={**NOTICES, **ERRORS}, tags=["search"])
    async def api_ask(
        q: Question,
        params: Filters,
        n: Limit = DEFAULT_LIMIT,
        mode: Mode = DEFAULT_MODE,
        why: Why = False,
        output: OutputFormat = "json",
    ) -> Response:
        """The papers nearest to a question, best first (the fields of `semsearch ask --json`)."""
        filters = params.parse()
        hits, took = await run(lambda worker: worker.index.ask(q, n, filters=filters, mode=mode, why=why))
        return _bibtex([hit.paper for hit in hits], took) if output == "bibtex" else _hits_json(hits, took)

    @app.get(
        "/api/related", response_model=list[HitModel], responses={**NOTICES, **ERRORS, **NOT_FOUND}, tags=["search"]
    )
    async def api_related(
        paper: Reference,
        params: Filters,
        n: Limit = DEFAULT_LIMIT,
        mode: Mode = RELATED_MODE,
        output: OutputFormat = "json",
    ) -> Response:
        """The papers nearest to a stored paper, never the paper itself (the fields of `semsearch related --json`)."""
        filters = params.parse()
        (_source, hits), took = await run(lambda worker: worker.index.related(paper, n, filters=filters, mode=mode))
        return _bibtex([hit.paper for hit in hits], took) if output == "bibtex" else _hits_json(hits, took)

    @app.get("/api/paper", response_model=PaperModel, responses={**ERRORS, **NOT_FOUND}, tags=["papers"])
    async def api_paper(paper: Reference, output: OutputFormat = "json") -> Response:
        """One paper (the fields of `semsearch show --json`)."""
        record, took = await run(lambda worker: worker.index.show(paper))
        return _bibtex([record], took) if output == "bibtex" else _json(record.to_dict(), took)

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

        def answer(worker: Worker) -> tuple[Overview, Hits | None, frozenset[str]]:
            # `why` is asked for, not the default: it embeds every sentence of every hit, which costs several
            # times the search itself (about 0.5 s for 10 hits on 2 busy cores, against 30-50 ms).
            hits = worker.index.ask(question, n, filters=filters, mode=mode, why=why) if question else None
            return worker.overview(), hits, liked_keys(worker) if hits else frozenset()

        (overview, hits, liked), took = await run(answer)
        notices = [notice.message for notice in hits.notices] if hits is not None else []
        return html(request, overview, took if question else None, hits=hits, notices=notices, liked=liked)

    @app.get("/related", response_class=HTMLResponse, include_in_schema=False)
    async def related_page(
        request: Request, paper: Reference, params: Filters, n: Limit = DEFAULT_LIMIT
    ) -> HTMLResponse:
        filters = params.parse()

        def answer(worker: Worker) -> tuple[Overview, tuple[StoredPaper, Hits], frozenset[str]]:
            return worker.overview(), worker.index.related(paper, n, filters=filters), liked_keys(worker)

        (overview, (source, hits), liked), took = await run(answer)
        notices = [notice.message for notice in hits.notices]
        return html(request, overview, took, hits=hits, source=source, notices=notices, liked=liked)

    # -- the reader's feed: "New for you", and the forms that change what it is made of ---------------------------

    def news_of(worker: Worker, since: str | None, n: int, include_all: bool) -> feed.Feed:
        # A page or API view only looks (peek): a GET never changes the index; "mark as seen" is a form.
        return feed.news(worker.index, since=since, peek=True, limit=n, include_all=include_all)

    @app.get("/api/news", response_model=list[NewsModel], responses=ERRORS, tags=["feed"])
    async def api_news(since: Since = None, n: Limit = DEFAULT_LIMIT, all: bool = False) -> Response:  # noqa: A002
        """The new papers ranked by the watches and likes they match (the fields of `semsearch news --json --peek`;
        it never moves the last-seen mark)."""
        picks, took = await run(lambda worker: news_of(worker, since, n, all))
        return _json([pick.to_dict() for pick in picks], took)

    @app.get("/news", response_class=HTMLResponse, include_in_schema=False)
    async def news_page(
        request: Request, since: Since = None, n: Limit = DEFAULT_LIMIT, all: bool = False  # noqa: A002
    ) -> HTMLResponse:
        def answer(worker: Worker):
            picks = news_of(worker, since, n, all)
            folder = worker.index.folder
            return worker.overview(), picks, feed.watches(folder), feed.likes(folder)

        (overview, picks, watches, likes), took = await run(answer)
        return HTMLResponse(
            page.render_news(
                request.query_params,
                overview,
                picks=picks,
                watches=watches,
                likes=likes,
                took_ms=took,
                **form_context(request),
            )
        )

    async def change(request: Request, action: Callable[[dict[str, str]], Any]) -> Response:
        """Check a form (origin, token), carry out its change on a worker, then go back to the page it came from."""
        fields = await guard.read(request)
        await run(lambda _worker: action(fields))
        return RedirectResponse(next_page(fields), status_code=303)

    @app.post("/watches", include_in_schema=False)
    async def add_watch(request: Request) -> Response:
        return await change(
            request, lambda f: feed.add_watch(service.folder, f.get("question", ""), f.get("name") or None)
        )

    @app.post("/watches/remove", include_in_schema=False)
    async def remove_watch(request: Request) -> Response:
        return await change(request, lambda f: feed.remove_watch(service.folder, f.get("name", "")))

    @app.post("/likes", include_in_schema=False)
    async def like(request: Request) -> Response:
        return await change(request, lambda f: feed.set_liked(service.folder, [f.get("paper", "")], liked=True))

    @app.post("/likes/remove", include_in_schema=False)
    async def unlike(request: Request) -> Response:
        return await change(request, lambda f: feed.set_liked(service.folder, [f.get("paper", "")], liked=False))

    @app.post("/news/seen", include_in_schema=False)
    async def mark_seen(request: Request) -> Response:
        def seen(fields: dict[str, str]) -> int:
            upto = fields.get("upto", "")
            return feed.mark_seen(service.folder, int(upto) if upto.isdigit() else None)

        return await change(request, seen)

    @app.get("/static/style.css", include_in_schema=False)
    async def style_css() -> Response:
        return Response(style, media_type="text/css", headers={"cache-control": "max-age=3600"})

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


def _bibtex(papers: list[StoredPaper], took_ms: float) -> Response:
    """BibTeX entries of the papers, as a reference manager imports them (`--format bibtex`)."""
    return Response(
        bibtex_entries(papers),
        media_type=BIBTEX_MEDIA_TYPE,
        headers={
            "server-timing": f"search;dur={took_ms:.1f}",
            "content-disposition": 'inline; filename="semsearch.bib"',
        },
    )


def _hits_json(hits: Hits, took_ms: float) -> JSONResponse:
    """The hits as the CLI's --json array; each notice of the search in its own NOTICE_HEADER (the body keeps the
    one shape the CLI prints, as the CLI keeps notices on stderr)."""
    response = _json([hit.to_dict() for hit in hits], took_ms)
    for notice in hits.notices:
        # A header is Latin-1 at most: anything else (a paper's title in another script) as \uXXXX escapes.
        response.headers.append(NOTICE_HEADER, notice.message.encode("ascii", "backslashreplace").decode("ascii"))
    return response

