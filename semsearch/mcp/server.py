"""The MCP server: one tool per reading command (and `fetch`), answering with the dictionaries of the CLI's `--json`.

Every call runs on one worker thread that holds the open index (a SQLite connection belongs to the thread that
opened it), reopened when another process has committed since (papers added by `semsearch update` are seen at
once). The model is created once per process, at the first call that needs it, and loads itself at its first
question. A failure the CLI would print as `Error: ...` comes back as a tool error with the same line; stdout carries
nothing but the protocol, and logs go to stderr.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from semsearch import __version__, feed
from semsearch.errors import PaperNotFoundError, SemsearchError, is_disk_full
from semsearch.model.embed import Embedder
from semsearch.search import SearchIndex, single_threaded_searches
from semsearch.search.filters import PaperFilter, parse_date
from semsearch.search.fusion import DEFAULT_MODE, MODES, RELATED_MODE

T = TypeVar("T")
log = logging.getLogger("semsearch.mcp")

MAX_LIMIT = 100
# Every tool, in the order a client lists them.
TOOL_NAMES = (
    "search_papers", "related_papers", "get_paper", "whats_new", "index_status", "fetch_daily_papers"
)

INSTRUCTIONS = (
    "semsearch searches the titles and abstracts of research papers from Hugging Face's Daily Papers digests, "
    "indexed on this machine. Use search_papers for a question or topic, related_papers for papers like one "
    "already found, get_paper for one paper's abstract and details, index_status for what the index covers, and "
    "fetch_daily_papers (which downloads and changes the index) only when the user wants newer days."
)

Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="How many papers to return, best first.")]
Mode = Annotated[
    Literal[MODES],  # type: ignore[valid-type]
    Field(description="Ranking: hybrid (meaning and words fused; best in general), dense (meaning only), "
          "lexical (exact words, BM25; for names, acronyms, rare terms)."),
]
Day = Annotated[str | None, Field(description="A day as YYYY-MM-DD, or null.")]
PaperRef = Annotated[
    str,
    Field(min_length=1, description="The paper: its key or arXiv id (as search results give them), or its title."),
]


def _one_line(exc: BaseException) -> str:
    """The message the CLI prints after `Error: `, with an unknown paper's candidates on the lines after."""
    if isinstance(exc, PaperNotFoundError):
        lines = [str(exc), *(f"  {key}  {title}" for key, title in exc.candidates)]
        left_out = (exc.total or 0) - len(exc.candidates)
        if left_out > 0:
            lines.append(f"  ... and {left_out} more")
        return "\n".join(lines)
    if isinstance(exc, SemsearchError):
        return str(exc)
    if is_disk_full(exc):
        return "the disk is full; free space and call the tool again"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc} ({exc.filename or 'no file'}); check the path and free disk space"
    return (
        f"unexpected {exc.__class__.__name__}: {exc}; start the server with SEMSEARCH_DEBUG=1 in its environment "
        "for the traceback in its log, and report it"
    )


def _json_result(document: Any, notices: Sequence[str] = ()) -> CallToolResult:
    """The CLI's `--json` text as the content (notices after it, as the CLI says them on stderr), and the document
    as structured content (a list wrapped as {"result": ...}, as the SDK wraps one)."""
    content = [TextContent(type="text", text=json.dumps(document, ensure_ascii=False, indent=2))]
    content += [TextContent(type="text", text=f"notice: {notice}") for notice in notices]
    structured = document if isinstance(document, dict) else {"result": document}
    return CallToolResult(content=content, structured_content=structured)


