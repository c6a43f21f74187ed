"""Lexical search: question -> FTS5 query, hostile questions, and the BM25 index kept in step with the papers."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from semsearch import index
from semsearch.errors import IndexCorruptError, SemsearchError
from semsearch.search import Hits, SearchIndex
from semsearch.search.lexical import MAX_TERMS, STOPWORDS, fts_query, query_terms
from semsearch.search.searcher import NOTICE_NO_WORD, NOTICE_PASTED_PAPER
from semsearch.storage.store import Store
from tests.helpers import ABSTRACT_A, ABSTRACT_B, ABSTRACT_C, write_digest

HOSTILE = [
    '"unbalanced quote',
    'the "exact phrase" and more',
    "(parentheses (nested) unbalanced",
    "AND",
    "OR NOT AND NEAR",
    "cancer AND NOT cells",
    "NEAR(memory training, 5)",
    "-memory -training",
    "memory*",
    "* ^ : - + ( ) { } [ ] \" '",
    "title:ZeRO abstract:memory",
    "{title abstract}: memory",
    "'; DROP TABLE papers; --",
    "蛋白质折叠 与 癌症",
    "Обучение больших языковых моделей",
    "التعلم العميق",
    "β-amyloid α-synuclein",
    "ｍｅｍｏｒｙ ｔｒａｉｎｉｎｇ",  # full-width letters
    "e.g. p<0.05 (n=12) & x^2 ≥ 3 — 10% @ 5°C",
    "😀 🚀",
    "memory\x00training",
    "under_score snake_case_words",
    "the of and a is",  # only stopwords
    "word " * 5000,
]


def test_query_terms_drop_stopwords_and_keep_every_script():
    assert query_terms("What is the Role of ZeRO in training?") == ["role", "zero", "training"]
    assert query_terms("memory memory MEMORY") == ["memory"]
    assert query_terms("β-amyloid plaques") == ["β", "amyloid", "plaques"]
    assert query_terms("蛋白质 Обучение") == ["蛋白质", "обучение"]
    assert query_terms("ｍｅｍｏｒｙ") == ["memory"]  # NFKC folds full-width letters
    assert query_terms("snake_case") == ["snake", "case"]
    assert query_terms("the of and") == [] and query_terms("") == []
    assert len(query_terms(" ".join(f"w{i}" for i in range(500)))) == MAX_TERMS
    assert {"the", "of", "and", "what"} <= STOPWORDS


def test_fts_query_quotes_every_term():
    assert fts_query(["memory", "and", "near"]) == '"memory" OR "and" OR "near"'
    assert fts_query(['say "hi"']) == '"say ""hi"""'
    assert fts_query([]) is None


def test_hostile_questions_never_raise_in_sqlite(scifact_lexical):
    folder, _ = scifact_lexical
    store = Store.open(folder)
    try:
        for question in HOSTILE:
            match = fts_query(query_terms(question))
            if match is not None:
                store.lexical_search(match, 10)
                store.lexically_matching([1, 2, 3], match)
        # What a user might paste raw is a syntax error for FTS5, which is why every term is quoted.
        with pytest.raises(sqlite3.OperationalError):
            store.lexical_search('"unbalanced', 10)
    finally:
        store.close()


@pytest.fixture
def seeded(tmp_path, seed_digest, fake_embedder) -> Path:
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], fake_embedder)
    return folder


@pytest.mark.parametrize("mode", ["lexical", "hybrid", "dense"])
def test_hostile_questions_through_ask(seeded, fake_embedder, mode):
    with SearchIndex(seeded, fake_embedder) as search_index:
        for question in HOSTILE:
            hits = search_index.ask(question, 5, mode=mode, why=True)
            kind = {"dense": "cosine", "lexical": "bm25", "hybrid": "fused"}[mode]
            assert all(hit.score_kind == kind for hit in hits)
        assert search_index.ask("the of and a is", 5, mode="lexical") == []
        with pytest.raises(SemsearchError, match="unknown search mode"):
            search_index.ask("memory", 5, mode="bm25")


