"""The word index file: the same BM25 scores and rankings as SQLite FTS5, through merges, revisions and removals."""

from __future__ import annotations

import csv
import logging
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from semsearch import index
from semsearch.search import SearchIndex, lexical
from semsearch.storage.store import FtsTokenizer, Store
from semsearch.storage.terms import TermCounter
from semsearch.storage.wordindex import Postings, decode_counts, encode_counts
from tests.helpers import ABSTRACT_A, ABSTRACT_C, write_digest

RECENT_ONLY = index.MergePolicy(merge_threshold=100_000)
MERGE_EVERY_WRITE = index.MergePolicy(merge_threshold=1)


def claims(data_dir: Path, n: int) -> list[str]:
    """The first `n` SciFact test claims: questions from outside the digests' field."""
    with open(data_dir / "scifact" / "original_claims_csv" / "claims_test.csv", encoding="utf-8") as handle:
        return [row["claim"] for row in csv.DictReader(handle)][:n]


def assert_same_as_fts5(folder: Path, questions: list[str], **filters) -> int:
    """Every question ranks the same papers with the same scores through the word index and through FTS5."""
    compared = 0
    with SearchIndex(folder) as search_index:
        word_index = search_index._word_index()
        assert word_index is not None
        store = search_index._store
        for question in questions:
            words = lexical.query_terms(question)
            if not words:
                continue
            fast = word_index.search(search_index._term_ids(words), 100, lexical.FIELD_WEIGHTS, **filters)
            slow = store.lexical_search(lexical.fts_query(words), 100, lexical.FIELD_WEIGHTS, **filters)
            assert [paper_id for paper_id, _ in fast] == [paper_id for paper_id, _ in slow], question
            np.testing.assert_allclose([s for _, s in fast], [s for _, s in slow], rtol=1e-12, err_msg=question)
            compared += bool(fast)
    return compared


@pytest.fixture
def layered(tmp_path, hf_daily, fake_embedder) -> Path:
    """An index of 60 real digests merged into files, then 15 more digests one by one in the recent layer."""
    # No write merges until a test says so: every later paper stays in the recent layer.
    files = sorted((hf_daily / "digests").glob("*.txt"))
    folder = tmp_path / "idx"
    index.update(folder, files[:60], fake_embedder, policy=RECENT_ONLY)
    for path in files[60:75]:
        index.update(folder, [path], fake_embedder, policy=RECENT_ONLY)
    return folder


def titles_of(folder: Path, step: int) -> list[str]:
    store = Store.open(folder)
    try:
        return [row.title for row in store.title_rows()][::step]
    finally:
        store.close()


def test_word_index_ranks_and_scores_exactly_as_fts5(layered, data_dir):
    store = Store.open(layered)
    try:
        recent, papers = store.unindexed_count(), store.paper_count()
        ids = sorted(store.paper_ids())
    finally:
        store.close()
    assert 0 < recent < papers  # both layers are searched
    questions = claims(data_dir, 150) + titles_of(layered, 7)
    assert assert_same_as_fts5(layered, questions) > 150
    # Filters and exclusions apply before the top 100 is cut, as in FTS5.
    allowed = frozenset(ids[::3])
    assert assert_same_as_fts5(layered, questions[:60], allowed=allowed, exclude=frozenset(ids[:40:2])) > 30


def test_revised_and_removed_papers_are_scored_as_fts5_before_and_after_a_merge(
    layered, data_dir, tmp_path, fake_embedder
):
    store = Store.open(layered)
    try:
        rows = store.title_rows()
    finally:
        store.close()
    # One merged paper gets a new abstract, two merged papers and one recent paper are removed.
    revised = rows[10]
    write_digest(tmp_path / "rev_2025-12-01.txt", "Dec 1", [(revised.title, ABSTRACT_C)])
    index.update(layered, [tmp_path / "rev_2025-12-01.txt"], fake_embedder, policy=RECENT_ONLY)
    index.remove(layered, [rows[20].key, rows[30].key, rows[-1].key], policy=RECENT_ONLY)
    questions = claims(data_dir, 80) + titles_of(layered, 11) + ["traffic sensors forecasting", revised.title]
    assert assert_same_as_fts5(layered, questions) > 80
    with SearchIndex(layered) as search_index:
        hits = search_index.ask("traffic sensors forecasting", 3, mode="lexical")
        assert hits[0].paper.id == revised.id
    word_files = sorted(layered.glob("words-*.bin"))

    write_digest(tmp_path / "new_2025-12-02.txt", "Dec 2", [("Indic Translation Corpora", ABSTRACT_A)])
    index.update(layered, [tmp_path / "new_2025-12-02.txt"], fake_embedder, policy=MERGE_EVERY_WRITE)
    assert sorted(layered.glob("words-*.bin")) != word_files and len(list(layered.glob("words-*.bin"))) == 1
    store = Store.open(layered)
    try:
        assert store.unindexed_count() == 0 and store.paper_terms() == []  # the file holds every paper's words
    finally:
        store.close()
    assert assert_same_as_fts5(layered, questions) > 80
    assert index.check(layered).ok