class PaperTools:
    """The index behind the tools: opened on one worker thread, reopened when stale; the embedder made once."""

    def __init__(self, folder: Path, embedder_factory: Callable[[], Embedder]) -> None:
        self.folder = folder
        self._embedder_factory = embedder_factory
        self._embedder: Embedder | None = None
        self._index: SearchIndex | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="semsearch-mcp")

    @property
    def embedder(self) -> Embedder:
        """The embedder, created at the first call that needs it."""
        if self._embedder is None:
            self._embedder = self._embedder_factory()
        return self._embedder

    def index(self) -> SearchIndex:
        """The open index (on the worker thread), current as of this call."""
        if self._index is not None and self._index.is_stale():
            self._index.close()
            self._index = None
        if self._index is None:
            single_threaded_searches()
            self._index = SearchIndex(self.folder, self.embedder)
        return self._index

    async def call(self, fn: Callable[[PaperTools], T]) -> T:
        """Run `fn` on the worker thread; a failure becomes a tool error with the CLI's message."""
        try:
            return await asyncio.wrap_future(self._executor.submit(fn, self))
        except ToolError:
            raise
        except Exception as exc:  # every failure is a one-line tool error, never a traceback
            if not isinstance(exc, SemsearchError) and os.environ.get("SEMSEARCH_DEBUG"):
                log.warning("a tool failed", exc_info=True)  # to stderr, the assistant's log of the server
            raise ToolError(_one_line(exc)) from exc

    def close(self) -> None:
        """Close the index on its thread and stop the thread."""

        def close_here(tools: PaperTools) -> None:
            if tools._index is not None:
                tools._index.close()
                tools._index = None

        self._executor.submit(close_here, self).result()
        self._executor.shutdown(wait=True)


def _filters(since: str | None, until: str | None) -> PaperFilter | None:
    try:
        return PaperFilter.parse(since, until, None)
    except SemsearchError as exc:
        raise ToolError(str(exc)) from exc


def _day(text: str | None, what: str) -> dt.date | None:
    if text is None or not text.strip():
        return None
    try:
        return dt.date.fromisoformat(parse_date(text, what))
    except SemsearchError as exc:
        raise ToolError(str(exc)) from exc


def _answering(tool: Callable[..., Awaitable[CallToolResult]]) -> Callable[..., Awaitable[CallToolResult]]:
    """The tool, its errors returned as tool errors carrying exactly the CLI's message (the SDK would prefix a
    raised one with "Error executing tool NAME: ")."""

    @functools.wraps(tool)
    async def answer(*args: Any, **kwargs: Any) -> CallToolResult:
        try:
            return await tool(*args, **kwargs)
        except ToolError as exc:
            return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)

    return answer