@pytest.mark.parametrize("mode", ["lexical", "hybrid", "dense"])
def test_a_question_without_a_word_to_look_up_finds_nothing_with_a_notice(seeded, fake_embedder, mode):
    """Dense search would answer anything with the nearest vectors to a meaningless embedding: no mode does."""
    no_word = ["the of and a is", "?!", "😀 🚀", "* ^ : - + ( ) { } [ ] \" '", "What is it?", "— … ©"]
    with SearchIndex(seeded, fake_embedder) as search_index:
        for question in no_word:
            assert query_terms(question) == []
            hits = search_index.ask(question, 5, mode=mode, why=True)
            assert isinstance(hits, Hits) and hits == [], question
            assert [notice.kind for notice in hits.notices] == [NOTICE_NO_WORD]
            assert hits.notices[0].message.startswith("the question has no word to search for")
        # Letters of any script are words: such a question is searched, and says nothing beside its hits.
        for question in ("蛋白质折叠 与 癌症", "Обучение больших языковых моделей", "التعلم العميق", "β", "x 42"):
            hits = search_index.ask(question, 5, mode=mode)
            assert hits.notices == (), question
            if mode == "dense":
                assert len(hits) == 5


def test_a_pasted_paper_is_left_out_with_a_notice_naming_it(seeded, fake_embedder):
    with SearchIndex(seeded, fake_embedder) as search_index:
        zero = search_index.resolve("ZeRO: Memory Optimizations Toward Training Trillion Parameter Models")
        for text, what in (
            (zero.abstract, "abstract"),
            (f"{zero.title}\n{zero.abstract}", "title and abstract"),
            (f"{zero.title.upper()}:  {zero.abstract}", "title and abstract"),  # titles compare as `resolve` does
        ):
            for mode in ("hybrid", "dense", "lexical"):
                hits = search_index.related_to_text(text, 62, mode=mode)
                assert len(hits) == 62 and zero.id not in {hit.paper.id for hit in hits}
                (notice,) = hits.notices
                assert notice.kind == NOTICE_PASTED_PAPER
                assert notice.message == (
                    f"the pasted text is the {what} of {zero.key} ({zero.title}); that paper is left out of the results"
                )
        # Another title before the abstract, or the abstract with a word missing, is not the paper: nothing is left out.
        others = (f"Some Other Title {zero.abstract}", zero.abstract.rsplit(" ", 1)[0], f"{zero.title} {ABSTRACT_B}")
        for text in others:
            hits = search_index.related_to_text(text, 63, mode="dense")
            assert len(hits) == 63 and hits.notices == ()
        assert search_index.related(zero.key, 3)[1].notices == ()


def test_lexical_finds_words_and_stems(seeded, fake_embedder):
    with SearchIndex(seeded, fake_embedder) as search_index:
        top = search_index.ask("Samanantar parallel corpora Indic", 3, mode="lexical")
        assert top[0].paper.title.startswith("Samanantar") and top[0].score > 0
        assert all(a.score >= b.score for a, b in zip(top, top[1:]))
        # Porter stemming: "optimizations" in the title is found by "optimizing".
        assert search_index.ask("ZeRO optimizing memory", 1, mode="lexical")[0].paper.title.startswith("ZeRO")


def lexical_keys(folder: Path, fake_embedder, question: str) -> set[str]:
    with SearchIndex(folder, fake_embedder) as search_index:
        return {hit.paper.key for hit in search_index.ask(question, 100, mode="lexical")}