def test_extending_the_file_equals_counting_every_paper_again(layered, fake_embedder):
    store = Store.open(layered)
    try:
        gone = [row.key for row in store.title_rows()[5:9]]
    finally:
        store.close()
    index.remove(layered, gone, policy=RECENT_ONLY)
    # A write that merges: the committed file extended with the recent papers.
    index.remove(layered, [], policy=MERGE_EVERY_WRITE)
    (extended_file,) = layered.glob("words-*.bin")
    extended = Postings.load(extended_file, verify=True)
    index.rebuild(layered, [], fake_embedder, reuse_vectors=True)  # counted from every paper's text
    (counted_file,) = layered.glob("words-*.bin")
    counted = Postings.load(counted_file, verify=True)

    def as_sets(postings: Postings) -> set[tuple[int, int, int, int, int]]:
        terms = np.repeat(np.arange(len(postings.offsets) - 1), np.diff(postings.offsets))
        papers = postings.paper_ids[postings.rows]
        lengths = postings.lengths[postings.rows]
        columns = (terms, papers, postings.title, postings.abstract, lengths)
        return set(zip(*(column.tolist() for column in columns)))

    assert extended.size == counted.size and as_sets(extended) == as_sets(counted)
    assert sorted(extended.paper_ids.tolist()) == sorted(counted.paper_ids.tolist())


def test_term_counter_gives_fts5_tokens_of_whole_texts(arxiv_papers):
    texts = [paper["abstract"] for paper in arxiv_papers[:300]] + [
        "Ünïcödé naïve café, β-amyloid; (LLMs) state-of-the-art\u00a0non\u2009breaking 蛋白质折叠 x^2≥3",
        "",
        "   ",
    ]
    tokenizer = FtsTokenizer()
    with TermCounter() as counter:
        for text, chunked, whole in zip(texts, counter.terms_each(texts), tokenizer.terms(texts)):
            assert Counter(chunked) == Counter(whole), text[:60]
        (title, abstract), = counter.count([("Optimizing Memory", "optimizations of memory memory")])
        assert title == Counter({"optim": 1, "memori": 1}) and abstract == Counter({"optim": 1, "of": 1, "memori": 2})
    tokenizer.close()


def test_stored_counts_round_trip():
    blob = encode_counts(np.array([7, 3, 90000]), np.array([1, 0, 70000]), np.array([2, 5, 1]))
    terms, title, abstract = decode_counts(blob)
    assert terms.tolist() == [7, 3, 90000] and title.tolist() == [1, 0, 65535] and abstract.tolist() == [2, 5, 1]


@pytest.mark.parametrize("damage", ["delete", "truncate", "garbage", "flip"])
def test_damaged_word_file_falls_back_to_fts5_and_check_names_the_repair(
    tmp_path, seed_digest, fake_embedder, damage, caplog
):
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], fake_embedder)
    with SearchIndex(folder, fake_embedder) as search_index:
        before = search_index.ask("memory optimizations for trillion parameter training", 10, mode="lexical")
    (word_file,) = folder.glob("words-*.bin")
    data = bytearray(word_file.read_bytes())
    if damage == "delete":
        word_file.unlink()
    elif damage == "truncate":
        word_file.write_bytes(data[:100])
    elif damage == "garbage":
        word_file.write_bytes(b"x" * len(data))
    else:
        data[-9] ^= 0xFF  # one byte of the last array: only the checksum can tell
        word_file.write_bytes(bytes(data))
    report = index.check(folder)
    assert not report.ok and "rebuild --reuse-vectors" in report.problems[0] and "word index file" in report.problems[0]
    if damage != "flip":
        with caplog.at_level(logging.WARNING, logger="semsearch"):
            with SearchIndex(folder, fake_embedder) as search_index:
                after = search_index.ask("memory optimizations for trillion parameter training", 10, mode="lexical")
        assert "searching words with SQLite instead" in caplog.text
        assert [(h.paper.id, round(h.score, 9)) for h in after] == [(h.paper.id, round(h.score, 9)) for h in before]
    index.rebuild(folder, [], fake_embedder, reuse_vectors=True)
    assert index.check(folder).ok


def test_index_from_before_word_files_uses_fts5_until_its_next_update(tmp_path, seed_digest, hf_daily, fake_embedder):
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], fake_embedder)
    with SearchIndex(folder, fake_embedder) as search_index:
        before = search_index.ask("parallel corpora for Indic languages", 10, mode="lexical")
    connection = sqlite3.connect(folder / "papers.sqlite3")
    connection.execute("DROP TABLE paper_terms")
    connection.execute("DROP TABLE terms")
    connection.execute("DELETE FROM meta WHERE name IN ('word_file', 'word_count')")
    connection.commit()
    connection.close()
    for path in folder.glob("words-*.bin"):
        path.unlink()
    assert index.check(folder).ok  # an older index is not a damaged one
    with SearchIndex(folder, fake_embedder) as search_index:
        assert search_index._word_index() is None
        assert search_index.ask("parallel corpora for Indic languages", 10, mode="lexical") == before
    digest = sorted((hf_daily / "digests").glob("*.txt"))[0]
    index.update(folder, [digest], fake_embedder)  # the next write counts every paper's words and writes the file
    assert len(list(folder.glob("words-*.bin"))) == 1 and index.check(folder).ok
    assert assert_same_as_fts5(folder, ["parallel corpora for Indic languages", "memory of large models"]) == 2
