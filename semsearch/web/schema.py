"""What the API takes and gives: the request parameters (checked by the framework) and the response models.

The response models document the API (`/openapi.json`); the responses themselves are the library's own
dictionaries, the ones the CLI prints with `--json` (`Hit.to_dict`, `IndexInfo.to_dict`, `StoredPaper.to_dict`).
Defaults and bounds come from the library's constants, so the schema cannot contradict what a search does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict

from semsearch.search.filters import MAX_VALUE_LENGTH, FilterError, PaperFilter
from semsearch.search.fusion import MODES
from semsearch.web.problems import RequestProblem

# Bounds on what a request may ask: a question longer than this is not a question, and a page of more papers
# than this is better fetched from the CLI.
MAX_QUESTION = 1000
MAX_REFERENCE = 500
MAX_LIMIT = 100
DEFAULT_LIMIT = 10
# What each mode ranks by, in words; a KeyError at import names a mode added to fusion.MODES without one. The
# default of each route is in the schema, from fusion's constants, so no description restates it.
MODE_MEANINGS = {"dense": "by meaning", "lexical": "by words, BM25", "hybrid": "both fused"}
MODE_HELP = "How papers are ranked: " + ", ".join(f"{mode} ({MODE_MEANINGS[mode]})" for mode in MODES) + "."


# -- request parameters -------------------------------------------------------------------------------------------

Question = Annotated[
    str, Query(min_length=1, max_length=MAX_QUESTION, description="The question, in plain words.")
]
Reference = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_REFERENCE,
        description="A paper: its key, arXiv id, exact title or an unambiguous part of its title.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many papers to return.")]
Mode = Annotated[Literal[MODES], Query(description=MODE_HELP)]  # type: ignore[valid-type]
Why = Annotated[
    bool,
    Query(description="Add `why` to each hit: its abstract sentence nearest to the question, the words it matched."),
]
OutputFormat = Annotated[
    Literal["json", "bibtex"],
    Query(
        alias="format",
        description="json (the default), or bibtex: BibTeX @misc entries, one per paper, as text/x-bibtex (the "
        "output of the CLI's `--format bibtex`).",
    ),
]
Since = Annotated[
    str | None,
    Query(max_length=MAX_VALUE_LENGTH, description="Only papers in a digest of this day or later (YYYY-MM-DD)."),
]
Until = Annotated[
    str | None,
    Query(max_length=MAX_VALUE_LENGTH, description="Only papers in a digest of this day or earlier (YYYY-MM-DD)."),
]
Digest = Annotated[
    str | None,
    Query(
        max_length=MAX_VALUE_LENGTH,
        description='Only papers of one digest: a day (2025-06-10, "--05-06" or "May 6") or a digest file name.',
    ),
]


@dataclass(frozen=True)
class FilterParams:
    """The date and digest parameters of a search, as the request gave them."""

    since: str | None = None
    until: str | None = None
    digest: str | None = None

    def parse(self) -> PaperFilter | None:
        """The filter they ask for (None: no condition); a bad value is a 400 saying how to write it."""
        # Parsed by the route, not by the dependency: the framework checks every parameter's type and length first,
        # so a request with several problems is told about those, as it was before filters were a dependency.
        try:
            return PaperFilter.parse(self.since, self.until, self.digest)
        except FilterError as exc:
            raise RequestProblem(400, str(exc)) from exc


async def filter_params(since: Since = None, until: Until = None, digest: Digest = None) -> FilterParams:
    """The `since`, `until` and `digest` parameters every search takes (async: no thread hop per request)."""
    return FilterParams(since, until, digest)


Filters = Annotated[FilterParams, Depends(filter_params)]


# -- response models -----------------------------------------------------------------------------------------------


class HitModel(BaseModel):
    """One search result, as `semsearch ask --json` prints it."""

    model_config = ConfigDict(extra="allow")
    rank: int
    score: float
    key: str
    title: str
    date: str | None
    dates: list[str]
    arxiv_id: str | None
    abstract: str
    score_kind: str | None = None
    why: dict[str, Any] | None = None


class MatchModel(BaseModel):
    """A watch or like a new paper matched, and its standardized score."""

    kind: Literal["watch", "like"]
    name: str
    score: float


class NewsModel(BaseModel):
    """One new paper of the feed, as `semsearch news --json` prints it (`matched` empty: it matched nothing)."""

    rank: int
    score: float
    key: str
    title: str
    date: str | None
    arxiv_id: str | None
    matched: list[MatchModel]
    why: dict[str, Any] | None = None


class PaperModel(BaseModel):
    """One paper, as `semsearch show --json` prints it."""

    key: str
    title: str
    arxiv_id: str | None
    authors: list[str] = []
    date: str | None
    dates: list[str]
    sources: list[str]
    abstract: str


class InfoModel(BaseModel):
    """The index summary, as `semsearch info --json` prints it."""

    model_config = ConfigDict(extra="allow")
    path: str
    model: str
    dim: int
    papers: int
    digests: int
    first_date: str | None
    last_date: str | None


class Candidate(BaseModel):
    """A paper an unknown or ambiguous reference may have meant."""

    key: str
    title: str


class ErrorModel(BaseModel):
    """An error: what is wrong and what to do; for an unknown paper, the papers it may have meant."""

    error: str
    candidates: list[Candidate] = []


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorModel, "description": "A parameter is missing, too long, out of range or not a date."},
    503: {
        "model": ErrorModel,
        "description": "The index cannot answer (missing, damaged, or built with another model).",
    },
}
# The response header that carries a search's notice (one header per notice), e.g. that the question has no word
# to search for; the body stays the array of hits, as `--json` prints it while the CLI says the notice on stderr.
NOTICE_HEADER = "X-Semsearch-Notice"
NOTICES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The hits, best first (an empty array when nothing matched).",
        "headers": {
            NOTICE_HEADER: {
                "description": "What the search says beside its hits, one header per notice: e.g. that the question "
                "has no word to search for (only stopwords, punctuation or symbols), so no paper is returned.",
                "schema": {"type": "string"},
            }
        },
    }
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorModel, "description": "No paper, or more than one, matches the reference."}
}
