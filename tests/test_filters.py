"""Date and digest filters: parsing, which papers pass, and that the filter applies before the top n is cut."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semsearch import index
from semsearch.cli import cli
from semsearch.search import SearchIndex, filters
from semsearch.search.filters import FilterError, PaperFilter, parse_date, parse_digest_day
from tests.fakes import HashingEmbedder
from tests.helpers import ABSTRACT_A, ABSTRACT_B, ABSTRACT_C, write_digest

QUESTION = "video generation with diffusion models"


@pytest.fixture(scope="module")
def hf_index(tmp_path_factory, hf_daily) -> Path:
    """Three months of real daily digests (Apr-Jun 2025), fake embedder; tests must not modify it."""
    files = sorted((hf_daily / "digests").glob("hf_daily_2025-0[456]-*.txt"))
    folder = tmp_path_factory.mktemp("filters") / "idx"
    index.update(folder, files, HashingEmbedder())
    return folder


def canonical(pairs) -> list[tuple[float, str]]:
    """(score, key) pairs in a tie-proof order: the fake embedder gives some papers equal scores, which two exact
    searches may list either way round (float noise in the last bit)."""
    return sorted(((round(score, 5), key) for key, score in pairs), key=lambda pair: (-pair[0], pair[1]))


def brute_force(folder: Path, question: str, keep) -> list[tuple[str, float]]:
    """Every paper ranked by the unfiltered search, then filtered: the answer a filter must give."""
    with SearchIndex(folder, HashingEmbedder()) as search_index:
        everything = search_index.ask(question, 100_000, mode="dense")
    return [(hit.paper.key, hit.score) for hit in everything if keep(hit.paper)]


# -- parsing ------------------------------------------------------------------------------------------------------


def test_parse_date_accepts_only_real_iso_days():
    assert parse_date(" 2025-06-10 ") == "2025-06-10"
    assert parse_date("2024-02-29") == "2024-02-29"
    for bad in ("2025-6-1", "20250610", "June 10", "2025-06-10T00:00", "", "2025-06-10; DROP TABLE papers"):
        with pytest.raises(FilterError, match="YYYY-MM-DD"):
            parse_date(bad)
    with pytest.raises(FilterError, match="does not exist"):
        parse_date("2025-02-29")


def test_parse_digest_day_forms():
    assert parse_digest_day("2025-06-10") == "2025-06-10"
    assert parse_digest_day("--05-06") == "--05-06"
    assert parse_digest_day("May 6") == "--05-06"
    assert parse_digest_day("june 10, 2025") == "2025-06-10"
    assert parse_digest_day("Feb 29") == "--02-29"  # a day of an unknown year may be a leap day
    assert parse_digest_day("hf_daily_2025-06-10.txt") is None  # a file name, not a day
    assert parse_digest_day("daily-papers-may-6.txt") is None
    with pytest.raises(FilterError, match="does not exist"):
        parse_digest_day("Jun 31")


def test_paper_filter_parse():
    assert PaperFilter.parse(None, "", "  ") is None
    assert PaperFilter.parse("2025-06-01", None, "May 6") == PaperFilter("2025-06-01", None, "--05-06", None)
    assert PaperFilter.parse(digest="seed/x.txt") == PaperFilter(None, None, None, "seed/x.txt")
    with pytest.raises(FilterError, match="after the until date"):
        PaperFilter.parse("2025-06-10", "2025-06-01")
    with pytest.raises(FilterError, match="longer than"):
        PaperFilter.parse(digest="x" * 301)


def test_matching_sources_by_path_end_or_name():
    sources = ["/data/a/hf_daily_2025-06-10.txt", "/data/b/hf_daily_2025-06-10.txt", "/data/b/other.txt"]
    assert filters.matching_sources(sources, "/data/b/other.txt") == ["/data/b/other.txt"]
    assert filters.matching_sources(sources, "b/hf_daily_2025-06-10.txt") == ["/data/b/hf_daily_2025-06-10.txt"]
    assert filters.matching_sources(sources, "hf_daily_2025-06-10.txt") == sources[:2]
    assert filters.matching_sources(sources, "daily_2025-06-10.txt") == []


# -- which papers pass, and the top n after filtering ------------------------------------------------------------------


def test_since_until_returns_the_top_n_of_the_allowed_papers(hf_index):
    expected = brute_force(hf_index, QUESTION, lambda p: any("2025-06-10" <= d <= "2025-06-12" for d in p.dates))
    assert len(expected) > 10  # so that the unfiltered top 10 is no answer
    with SearchIndex(hf_index, HashingEmbedder()) as search_index:
        unfiltered = search_index.ask(QUESTION, 10, mode="dense")
        hits = search_index.ask(QUESTION, 10, filters=PaperFilter.parse("2025-06-10", "2025-06-12"), mode="dense")
        hybrid = search_index.ask(QUESTION, 10, filters=PaperFilter.parse("2025-06-10", "2025-06-12"))
    assert [hit.rank for hit in hits] == list(range(1, 11))
    assert canonical((hit.paper.key, hit.score) for hit in hits) == canonical(expected[:10])
    # Every mode filters first: the words (BM25) half of the default hybrid ranking too.
    assert len(hybrid) == 10 and all("2025-06-10" <= hit.paper.date <= "2025-06-12" for hit in hybrid)
    # The filter changed the answer: a post-filter of the unfiltered top 10 would return fewer papers.
    assert sum(1 for hit in unfiltered if "2025-06-10" <= hit.paper.date <= "2025-06-12") < 10


def test_large_allowed_sets_search_the_vector_index_with_the_same_answer(hf_index, monkeypatch):
    paper_filter = PaperFilter.parse(since="2025-04-15")
    with SearchIndex(hf_index, HashingEmbedder()) as search_index:
        monkeypatch.setattr(filters, "EXACT_ALWAYS", 100_000)  # force the exact search over stored vectors
        exact = search_index.ask(QUESTION, 25, filters=paper_filter, mode="dense")
        monkeypatch.setattr(filters, "EXACT_ALWAYS", 0)  # force the widening search over FAISS
        monkeypatch.setattr(filters, "EXACT_SEARCH_MAX", 0)
        widened = search_index.ask(QUESTION, 25, filters=paper_filter, mode="dense")
        narrow = search_index.ask(QUESTION, 25, filters=PaperFilter.parse(digest="2025-04-30"), mode="dense")
    assert len(exact) == 25 and all(hit.paper.date >= "2025-04-15" for hit in exact)
    assert canonical((hit.paper.key, hit.score) for hit in widened) == canonical((h.paper.key, h.score) for h in exact)
    # A day with 15 papers: all of them, though the vector index was asked for far more neighbours than 25.
    assert len(narrow) == 15 and {hit.paper.date for hit in narrow} == {"2025-04-30"}


def test_digest_day_and_file(hf_index, hf_daily):
    with SearchIndex(hf_index, HashingEmbedder()) as search_index:
        by_day = search_index.ask(QUESTION, 100, filters=PaperFilter.parse(digest="2025-06-10"))
        by_name = search_index.ask(QUESTION, 100, filters=PaperFilter.parse(digest="hf_daily_2025-06-10.txt"))
        path = str((hf_daily / "digests" / "hf_daily_2025-06-10.txt").resolve())
        by_path = search_index.ask(QUESTION, 100, filters=PaperFilter.parse(digest=path))
        by_month_day = search_index.ask(QUESTION, 100, filters=PaperFilter.parse(digest="Jun 10"))
        with pytest.raises(FilterError, match="no digest in the index is named"):
            search_index.ask(QUESTION, 5, filters=PaperFilter.parse(digest="hf_daily_2031-01-01.txt"))
    assert len(by_day) == 27  # the manifest's count for that day
    assert by_day == by_name == by_path == by_month_day


def test_a_paper_passes_when_any_appearance_matches(tmp_path, fake_embedder):
    shared = ("Shared Paper", ABSTRACT_A)
    old = write_digest(tmp_path / "d_2025-01-10.txt", "Jan 10", [shared, ("Old Only", ABSTRACT_B)])
    new = write_digest(tmp_path / "d_2025-03-10.txt", "Mar 10", [shared, ("New Only", ABSTRACT_C)])
    folder = tmp_path / "idx"
    index.update(folder, [old, new], fake_embedder)
    with SearchIndex(folder, fake_embedder) as search_index:
        def titles(**kwargs) -> set[str]:
            return {hit.paper.title for hit in search_index.ask("paper", 10, filters=PaperFilter.parse(**kwargs))}

        assert titles(since="2025-02-01") == {"Shared Paper", "New Only"}
        assert titles(until="2025-02-01") == {"Shared Paper", "Old Only"}
        assert titles(since="2025-01-10", until="2025-01-10") == {"Shared Paper", "Old Only"}
        assert titles(since="2025-04-01") == set()  # zero hits is an answer, not an error
        # One appearance must meet every condition: the old digest has nothing from March on.
        assert titles(since="2025-02-01", digest="d_2025-01-10.txt") == set()
        _, related = search_index.related("Shared Paper", 10, filters=PaperFilter.parse(since="2025-02-01"))
        assert [hit.paper.title for hit in related] == ["New Only"]  # never the paper itself


def test_unknown_year_dates_are_a_day_but_in_no_range(tmp_path, seed_digest, fake_embedder):
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], fake_embedder)
    with SearchIndex(folder, fake_embedder) as search_index:
        assert len(search_index.ask("training", 100, filters=PaperFilter.parse(digest="May 6"))) == 63
        assert len(search_index.ask("training", 100, filters=PaperFilter.parse(digest="--05-06"))) == 63
        assert len(search_index.ask("training", 100, filters=PaperFilter.parse(digest="daily-papers-may-6.txt"))) == 63
        assert search_index.ask("training", 100, filters=PaperFilter.parse(digest="May 7")) == []
        assert search_index.ask("training", 100, filters=PaperFilter.parse(since="2000-01-01")) == []


def test_papers_of_a_recent_update_pass_the_filter(tmp_path, fake_embedder):
    folder = tmp_path / "idx"
    first = write_digest(tmp_path / "a_2025-01-01.txt", "Jan 1", [("First Paper", ABSTRACT_A)])
    index.update(folder, [first], fake_embedder)
    second = write_digest(tmp_path / "b_2025-01-02.txt", "Jan 2", [("Second Paper", ABSTRACT_B), ("Third", ABSTRACT_C)])
    index.update(folder, [second], fake_embedder)  # these wait in the recent layer, beside the FAISS file
    with SearchIndex(folder, fake_embedder) as search_index:
        hits = search_index.ask("parameters memory", 5, filters=PaperFilter.parse(since="2025-01-02"), mode="dense")
    assert [hit.paper.title for hit in hits] == ["Second Paper", "Third"]


# -- the command line -------------------------------------------------------------------------------------------


def run(runner, args):
    return runner.invoke(cli, args, obj={"embedder": HashingEmbedder()})


def test_cli_filters(runner, hf_index):
    base = ["ask", QUESTION, "--index", str(hf_index), "--json"]
    hits = json.loads(
        run(runner, [*base, "-n", "10", "--since", "2025-06-10", "--until", "2025-06-12", "--mode", "dense"]).stdout
    )
    expected = brute_force(hf_index, QUESTION, lambda p: any("2025-06-10" <= d <= "2025-06-12" for d in p.dates))
    assert canonical((hit["key"], hit["score"]) for hit in hits) == canonical(expected[:10])
    day = json.loads(run(runner, [*base, "-n", "50", "--digest", "2025-06-10"]).stdout)
    assert len(day) == 27 and {hit["date"] for hit in day} == {"2025-06-10"}
    related = json.loads(
        run(runner, ["related", day[0]["key"], "--index", str(hf_index), "--json", "--digest", "2025-06-10"]).stdout
    )
    assert len(related) == 10 and day[0]["key"] not in {hit["key"] for hit in related}
    assert {hit["date"] for hit in related} == {"2025-06-10"}


def test_cli_filter_errors(runner, hf_index):
    base = ["ask", QUESTION, "--index", str(hf_index)]
    bad_date = run(runner, [*base, "--since", "June 10"])
    assert bad_date.exit_code == 2 and "YYYY-MM-DD" in bad_date.stderr and "Traceback" not in bad_date.stderr
    swapped = run(runner, [*base, "--since", "2025-06-10", "--until", "2025-06-01"])
    assert swapped.exit_code == 2 and "after the until date" in swapped.stderr
    unknown = run(runner, [*base, "--digest", "nope.txt"])
    assert unknown.exit_code == 1 and unknown.stderr.startswith('Error: no digest in the index is named "nope.txt"')
    empty = run(runner, [*base, "--since", "2026-01-01"])
    assert empty.exit_code == 0 and "No papers found" in empty.stderr
