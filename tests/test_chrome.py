"""Property test of the text reader against page chrome: real papers (titles, abstracts, arXiv ids from the Hugging
Face API days and the arXiv sample) laid out with the counts, buttons, labels, author lines, dates and links that
copied Daily Papers pages carry, in many orders and blank-line layouts. The reader must return exactly those
papers, each with its own arXiv id, and never one made of chrome.
"""

from __future__ import annotations

import gzip
import itertools
import json
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semsearch.ingest.digest import parse_digest_text
from semsearch.ingest.readers.layout import Kind, classify, looks_like_author_list, split_title
from semsearch.ingest.readers.records import shorten
from semsearch.keys import normalize_title
from tests.conftest import DATA_DIR
from tests.helpers import hard_wrap

pytestmark = pytest.mark.skipif(not DATA_DIR.is_dir(), reason=f"real data folder {DATA_DIR} is absent")

_SETTINGS = dict(
    max_examples=250, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)
_POOL_PER_SOURCE = 150


@dataclass(frozen=True)
class _Paper:
    title: str
    abstract: str
    arxiv_id: str


def _usable(title: str, abstract: str) -> bool:
    # A title that itself reads as a link, a count or numbering would test the pool, not the reader.
    return (
        split_title(title) == (title, None)
        and classify(title) is Kind.TEXT
        and not looks_like_author_list(title, 3)
        and not abstract.casefold().startswith("abstract")
    )


