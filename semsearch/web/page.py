"""The search page: its Jinja templates (autoescaped) and its stylesheet, rendered to text."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from semsearch.ingest.readers.dates import display_date
from semsearch.search.filters import FilterError, parse_digest_day
from semsearch.search.fusion import DEFAULT_MODE, MODES
from semsearch.web.schema import DEFAULT_LIMIT, MAX_LIMIT, MAX_QUESTION

if TYPE_CHECKING:
    from semsearch.feed import Feed, Like, Watch
    from semsearch.search import Hit, StoredPaper
    from semsearch.web.service import Overview

HERE = Path(__file__).resolve().parent
# The request parameters the form shows again, as the request gave them.
FORM_FIELDS = ("q", "n", "since", "until", "digest", "paper", "mode", "why")


def url_for_page(path: str, **params: Any) -> str:
    """A local URL with its query string; empty parameters are left out."""
    query = urllib.parse.urlencode({name: value for name, value in params.items() if value not in (None, "")})
    return f"{path}?{query}" if query else path


def stylesheet() -> bytes:
    """The page's one stylesheet."""
    return (HERE / "static" / "style.css").read_bytes()


class SearchPage:
    """The one page: the form, the results of a question or of a paper's related papers, or an error."""

    def __init__(self) -> None:
        # Autoescape on for every template: paper text from a digest is data, never markup.
        self._environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._environment.filters["display_date"] = display_date
        self._environment.globals["url"] = url_for_page

    def render(
        self,
        params: Mapping[str, str],
        overview: Overview | None,
        *,
        hits: Sequence[Hit] | None = None,
        source: StoredPaper | None = None,
        took_ms: float | None = None,
        error: str | None = None,
        candidates: Sequence[tuple[str, str]] = (),
        notices: Sequence[str] = (),
        liked: frozenset[str] = frozenset(),
        form_token: str = "",
        here: str = "/",
    ) -> str:
        """The page for a request with these query parameters; `hits` None: no search to show; `notices`: what
        the search said beside its hits (shown above them); `liked`: the keys of liked papers (their button says
        Unlike); `form_token` and `here`: what the like buttons post, and the page they come back to."""
        return self._environment.get_template("search.html").render(
            **self._common(params, overview, form_token, here),
            hits=hits,
            source=source,
            took_ms=took_ms,
            error=error,
            candidates=list(candidates),
            notices=list(notices),
            liked=liked,
        )

    def render_news(
        self,
        params: Mapping[str, str],
        overview: Overview | None,
        *,
        picks: Feed,
        watches: Sequence[Watch],
        likes: Sequence[Like],
        took_ms: float | None = None,
        form_token: str = "",
        here: str = "/news",
    ) -> str:
        """The "New for you" page: the feed's picks, the watches and the liked papers, with their forms."""
        return self._environment.get_template("news.html").render(
            **self._common(params, overview, form_token, here),
            picks=picks,
            watches=list(watches),
            likes=list(likes),
            liked=frozenset(like.paper.key for like in likes),
            took_ms=took_ms,
            error=None,
        )

    def _common(self, params: Mapping[str, str], overview: Overview | None, form_token: str, here: str) -> dict:
        """What every page shows: the search form (as the request filled it), the index, and the forms' token."""
        form = {name: params.get(name, "") for name in FORM_FIELDS}
        try:
            # "May 6" and "--05-06" are the same day: select it in the list of digest days either way.
            form["digest_day"] = parse_digest_day(form["digest"]) or form["digest"]
        except FilterError:
            form["digest_day"] = form["digest"]
        return {
            "form": form,
            "max_question": MAX_QUESTION,
            "max_limit": MAX_LIMIT,
            "default_limit": DEFAULT_LIMIT,
            "modes": MODES,
            "default_mode": DEFAULT_MODE,
            "overview": overview,
            "form_token": form_token,
            "here": here,
        }