def fts_integrity(folder: Path) -> None:
    """FTS5's own check that the BM25 index holds exactly the stored titles and abstracts (raises if not)."""
    connection = sqlite3.connect(folder / "papers.sqlite3")
    try:
        connection.execute("INSERT INTO papers_fts (papers_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        connection.close()


def test_bm25_index_follows_updates_revisions_and_rebuilds(tmp_path, fake_embedder):
    folder = tmp_path / "idx"
    write_digest(tmp_path / "d1_2025-01-01.txt", "Jan 1", [("Indic Translation", ABSTRACT_A)])
    index.update(folder, [tmp_path / "d1_2025-01-01.txt"], fake_embedder)
    assert lexical_keys(folder, fake_embedder, "parallel corpora")
    assert not lexical_keys(folder, fake_embedder, "trillion")

    # A new digest: its papers are searchable by word at once, without rebuilding anything.
    write_digest(tmp_path / "d2_2025-01-02.txt", "Jan 2", [("Sharded Optimizers", ABSTRACT_B)])
    index.update(folder, [tmp_path / "d2_2025-01-02.txt"], fake_embedder)
    assert len(lexical_keys(folder, fake_embedder, "trillion")) == 1
    fts_integrity(folder)

    # A revised abstract: the old words stop matching, the new ones match.
    write_digest(tmp_path / "d3_2025-01-03.txt", "Jan 3", [("Sharded Optimizers", ABSTRACT_C)])
    index.update(folder, [tmp_path / "d3_2025-01-03.txt"], fake_embedder)
    assert not lexical_keys(folder, fake_embedder, "trillion")
    assert len(lexical_keys(folder, fake_embedder, "traffic sensors")) == 1
    fts_integrity(folder)

    index.rebuild(folder, [], fake_embedder)
    assert len(lexical_keys(folder, fake_embedder, "traffic sensors")) == 1
    fts_integrity(folder)


def test_failed_write_leaves_bm25_index_as_it_was(tmp_path, fake_embedder):
    folder = tmp_path / "idx"
    write_digest(tmp_path / "d1_2025-01-01.txt", "Jan 1", [("Indic Translation", ABSTRACT_A)])
    index.update(folder, [tmp_path / "d1_2025-01-01.txt"], fake_embedder)
    store = Store.open(folder, create=True)
    try:
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.update_paper_content(1, "Indic Translation", ABSTRACT_C, "x", fake_embedder.embed_query("x"))
                raise RuntimeError("crash before commit")
    finally:
        store.close()
    assert lexical_keys(folder, fake_embedder, "parallel corpora")
    assert not lexical_keys(folder, fake_embedder, "traffic")
    fts_integrity(folder)


def test_index_from_before_lexical_search_says_what_to_do_and_is_upgraded_by_update(seeded, seed_digest, fake_embedder):
    connection = sqlite3.connect(seeded / "papers.sqlite3")
    for name in ("papers_fts_insert", "papers_fts_delete", "papers_fts_update"):
        connection.execute(f"DROP TRIGGER {name}")
    connection.execute("DROP TABLE papers_fts")
    # Such an index predates the word index file too.
    connection.execute("DROP TABLE paper_terms")
    connection.execute("DROP TABLE terms")
    connection.execute("DELETE FROM meta WHERE name IN ('word_file', 'word_count')")
    connection.commit()
    connection.close()
    with SearchIndex(seeded, fake_embedder) as search_index:
        assert len(search_index.ask("memory", 3, mode="dense")) == 3
        with pytest.raises(IndexCorruptError, match="semsearch update"):
            search_index.ask("memory", 3, mode="hybrid")
    index.update(seeded, [seed_digest], fake_embedder)  # nothing new to add, but a write: the table is built
    with SearchIndex(seeded, fake_embedder) as search_index:
        assert search_index.ask("ZeRO memory optimizations", 1, mode="lexical")[0].paper.title.startswith("ZeRO")
    fts_integrity(seeded)


def test_related_fuses_by_default_and_each_mode_keeps_the_paper_out(seeded, fake_embedder, runner):
    from semsearch.cli import cli

    with SearchIndex(seeded, fake_embedder) as search_index:
        zero = search_index.resolve("ZeRO: Memory Optimizations Toward Training Trillion Parameter Models")
        for mode, kind in (("hybrid", "fused"), ("dense", "cosine"), ("lexical", "bm25")):
            _, hits = search_index.related(zero.key, 10, mode=mode)
            assert hits and zero.key not in {hit.paper.key for hit in hits}
            assert {hit.score_kind for hit in hits} == {kind}
        _, default = search_index.related(zero.key, 5)
        assert default[0].score_kind == "fused"
        assert "ZeRO-Infinity" in " ".join(hit.paper.title for hit in default[:3])
        pasted = search_index.related_to_text(zero.abstract, 3, mode="lexical")
        assert zero.key not in {hit.paper.key for hit in pasted}  # the same abstract is left out
    result = runner.invoke(
        cli, ["related", zero.key, "--index", str(seeded), "--json", "--mode", "dense"], obj={"embedder": fake_embedder}
    )
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["score_kind"] == "cosine"