def create_server(tools: PaperTools) -> MCPServer:
    """The MCP server of `tools`: search, related papers, one paper, the index's status, and fetching new days."""
    server = MCPServer(name="semsearch", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=read_only)
    @_answering
    async def search_papers(
        query: Annotated[str, Field(min_length=1, description="What to look for, in plain words.")],
        limit: Limit = 10,
        since: Day = None,
        until: Day = None,
        mode: Mode = DEFAULT_MODE,
    ) -> CallToolResult:
        """Find research papers by meaning: the abstracts nearest to a question or topic, best first.

        Use this first for any question about papers on a subject ("sparse attention for long context", "which
        papers fine-tune diffusion models on video"). `since`/`until` keep papers from digests of those days
        (inclusive). Returns a JSON array of hits: rank, score, score_kind, key, title, date, dates, arxiv_id and
        abstract. Pass a hit's key to related_papers or get_paper.
        """
        filters = _filters(since, until)
        hits = await tools.call(lambda t: t.index().ask(query, limit, filters=filters, mode=mode))
        return _json_result([hit.to_dict() for hit in hits], [notice.message for notice in hits.notices])

    @server.tool(annotations=read_only)
    @_answering
    async def related_papers(paper: PaperRef, limit: Limit = 10) -> CallToolResult:
        """Find the papers most similar to one paper in the index (never the paper itself), best first.

        Use it to widen a search from a good hit ("more like this"). Returns the same JSON array of hits as
        search_papers. An unknown or ambiguous paper is an error listing the papers it may mean.
        """
        _source, hits = await tools.call(lambda t: t.index().related(paper, limit, mode=RELATED_MODE))
        return _json_result([hit.to_dict() for hit in hits])

    @server.tool(annotations=read_only)
    @_answering
    async def get_paper(paper: PaperRef) -> CallToolResult:
        """Read one paper: key, title, arXiv id, authors (when the digest listed them), the dates and digests it
        appeared in, and its full abstract.

        Use it to read a hit in full or to look up a paper by arXiv id or title.
        """
        record = await tools.call(lambda t: t.index().show(paper))
        return _json_result(record.to_dict())

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                                             open_world_hint=False))
    @_answering
    async def whats_new(
        limit: Limit = 20,
        peek: Annotated[
            bool,
            Field(description="True (default): only look. False: also mark these papers as seen, as `semsearch news` "
                  "does, so the next call lists only papers that arrive after it."),
        ] = True,
    ) -> CallToolResult:
        """List the papers that entered the index since the reader last looked, ranked by how well each matches the
        reader's saved questions (watches) and liked papers, best first, each with what it matched and why.

        Use it for "what's new for me" or "anything relevant today". With peek=False it writes: it moves the
        reader's last-seen mark. Returns the JSON array of `semsearch news --json`: rank, score, key, title,
        date, arxiv_id, matched (kind watch or like, name, score), why (nearest sentence, shared words); with no
        watches and no likes, the new papers by date, unranked.
        """
        picks = await tools.call(lambda t: feed.news(t.index(), peek=peek, limit=limit))
        return _json_result([pick.to_dict() for pick in picks])

    @server.tool(annotations=read_only)
    @_answering
    async def index_status() -> CallToolResult:
        """Say what the index holds: number of papers and digests, the first and last digest dates, the model, the
        size on disk and when it was last updated.

        Use it to tell whether the index covers the days asked about, before searching or fetching.
        """
        info = await tools.call(lambda t: t.index().info())
        return _json_result(info.to_dict())

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                                             open_world_hint=True))
    @_answering
    async def fetch_daily_papers(
        since: Annotated[
            str | None, Field(description="First day to fetch, YYYY-MM-DD; default: the day after the last saved.")
        ] = None,
        until: Annotated[str | None, Field(description="Last day to fetch, YYYY-MM-DD; default: today (UTC).")] = None,
    ) -> CallToolResult:
        """Download new days of Hugging Face's Daily Papers lists and add their papers to the index. This is the one
        tool that writes: it saves files beside the index and changes the index.

        Use it only when the user wants papers newer than the index holds (index_status says its last date). Days
        already saved are not fetched again. Takes seconds to minutes (it embeds the new papers). Returns: days,
        empty_days, saved (files written), added, updated, already_present, papers (now in the index), warnings.
        """
        first, last = _day(since, "since"), _day(until, "until")
        if first and last and first > last:
            raise ToolError(f"since {first} is after until {last}")

        def fetch(t: PaperTools) -> dict[str, Any]:
            from semsearch.index.fetched import fetch_and_index

            report = fetch_and_index(
                t.folder,
                t.embedder,
                first,
                last,
                on_day=lambda saved: log.info("%s: %d papers (%s)", saved.day, saved.entries, saved.path.name),
                on_pause=lambda seconds, why: log.info("%s; waiting %.0f s", why, seconds),
            )
            if report.failure is not None:
                summary = report.to_dict()
                raise ToolError(
                    f"{report.failure} (the {summary['days']} days fetched before it were indexed: "
                    f"{summary['added']} new papers, {summary['papers']} in the index)"
                )
            return report.to_dict()

        return _json_result(await tools.call(fetch))

    return server


def run_stdio(folder: Path, embedder_factory: Callable[[], Embedder]) -> None:
    """Serve the index at `folder` over stdin/stdout until the client closes them."""
    tools = PaperTools(folder, embedder_factory)
    try:
        create_server(tools).run("stdio")
    finally:
        tools.close()