def _load_pool() -> list[_Paper]:
    if not DATA_DIR.is_dir():
        return []
    found: dict[str, _Paper] = {}

    def take(title: str, abstract: str, arxiv_id: str) -> None:
        title, abstract = " ".join(title.split()), " ".join(abstract.split())
        if title and abstract and arxiv_id not in found and _usable(title, abstract):
            found[arxiv_id] = _Paper(title, abstract, arxiv_id)

    days = sorted((DATA_DIR / "hf_api" / "days").glob("*.json"))
    for day in days[::9]:
        for record in json.loads(day.read_text(encoding="utf-8")):
            paper = record.get("paper", {})
            take(paper.get("title", ""), paper.get("summary", ""), paper.get("id", ""))
        if len(found) >= _POOL_PER_SOURCE:
            break
    with gzip.open(DATA_DIR / "arxiv" / "papers.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in itertools.islice(handle, _POOL_PER_SOURCE):
            record = json.loads(line)
            take(record["title"], record["abstract"], record["id"])
    # One title per paper: a repeated title is a duplicate by design, not what this test is about.
    by_title = {normalize_title(paper.title): paper for paper in found.values()}
    return sorted(by_title.values(), key=lambda paper: paper.arxiv_id)


POOL = _load_pool()

# Chrome that may stand anywhere around a paper.
CHROME = [
    "upvotes",
    "Upvotes",
    "upvote",
    "42",
    "1,204",
    "▲ 12",
    "Upvote 42",
    "Upvote\n42",
    "42\nupvotes",
    "· 12 authors",
    "7 authors",
    "+3",
    "Submitted by akhaliq",
    "Submitted by\nakhaliq",
    "Published on Jun 10",
    "Published on Jun 9, 2025",
    "★ 1.2k",
    "GitHub 1.2k",
    "1.2k stars",
    "3 comments",
    "View arXiv page",
    "View PDF",
    "Add to collection",
    "Share",
    "Follow",
    "Copy link",
    "Comment",
    "#2",
    "Ada Lovelace, Alan M. Turing, Grace Hopper",
    "Barbara Liskov, John McCarthy and Donald E. Knuth",
    "Authors: Edsger W. Dijkstra, Tony Hoare",
    "by @akhaliq",
]
# Only before a title: a date line between a title and its abstract would be a date, not chrome.
LEADING_ONLY = ["Jun 10", "Daily Papers", "Get trending papers in your email inbox!", "new"]
LINKS = [
    "https://huggingface.co/papers/{id}",
    "https://arxiv.org/abs/{id}",
    "arXiv:{id}",
    "{id}",
    "Paper page: https://huggingface.co/papers/{id}",
    "(https://arxiv.org/abs/{id})",
]
LINK_PLACES = ["none", "before title", "after title", "after abstract"]


@st.composite
def pages(draw: st.DrawFn) -> tuple[str, list[_Paper], bool, list[str]]:
    """A page: (its text, the papers on it, whether their links are on it, the titles that lack an abstract)."""
    indices = draw(st.lists(st.integers(0, len(POOL) - 1), min_size=2, max_size=7, unique=True))
    papers = [POOL[index] for index in indices[1:]]
    # A block that cannot be read: a title without its abstract, at one paper boundary (or at the end), or none.
    orphan = POOL[indices[0]].title
    orphan_at = draw(st.sampled_from([None, None, *range(len(papers) + 1)]))
    link_place = draw(st.sampled_from(LINK_PLACES))
    link = draw(st.sampled_from(LINKS))
    gap = draw(st.sampled_from(["\n\n", "\n\n\n", "\n \n", "\n\t\n\n"]))
    chrome = st.lists(st.sampled_from(CHROME), max_size=3)
    # A slot's chrome stands in its own paragraph, or on lines of the paragraph next to it (no blank line).
    joined = st.booleans()
    parts: list[str] = []
    if draw(st.booleans()):
        parts.append("Daily Papers\nbyAK and the research community")
    parts.append(draw(st.sampled_from(["Jun 10", "Jun 10, 2025", "June 10"])))
    for number, paper in enumerate(papers):
        if number == orphan_at:
            parts.append(orphan)
        arxiv_link = link.format(id=paper.arxiv_id)
        before = draw(st.lists(st.sampled_from(CHROME + LEADING_ONLY), max_size=3))
        between, after = draw(chrome), draw(chrome)
        if link_place == "before title":
            before.insert(draw(st.integers(0, len(before))), arxiv_link)
        elif link_place == "after title":
            between.insert(draw(st.integers(0, len(between))), arxiv_link)
        elif link_place == "after abstract":
            after.insert(draw(st.integers(0, len(after))), arxiv_link)
        width = draw(st.sampled_from([0, 0, 40, 72]))
        abstract = hard_wrap(paper.abstract, width) if width else paper.abstract
        title_block, abstract_block = paper.title, abstract
        if before:
            if draw(joined):
                title_block = "\n".join(before) + "\n" + title_block
            else:
                parts.append("\n".join(before))
        parts.append(title_block)
        if between:
            if draw(joined):
                parts[-1] += "\n" + "\n".join(between)
            else:
                parts.append("\n".join(between))
        if after and draw(joined):
            abstract_block += "\n" + "\n".join(after)
            after = []
        parts.append(abstract_block)
        if after:
            parts.append("\n".join(after))
    if orphan_at == len(papers):
        parts.append(orphan)
    text = gap.join(parts) + "\n"
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return text, papers, link_place != "none", [] if orphan_at is None else [orphan]


@pytest.mark.skipif(len(POOL) < 50, reason="too few real papers to draw from")
@settings(**_SETTINGS)
@given(pages())
def test_chrome_never_becomes_a_paper_and_links_stay_with_their_paper(
    page: tuple[str, list[_Paper], bool, list[str]],
) -> None:
    text, papers, linked, orphans = page
    digest = parse_digest_text(text, "page.txt")
    assert [(paper.title, paper.abstract, paper.arxiv_id) for paper in digest.papers] == [
        (paper.title, paper.abstract, paper.arxiv_id if linked else None) for paper in papers
    ]
    # The block without an abstract is skipped with a warning naming its line; the rest of the page is read.
    lines = text.replace("\r\n", "\n").split("\n")
    assert len(digest.warnings) == len(orphans)
    for warning, title in zip(digest.warnings, orphans):
        assert warning.startswith(f"page.txt:{lines.index(title) + 1}: the title '{shorten(title)}' has no abstract")
        assert warning.endswith("skipped this block, read the rest")


def test_the_pool_holds_real_papers_from_both_sources() -> None:
    if not DATA_DIR.is_dir():
        pytest.skip("no real data")
    assert len(POOL) >= 200
    assert all(len(paper.abstract.split()) >= 8 for paper in POOL)
